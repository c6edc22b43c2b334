"""Midjourney through CometAPI's midjourney-proxy routes (PROTOCOLS.md §4).

A job is a chain of steps, each one paid task and one image file:

- ``imagine`` submits the prompt and yields the 2x2 grid (image 1);
- ``upscale:K``, for each K of the job's ``upscale`` list, presses the grid's ``U{K}``
  button and yields that cell as a single image (images 2, 3, ...).

Every step submits, records its task id through :class:`~.base.TaskHooks` before the first
poll, then polls ``GET /mj/task/{id}/fetch``. A step whose task is already recorded (an
earlier try, or a run that was killed) polls that task instead of paying again. The
imagine task stays recorded after the grid is saved: the upscales need its id, and the
grid's buttons are read from a fresh fetch each time, because their customIds change on
every read.

Request building is pure:

- the model id picks the speed (``turbo``/``relax``/``fast`` in the id → path prefix
  ``/mj-turbo``, ``/mj-relax``, ``/mj-fast``; otherwise the account default ``/mj``) and
  the bot (``niji*`` → ``NIJI_JOURNEY``);
- Midjourney takes its parameters inside the prompt, so a ``size`` of ``WxH`` becomes
  ``--ar w:h`` (reduced) unless the prompt already sets ``--ar``/``--aspect``; any other
  ``size`` ("auto", "1K") is ignored, and so are fields meant for other APIs (quality,
  output_format, ...). ``params`` may add ``accountFilter``, ``state`` or ``botType``.

How answers end (see :func:`submit_task_id` and :func:`read_task`):

=========================  =====================================================
submit code 1, 21, 22      a task: 21 "already exists" and 22 "queued" included
submit code 23 (or 30)     RateLimitError: the account's queue is full, back off
submit code 24             ContentPolicyError: banned prompt (permanent)
submit code 3, 4 / 400     InvalidRequestError (permanent)
other submit codes         ServerError (retryable)
status SUCCESS             the image is ``imageUrl``
status FAILURE             task forgotten; a moderation-like ``failReason`` →
                           ContentPolicyError, an invalid-parameter one →
                           InvalidRequestError, anything else → ServerError
                           (retryable: the next try submits again)
status MODAL               task forgotten; InvalidRequestError: Midjourney wants
                           input through /mj/submit/modal, which a batch can't give
status CANCEL              task forgotten; ServerError (retryable)
``task_no_found``          task forgotten; BadResponseError (retryable)
other statuses             still running: poll again
=========================  =====================================================
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pybase64

from ..errors import (
    BadResponseError,
    ContentPolicyError,
    InvalidRequestError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from ..models import InputFile, Job
from .answers import error_from_response, json_object, redact
from .base import ApiRequest, Endpoint, Generation, ReturnedImage, TaskHooks
from .http import exchange

if TYPE_CHECKING:
    import aiohttp

IMAGINE = "imagine"
_UPSCALE = "upscale:"

# Params sent in the imagine body as they are. Midjourney's own knobs are prompt flags, and
# the other request fields (quality, output_format...) belong to other APIs: not sent.
_BODY_PARAMS = ("accountFilter", "state", "botType")
_SIZE = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")
_HAS_ASPECT = re.compile(r"(?:^|\s)--(?:ar|aspect)\b")
# failReason wording seen from Midjourney and proxies ("Banned prompt detected", "Request
# cancelled due to image filters", "Job action restricted"...) vs. a malformed flag.
_MODERATION = re.compile(
    r"banned|moderat|prohibit|blocked|filter|restricted|violat|nsfw|inappropriate|sensitive"
    r"|policy|敏感|违规",
    re.IGNORECASE,
)
_INVALID = re.compile(r"invalid (?:parameter|param|link|image)|unrecognized|参数", re.IGNORECASE)
_GONE = re.compile(r"task_no[t]?_found|task not found", re.IGNORECASE)
_TASK_ID_KEYS = ("taskId", "id", "task_id")


# --- pure request building -------------------------------------------------------------


def speed_prefix(model: str) -> str:
    """The path prefix of the speed the model id names: ``/mj-turbo``, ``/mj-relax``,
    ``/mj-fast``, or ``""`` for the account's default mode."""
    name = model.lower()
    for speed in ("turbo", "relax", "fast"):
        if speed in name:
            return f"/mj-{speed}"
    return ""


def bot_type(model: str) -> str:
    """``NIJI_JOURNEY`` for niji models, else ``MID_JOURNEY``."""
    return "NIJI_JOURNEY" if "niji" in model.lower() else "MID_JOURNEY"


