"""Midjourney through CometAPI's midjourney-proxy routes (docs/protocols/midjourney.md).

A job is a chain of steps, each one paid task and one image file:

- ``imagine`` submits the prompt and yields the 2x2 grid (image 1);
- ``upscale:K``, for each K of the job's ``upscale`` list, presses the grid's ``U{K}``
  button and yields that cell as a single image (images 2, 3, ...).

Every step is one task: the request loop (:mod:`batch_gen.runner.tasks`) submits it,
records its id before the first poll of ``GET /mj/task/{id}/fetch``, and polls a task
already recorded (an earlier try, or a run that was killed) instead of paying again. The
imagine task stays recorded after the grid is saved: an upscale's :meth:`Midjourney.prepare`
names it, so the loop fetches the grid (in a rate-limit slot of its own) and the action
presses the button of that fresh fetch, because customIds change on every read.

Polls go in bulk: the spec declares ``bulk_poll``, so the run polls every waiting task
through ``POST /mj/task/list-by-condition``, up to :data:`BULK_POLL_IDS` ids a call, and
fetches a task singly only when the bulk answers leave it out for a while (which also
tells a lost task) or when the gateway refuses the bulk route (see
:func:`.midjourney_answers.read_list`). The pre-action fetch is always single and fresh.

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
``task_no_found``          the task is lost: forgotten; BadResponseError
                           (retryable; the new task is a possibly billed retry)
other statuses             still running: poll again
=========================  =====================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import msgspec
import pybase64

from ..checks import FieldRule, describe, is_int
from ..errors import (
    BadResponseError,
    InvalidRequestError,
)
from ..models import InputFile, Job
from .base import (
    Answer,
    ApiRequest,
    ApiSpec,
    BulkPoll,
    Call,
    Ended,
    Poll,
    Ready,
    Submitted,
)
from .midjourney_answers import read_fetch, read_list, submit_task_id

IMAGINE = "imagine"
_UPSCALE = "upscale:"

# Params sent in the imagine body as they are. Midjourney's own knobs are prompt flags, and
# the other request fields (quality, output_format...) belong to other APIs: not sent.
_BODY_PARAMS = ("accountFilter", "state", "botType")
_SIZE = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")
_HAS_ASPECT = re.compile(r"(?:^|\s)--(?:ar|aspect)\b")
# Ids per list-by-condition call: none is documented; 100 is what docs/protocols/midjourney.md
# calls safe.
BULK_POLL_IDS = 100


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


_SEED_FLAG = re.compile(r"(?:^|\s)--seed\s+\S+")


def with_seed(job: Job, seed: int) -> Job:
    """``job`` with ``--seed <seed>`` at the end of its prompt, in place of any ``--seed``
    the prompt had (the imagine reads its flags from the prompt); its key unchanged."""
    prompt = _SEED_FLAG.sub("", job.prompt).rstrip()
    return msgspec.structs.replace(job, prompt=f"{prompt} --seed {seed}")


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


# --- the provider ----------------------------------------------------------------------


def upscale_positions(value: Any) -> str | None:
    """The ``upscale`` field: different grid positions from 1 to 4."""
    if (
        isinstance(value, list)
        and value
        and all(is_int(item) and 1 <= item <= 4 for item in value)
        and len(set(value)) == len(value)
    ):
        return None
    shown = repr(value) if isinstance(value, list) else describe(value)
    return f"must be a list of different grid positions from 1 to 4, got {shown}"


def claims_model(model: str) -> bool:
    """Midjourney ids: ``mj*``, ``midjourney*``, ``niji*``."""
    return model.lower().startswith(("mj", "midjourney", "niji"))


def request_count(job: Job, images: int) -> int:
    """One task per step still missing (the grid, then each upscale)."""
    return max(0, min(images, len(steps_for(job))))


def image_count(request: Mapping[str, Any]) -> int:
    """The grid, then one image per upscale."""
    return 1 + len(request.get("upscale") or ())


def checks(request: Mapping[str, Any], images: int) -> list[tuple[str, str]]:
    """One grid per job: more images come from ``upscale``."""
    del images
    if request.get("n", 1) != 1:
        return [("n", "Midjourney makes one grid per job; use upscale: [1, 2, ...]")]
    return []


def priced_as(model: str, step: str) -> str:
    """An upscale pays the catalog's upscale price of the same speed (``mj_fast_upscale``),
    the imagine the job's model."""
    if upscale_index(step) is None:
        return model
    speed = speed_prefix(model).removeprefix("/mj-") or "fast"
    return f"mj_{speed}_upscale"


