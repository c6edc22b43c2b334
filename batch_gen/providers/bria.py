"""Bria through CometAPI (docs/protocols/bria.md): synchronous text-to-image, asynchronous edits.

- :class:`BriaTextToImage`: ``POST /bria/text-to-image`` answers at once with
  ``result[].urls[]``; the runner downloads each URL straight away.
- :class:`BriaEdit`: ``POST /bria/image/edit/{action}`` answers with a ``request_id``; the
  request loop (:mod:`batch_gen.runner.tasks`) records it before the first poll of
  ``GET /bria/{request_id}``, so that a retry or a later run polls the task already paid
  for instead of paying again.

Field policy, both routes: ``model``, ``n`` and the OpenAI-only fields (``quality``,
``output_format``, ``background``, ...) are not sent, as a manifest-wide default for the
OpenAI models must not break a Bria job; every other field and param passes through under
its own name (``seed``, ``medium``, ``negative_prompt``, ``canvas_size``, ...).
Text-to-image turns ``size`` into the closest ``aspect_ratio`` Bria offers (an explicit
``aspect_ratio`` param wins); edits ignore ``size``.

Edit bodies carry the input image, and the mask if any, as raw base64, read when sent and
checked against the hash in the job's key. The mask is sent as is: Bria edits where it is
white, unlike OpenAI, which edits where it is transparent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

import msgspec
import pybase64

from ..checks import FieldRule, one_of
from ..errors import (
    BadResponseError,
)
from ..models import InputFile, Job
from .base import (
    Answer,
    ApiRequest,
    ApiSpec,
    Call,
    Ended,
    Generation,
    NothingToPrepare,
    Poll,
    Submitted,
    Synchronous,
    seed_field,
)
from .bria_answers import bria_error, parse_results, parse_status
from .fields import OPENAI_ONLY, STEERING
from .sizes import closest_ratio, size_config

TEXT_TO_IMAGE = "/bria/text-to-image"
EDIT = "/bria/image/edit/{action}"
STATUS = "/bria/{request_id}"

ASPECT_RATIOS: Final = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9")
#: Bria makes 1 to 4 images per text-to-image call; more is several calls.
MAX_RESULTS: Final = 4
# The actions whose prompt Bria reads: required by gen_fill and replace_background,
# optional guidance for expand. The others would reject or ignore it.
PROMPT_ACTIONS: Final = frozenset({"gen_fill", "replace_background", "expand"})

_NOT_SENT: Final = OPENAI_ONLY | STEERING | {"prompt", "num_results"}


def _passed_through(request: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: value
        for name, value in request.items()
        if name not in _NOT_SENT and value is not None
    }


def aspect_ratio(request: Mapping[str, Any]) -> str | None:
    """The ``aspect_ratio`` to send: the param if given, else the closest to ``size``.

    A ``size`` that names no shape (``auto``, ``1K``) sends none: Bria's default is 1:1.
    """
    explicit = request.get("aspect_ratio")
    if isinstance(explicit, str) and explicit:
        return explicit
    size = request.get("size")
    if not isinstance(size, str):
        return None
    ratio = size_config(size).get("aspectRatio")
    if ratio is None or ratio in ASPECT_RATIOS:
        return ratio
    width, height = (int(side) for side in ratio.split(":"))
    return closest_ratio(width, height, ASPECT_RATIOS)  # 21:9 is not offered: 16:9


def text_to_image_body(job: Job, images: int) -> dict[str, Any]:
    """The body asking for ``images`` (at most :data:`MAX_RESULTS`) images of ``job``."""
    body: dict[str, Any] = {"prompt": job.prompt, "num_results": images}
    ratio = aspect_ratio(job.request)
    body.update(_passed_through(job.request))
    if ratio is not None:
        body["aspect_ratio"] = ratio
    # Bria's own API answers asynchronously with placeholder URLs unless asked to wait;
    # CometAPI waits anyway, so this only guards against a gateway that passes it through.
    body.setdefault("sync", True)
    return body


def edit_body(job: Job) -> dict[str, Any]:
    """The body of one edit of ``job``, without its image and mask (added when sent)."""
    action = str(job.request.get("action", ""))
    body: dict[str, Any] = {}
    if action in PROMPT_ACTIONS:
        body["prompt"] = job.prompt
    body.update(_passed_through(job.request))
    body["num_results"] = 1  # a finished task carries one image_url
    return body


def with_images(
    body: Mapping[str, Any], files: Sequence[InputFile], contents: Sequence[bytes]
) -> bytes:
    """The JSON bytes of an edit body with the image (and mask) as raw base64."""
    document = dict(body)
    for item, data in zip(files, contents, strict=True):
        document["mask" if item.role == "mask" else "image"] = pybase64.b64encode(data).decode()
    return msgspec.json.encode(document)


def edit_step(number: int) -> str:
    """The task step of the edit that makes image ``number`` of a job (1-based)."""
    return f"edit:{number}"


def claims_model(model: str) -> bool:
    """Bria's models: ``bria*``."""
    return model.lower().startswith("bria")