def aspect_ratio(size: Any) -> str | None:
    """``"w:h"`` reduced from a ``WxH`` size (``"1792x1024"`` → ``"7:4"``), else None."""
    match = _SIZE.fullmatch(size) if isinstance(size, str) else None
    if match is None:
        return None
    width, height = int(match[1]), int(match[2])
    if not width or not height:
        return None
    divisor = math.gcd(width, height)
    return f"{width // divisor}:{height // divisor}"


def prompt_with_flags(prompt: str, size: Any) -> str:
    """The prompt with ``--ar`` from ``size`` appended, unless the prompt sets one itself."""
    ratio = aspect_ratio(size)
    if ratio is None or _HAS_ASPECT.search(prompt):
        return prompt
    return f"{prompt.rstrip()} --ar {ratio}"


def steps_for(job: Job) -> list[str]:
    """Every step of the job in image order: ``imagine``, then ``upscale:K`` per K."""
    upscale = job.request.get("upscale") or ()
    return [IMAGINE, *(f"{_UPSCALE}{index}" for index in upscale)]


def imagine_body(job: Job) -> dict[str, Any]:
    """The ``/mj/submit/imagine`` body, without the input images (added when sending)."""
    body: dict[str, Any] = {
        "prompt": prompt_with_flags(job.prompt, job.request.get("size")),
        "botType": bot_type(job.model),
    }
    for name in _BODY_PARAMS:
        value = job.request.get(name)
        if value is not None:
            body[name] = value
    return body


def action_body(task_id: str, custom_id: str) -> dict[str, Any]:
    """The ``/mj/submit/action`` body pressing button ``custom_id`` of task ``task_id``."""
    return {"taskId": task_id, "customId": custom_id}


def upscale_index(step: str) -> int | None:
    """K of an ``upscale:K`` step; None for any other step."""
    if not step.startswith(_UPSCALE):
        return None
    text = step.removeprefix(_UPSCALE)
    return int(text) if text.isdigit() else None


def upscale_custom_id(task: Mapping[str, Any], index: int) -> str | None:
    """The customId of the grid's ``U{index}`` button in this fetch of the task, if any.

    Matched by label, or by the ``::upsample::{index}::`` part of the customId when a proxy
    leaves labels empty. Never cache the answer: customIds change on every fetch.
    """
    buttons = task.get("buttons")
    if not isinstance(buttons, list):
        return None
    pattern = re.compile(rf"::upsample::{index}(?:::|$)")
    for button in buttons:
        if not isinstance(button, Mapping):
            continue
        custom_id = button.get("customId")
        if not isinstance(custom_id, str) or not custom_id:
            continue
        if button.get("label") == f"U{index}" or pattern.search(custom_id):
            return custom_id
    return None


# --- pure answer reading ---------------------------------------------------------------


def _code(document: Mapping[str, Any] | None) -> int | None:
    value = document.get("code") if document is not None else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _task_id(document: Mapping[str, Any]) -> str | None:
    """``result`` as a string (old proxies send a number), else an id in ``properties``."""
    result = document.get("result")
    if isinstance(result, int | str) and not isinstance(result, bool) and str(result).strip():
        return str(result).strip()
    properties = document.get("properties")
    if isinstance(properties, Mapping):
        for name in _TASK_ID_KEYS:
            value = properties.get(name)
            if isinstance(value, int | str) and not isinstance(value, bool) and str(value):
                return str(value)
    return None


def submit_task_id(
    status: int, headers: Mapping[str, str], body: bytes, *, secret: str | None, what: str
) -> str:
    """The task id an imagine or action answer carries, or raise the error it stands for.

    Branches on ``code``, never on the localized ``description`` (see the module table).
    A 200 that cannot be read may still have created (and billed) a task: ambiguous.
    """
    document = json_object(body)
    code = _code(document)
    description = redact(str((document or {}).get("description") or "").strip(), secret)
    message = f"{what} refused (code {code}): {description or '(no description)'}"
    if status != 200:
        # new-api wraps midjourney-proxy's codes in HTTP errors (400 code 4, 429 code 30).
        if code == 24:
            raise ContentPolicyError(message, status=status, code=str(code))
        raise error_from_response(status, headers, body, secret=secret)
    if document is None:
        raise BadResponseError(f"{what}: the answer is not a JSON object", ambiguous=True)
    if code in (1, 21, 22):
        task_id = _task_id(document)
        if task_id is None:
            raise BadResponseError(f"{what}: code {code} but no task id", ambiguous=True)
        return task_id
    # An HTTP 200 carries these refusals, so no status goes with them ("HTTP 200: ...").
    if code in (23, 30):
        raise RateLimitError(message, code=str(code))
    if code == 24:
        properties = document.get("properties")
        banned = properties.get("bannedWord") if isinstance(properties, Mapping) else None
        if banned:
            message += f" (banned word: {banned})"
        raise ContentPolicyError(message, code=str(code))
    if code in (3, 4):
        raise InvalidRequestError(message, code=str(code))
    # 5 / 9 (system failure) and codes this client does not know: nothing was created.
    raise ServerError(message, code=None if code is None else str(code))