SPEC = ApiSpec(
    api="midjourney",
    endpoint="/mj/submit/imagine",
    title="Midjourney",
    manifest_name="midjourney",
    claims_model=claims_model,
    fields={"upscale": FieldRule(upscale_positions, csv_list="int")},
    max_inputs=5,  # docs/protocols/midjourney.md: base64Array of up to 5 images
    tasks=True,
    bulk_poll=BULK_POLL_IDS,
    request_count=request_count,
    image_count=image_count,
    checks=checks,
    priced_as=priced_as,
    reseed=with_seed,  # docs/protocols/midjourney.md: --seed in the prompt
)


class Midjourney:
    """The midjourney-proxy routes: a grid, then one upscale per requested cell."""

    spec = SPEC

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
                # when sending; the request carries the grid position and, once prepared,
                # the grid's task id.
                requests.append(
                    ApiRequest(f"{prefix}/mj/submit/action", {"index": index}, 1, step=step)
                )
        return requests

    def prepare(self, request: ApiRequest, tasks: Mapping[str, str]) -> str | None:
        """An upscale first fetches its grid: the buttons' customIds change on every read."""
        if upscale_index(request.step) is None:
            return None
        grid_id = tasks.get(IMAGINE)
        if grid_id is None:
            raise InvalidRequestError(
                f"cannot run {request.step!r}: no grid task is recorded for this job; the"
                " imagine step must succeed first"
            )
        return grid_id

    def build_call(
        self, request: ApiRequest, inputs: Sequence[bytes], prepared: Poll | None
    ) -> Call:
        """The imagine (input images as data URIs in ``base64Array``), or the action that
        presses ``U{K}`` on the grid ``prepared`` read."""
        index = upscale_index(request.step)
        if index is None:
            body = dict(request.body)
            if inputs:
                body["base64Array"] = data_uris(request.files, inputs)
            return Call("POST", request.endpoint, "Midjourney imagine", json=body)
        return Call(
            "POST", request.endpoint, f"Midjourney U{index}", json=press_upscale(index, prepared)
        )

    def read_answer(self, answer: Answer, request: ApiRequest, *, secret: str | None) -> Submitted:
        index = upscale_index(request.step)
        what = "Midjourney imagine" if index is None else f"Midjourney U{index}"
        return Submitted(submit_task_id(answer, secret=secret, what=what))

    def poll_call(self, task_id: str) -> Call:
        path = f"/mj/task/{quote(task_id, safe='')}/fetch"
        return Call("GET", path, f"Midjourney task {task_id}")

    def read_poll(self, answer: Answer, task_id: str, *, secret: str | None) -> Poll:
        return read_fetch(answer, task_id, secret=secret)

    def bulk_poll_call(self, task_ids: Sequence[str]) -> Call:
        """Every task of ``task_ids`` in one ``POST /mj/task/list-by-condition``."""
        body = {"ids": list(task_ids)}
        return Call("POST", "/mj/task/list-by-condition", "Midjourney task list", json=body)

    def read_bulk_poll(
        self, answer: Answer, task_ids: Sequence[str], *, secret: str | None
    ) -> BulkPoll | None:
        return read_list(answer, task_ids, secret=secret)


def press_upscale(index: int, grid: Poll | None) -> dict[str, Any]:
    """The action body pressing the grid's ``U{index}``, from a fresh fetch of the grid.

    Raises InvalidRequestError when the grid can no longer be used (the grid file is saved,
    so only a fresh start of the job can make a new one), BadResponseError (retryable) when
    it is unfinished or shows no such button.
    """
    if isinstance(grid, Ended):
        raise InvalidRequestError(
            f"cannot upscale cell {index}: the grid's task can no longer be used"
            f" ({grid.error.message}); run the job again with --force for a new grid"
        )
    if not isinstance(grid, Ready):
        raise BadResponseError(f"cannot upscale cell {index}: the grid is unfinished")
    grid_id = str(grid.generation.request_id)
    custom_id = upscale_custom_id(grid.task, index)
    if custom_id is None:
        raise BadResponseError(f"the grid of task {grid_id} shows no U{index} button")
    return action_body(grid_id, custom_id)


def data_uris(files: Sequence[InputFile], contents: Sequence[bytes]) -> list[str]:
    """The input images as ``data:`` URIs for ``base64Array``."""
    return [
        f"data:image/{item.format};base64,{pybase64.b64encode(data).decode()}"
        for item, data in zip(files, contents, strict=True)
    ]