def text_to_image_count(job: Job, images: int) -> int:
    """``ceil(images / MAX_RESULTS)``: Bria makes up to four images a call."""
    del job
    return -(-max(images, 0) // MAX_RESULTS)


def edit_count(job: Job, images: int) -> int:
    """One task per image."""
    del job
    return max(images, 0)


#: The edit actions, each a path ``/bria/image/edit/{action}``.
ACTIONS: Final = (
    "erase",
    "gen_fill",
    "expand",
    "enhance",
    "increase_resolution",
    "replace_background",
)
_NEEDS_MASK: Final = frozenset({"erase", "gen_fill", "expand"})


def edit_checks(request: Mapping[str, Any], images: int) -> list[tuple[str, str]]:
    """An edit needs its input image, and a mask for the actions that paint into one."""
    problems = []
    action = request.get("action")
    if not images:
        problems.append(("image", f"the Bria action {action!r} needs an input image"))
    if action in _NEEDS_MASK and not request.get("mask"):
        problems.append(("mask", f"the Bria action {action!r} needs a mask"))
    return problems


SPEC = ApiSpec(
    api="bria",
    endpoint=TEXT_TO_IMAGE,
    title="Bria text-to-image",
    manifest_name="bria",
    claims_model=claims_model,
    switches={"action": "bria.edit"},
    request_count=text_to_image_count,
    reseed=seed_field,  # docs/protocols/bria.md: text-to-image takes a seed
)

EDIT_SPEC = ApiSpec(
    api="bria.edit",
    endpoint=EDIT,
    title="Bria edits",
    fields={"action": FieldRule(one_of(*ACTIONS))},
    max_inputs=1,
    takes_mask=True,
    tasks=True,
    request_count=edit_count,
    checks=edit_checks,
)


class BriaTextToImage(Synchronous):
    """Synchronous text-to-image: up to :data:`MAX_RESULTS` images per call."""

    spec = SPEC

    def requests_for(self, job: Job, images: int) -> list[ApiRequest]:
        """``ceil(images / MAX_RESULTS)`` requests, the last asking for the remainder."""
        requests = []
        while images > 0:
            count = min(images, MAX_RESULTS)
            requests.append(ApiRequest(TEXT_TO_IMAGE, text_to_image_body(job, count), count))
            images -= count
        return requests

    def build_call(
        self, request: ApiRequest, inputs: Sequence[bytes], prepared: Poll | None
    ) -> Call:
        del inputs, prepared
        return Call(
            "POST", request.endpoint, "Bria request", data=msgspec.json.encode(request.body)
        )

    def read_answer(self, answer: Answer, request: ApiRequest, *, secret: str | None) -> Generation:
        """Each URL of the answer is one image for the runner to fetch."""
        if answer.status != 200:
            raise bria_error(answer.status, answer.headers, answer.body, secret=secret)
        return parse_results(answer.body, answer.headers.get("x-request-id"))


class BriaEdit(NothingToPrepare):
    """Asynchronous edits: submit once, then poll ``GET /bria/{request_id}``."""

    spec = EDIT_SPEC

    def requests_for(self, job: Job, images: int) -> list[ApiRequest]:
        """One request per missing image, numbered after those already made, so that each
        has its own task step (``edit:2`` stays ``edit:2`` when image 1 is saved)."""
        action = quote(str(job.request.get("action", "")), safe="")
        first = job.n - images + 1
        return [
            ApiRequest(
                EDIT.format(action=action),
                edit_body(job),
                1,
                files=job.inputs,
                step=edit_step(first + offset),
            )
            for offset in range(max(images, 0))
        ]

    def build_call(
        self, request: ApiRequest, inputs: Sequence[bytes], prepared: Poll | None
    ) -> Call:
        del prepared
        payload = with_images(request.body, request.files, inputs)
        return Call("POST", request.endpoint, "Bria request", data=payload)

    def read_answer(self, answer: Answer, request: ApiRequest, *, secret: str | None) -> Submitted:
        """The ``request_id`` of an accepted edit (202 Accepted)."""
        if not 200 <= answer.status < 300:
            raise bria_error(answer.status, answer.headers, answer.body, secret=secret)
        try:
            document = msgspec.json.decode(answer.body)
        except (msgspec.DecodeError, UnicodeDecodeError):
            document = None
        task_id = document.get("request_id") if isinstance(document, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise BadResponseError(
                "Bria accepted the edit but named no request_id",
                status=answer.status,
                ambiguous=True,  # it may be running, and billed, under an id we never saw
            )
        return Submitted(task_id)

    def poll_call(self, task_id: str) -> Call:
        return Call("GET", STATUS.format(request_id=quote(task_id, safe="")), "Bria poll")

    def read_poll(self, answer: Answer, task_id: str, *, secret: str | None) -> Poll:
        """A 404 is a task unknown or expired (lost: paid for); other errors are what their
        status stands for; a 200 is read by :func:`parse_status`."""
        if answer.status == 404:
            return Ended(
                BadResponseError(
                    f"Bria task {task_id} is unknown or expired; the next try submits the"
                    " edit again",
                    status=404,
                ),
                lost=True,
            )
        if answer.status != 200:
            raise bria_error(answer.status, answer.headers, answer.body, secret=secret)
        return parse_status(answer.body, task_id)