@dataclass(frozen=True, slots=True)
class TaskView:
    """What one fetch says about a task.

    ``image_url`` is set once it succeeded; ``ended`` once it ended without an image (the
    task is then forgotten and ``ended`` raised); neither while it runs.
    """

    task: Mapping[str, Any] = field(default_factory=dict)
    image_url: str | None = None
    ended: ProviderError | None = None

    @property
    def running(self) -> bool:
        return self.image_url is None and self.ended is None


def failure_error(reason: str, task_id: str) -> ProviderError:
    """The error a FAILURE with ``failReason`` stands for (see the module table)."""
    message = f"Midjourney task {task_id} failed: {reason or '(no reason given)'}"
    if _MODERATION.search(reason):
        return ContentPolicyError(message)
    if _INVALID.search(reason):
        return InvalidRequestError(message)
    return ServerError(message)  # "Job failed to process", timeouts...: submit again


def read_task(task: Mapping[str, Any], task_id: str) -> TaskView:
    """Classify one fetched task; raise BadResponseError (the task kept) if it succeeded
    without an ``imageUrl``."""
    status = str(task.get("status") or "").upper()
    if status == "SUCCESS":
        url = task.get("imageUrl")
        if not isinstance(url, str) or not url:
            raise BadResponseError(f"Midjourney task {task_id} succeeded without an imageUrl")
        return TaskView(task, image_url=url)
    if status == "FAILURE":
        return TaskView(task, ended=failure_error(str(task.get("failReason") or ""), task_id))
    if status == "MODAL":
        return TaskView(
            task,
            ended=InvalidRequestError(
                f"Midjourney task {task_id} asks for more input (MODAL: a remix or region "
                "prompt through /mj/submit/modal), which a batch cannot give"
            ),
        )
    if status in ("CANCEL", "CANCELED", "CANCELLED"):
        return TaskView(task, ended=ServerError(f"Midjourney task {task_id} was cancelled"))
    return TaskView(task)  # NOT_START, SUBMITTED, IN_PROGRESS, and statuses unknown to us


def read_fetch(
    status: int, headers: Mapping[str, str], body: bytes, *, task_id: str, secret: str | None
) -> TaskView:
    """Classify a ``/mj/task/{id}/fetch`` answer (see :func:`read_task`).

    An unknown id (new-api: HTTP 400 ``{"code":4,"description":"task_no_found"}``) ends the
    task with a retryable BadResponseError: a later try submits again.
    """
    document = json_object(body)
    if document is not None and "status" not in document:
        description = str(document.get("description") or document.get("error") or "")
        if _GONE.search(description):
            return TaskView(
                document,
                ended=BadResponseError(
                    f"Midjourney task {task_id} is gone (task_no_found); a later try submits again",
                    status=status,
                    code="4",
                ),
            )
    if status != 200:
        raise error_from_response(status, headers, body, secret=secret)
    if document is None or "status" not in document:
        # Not a task (an error envelope in a 200?): retry rather than poll it until the
        # task deadline. The task stays recorded.
        shown = redact(body[:200].decode("utf-8", "replace"), secret)
        raise BadResponseError(f"Midjourney task {task_id}: not a task in the answer: {shown}")
    return read_task(document, task_id)


# --- the provider ----------------------------------------------------------------------


class Midjourney:
    """The midjourney-proxy routes: a grid, then one upscale per requested cell."""

    api = "midjourney"

    def requests_for(self, job: Job, images: int) -> list[ApiRequest]:
        """The last ``images`` steps of the job (images are made in step order, so the ones
        still missing are always the tail), one image each."""
        steps = steps_for(job)
        if images <= 0:
            return []
        prefix = speed_prefix(job.model)
        requests = []
        for step in steps[-images:]:
            index = upscale_index(step)
            if index is None:
                requests.append(
                    ApiRequest(
                        f"{prefix}/mj/submit/imagine",
                        imagine_body(job),
                        1,
                        files=job.inputs,
                        step=step,
                    )
                )
            else:
                # The action body needs the customId of the grid's latest fetch, known only
                # when sending; the request carries the grid position.
                requests.append(
                    ApiRequest(f"{prefix}/mj/submit/action", {"index": index}, 1, step=step)
                )
        return requests

    def request_count(self, job: Job, images: int) -> int:
        return max(0, min(images, len(steps_for(job))))

    async def send(
        self,
        session: aiohttp.ClientSession,
        endpoint: Endpoint,
        request: ApiRequest,
        *,
        hooks: TaskHooks,
    ) -> Generation:
        """Run one step: submit (unless its task is recorded), record, poll, return the
        image URL (``imageUrl``, a stable CometAPI link the runner fetches at once)."""
        step = request.step
        base = endpoint.base_url.rstrip("/")
        task_id = hooks.task(step)
        if task_id is None:
            if step == IMAGINE:
                body = dict(request.body)
                if request.files:
                    body["base64Array"] = await asyncio.to_thread(data_uris, request.files)
                task_id = await _submit(
                    session, endpoint, base + request.endpoint, body, what="Midjourney imagine"
                )
            else:
                task_id = await self._press_upscale(session, endpoint, request, hooks)
            hooks.record_task(step, task_id)  # durable before the first poll
        image_url = await _poll(session, endpoint, step, task_id, hooks)
        return Generation(
            images=(ReturnedImage(url=image_url),),
            request_id=task_id,
            extra={"task_id": task_id, "step": step},
        )

    async def _press_upscale(
        self,
        session: aiohttp.ClientSession,
        endpoint: Endpoint,
        request: ApiRequest,
        hooks: TaskHooks,
    ) -> str:
        """Submit the action pressing ``U{K}`` on the grid; its new task id."""
        step = request.step
        index = request.body.get("index", upscale_index(step))
        grid_id = hooks.task(IMAGINE)
        if grid_id is None or not isinstance(index, int):
            raise InvalidRequestError(
                f"cannot run {step!r}: no grid task is recorded for this job; the imagine step"
                " must succeed first"
            )
        grid = await _fetch(session, endpoint, grid_id)
        if grid.ended is not None:
            # The grid file is saved, so the plan will not ask for the imagine step again;
            # only a fresh start of the job can make a grid to upscale.
            raise InvalidRequestError(
                f"cannot upscale cell {index}: the grid's task {grid_id} can no longer be used"
                f" ({grid.ended.message}); run the job again with --force for a new grid"
            )
        if grid.image_url is None:
            raise BadResponseError(f"cannot upscale cell {index}: grid {grid_id} is unfinished")
        custom_id = upscale_custom_id(grid.task, index)
        if custom_id is None:
            raise BadResponseError(f"the grid of task {grid_id} shows no U{index} button")
        url = endpoint.base_url.rstrip("/") + request.endpoint
        return await _submit(
            session, endpoint, url, action_body(grid_id, custom_id), what=f"Midjourney U{index}"
        )


def data_uris(files: Sequence[InputFile]) -> list[str]:
    """The input images as ``data:`` URIs for ``base64Array`` (reads the files).

    Raises InvalidRequestError if a file can no longer be read: the job cannot be sent.
    """
    uris = []
    for item in files:
        try:
            data = item.path.read_bytes()
        except OSError as exc:
            raise InvalidRequestError(f"cannot read input image {item.path}: {exc}") from exc
        uris.append(f"data:image/{item.format};base64,{pybase64.b64encode(data).decode()}")
    return uris


# --- I/O -------------------------------------------------------------------------------


async def _submit(
    session: aiohttp.ClientSession,
    endpoint: Endpoint,
    url: str,
    body: Mapping[str, Any],
    *,
    what: str,
) -> str:
    status, headers, answer = await exchange(session, endpoint, "POST", url, json=body, what=what)
    return submit_task_id(status, headers, answer, secret=endpoint.api_key, what=what)


async def _fetch(session: aiohttp.ClientSession, endpoint: Endpoint, task_id: str) -> TaskView:
    url = f"{endpoint.base_url.rstrip('/')}/mj/task/{quote(task_id, safe='')}/fetch"
    try:
        status, headers, body = await exchange(
            session, endpoint, "GET", url, what=f"Midjourney task {task_id}"
        )
        return read_fetch(status, headers, body, task_id=task_id, secret=endpoint.api_key)
    except ProviderError as error:
        error.ambiguous = False  # a fetch is never billed: a lost answer costs nothing
        raise


async def _poll(
    session: aiohttp.ClientSession,
    endpoint: Endpoint,
    step: str,
    task_id: str,
    hooks: TaskHooks,
) -> str:
    """Poll until the task succeeds (its image URL) or ends (forgotten, then raised)."""
    polls = 0
    while True:
        polls += 1
        await hooks.before_poll(polls)
        view = await _fetch(session, endpoint, task_id)
        if view.ended is not None:
            hooks.record_task(step, None)  # a later try submits a new task
            raise view.ended
        if view.image_url is not None:
            return view.image_url
