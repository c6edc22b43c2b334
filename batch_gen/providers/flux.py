"""Flux (Black Forest Labs) through CometAPI: submit, then poll by id (docs/protocols/flux.md).

Each task makes one image, so a job of ``n`` images is ``n`` steps (``submit`` when n is 1,
else ``submit:1`` ... ``submit:n``), each with its own recorded task. The request loop
(:mod:`batch_gen.runner.tasks`) submits ``POST /flux/v1/{model}``, records the task id
before the first poll, then polls ``GET /flux/v1/get_result?id=<id>`` on CometAPI (never
the answer's ``polling_url``, which may point at BFL itself); a step whose task is
already recorded is polled instead of paying again. The task stays recorded after success: a run
that dies before the image is saved finds the same sample again, and a sample that
expired reads as ``Task not found``, which starts a new task.

Request building is pure. The body is the prompt and the job's fields, except:

- ``size`` ``WxH`` becomes ``width``/``height`` rounded to the nearest multiple of 32
  (Flux refuses other sides with a 422; rounding moves a side by 16 px at most, and the
  saved file records the size made). Models that take a ratio instead (``*ultra*``,
  ``*kontext*``) get ``aspect_ratio`` ``w:h``. Explicit ``params`` (width, height,
  aspect_ratio) win. A ``size`` that is not ``WxH`` is not sent.
- ``output_format`` is sent when it is ``jpeg`` or ``png``, the only two Flux makes; a
  manifest-wide ``webp`` is dropped rather than failing every Flux job (Flux then makes
  its default, jpeg, and the file is named from the bytes).
- fields of other APIs (``n``, ``quality``, ``background``, ...) are not sent; Flux's own
  (``seed``, ``steps``, ``guidance``, ``safety_tolerance``, ``prompt_upsampling``, ``raw``,
  ...) pass through from ``params``.
- an input image goes inline as base64 in the field the model family reads
  (``input_image`` for Kontext and Flux 2, ``image`` for fill, ``control_image`` for
  canny/depth, ``image_prompt`` otherwise), read when sending.

How a task ends (see :func:`read_result`):

===================================  =================================================
``Ready``                            the image is ``result.sample``, a signed link that
                                     expires in ~10 min: the runner fetches it at once
``Pending``, unknown statuses        poll again
``Error``                            task forgotten; ServerError (retryable)
``Request/Content Moderated``        task forgotten; ContentPolicyError with ``details``
``Task not found``                   the task is lost: forgotten; BadResponseError
                                     (retryable: a later try submits again, and that
                                     new task is a possibly billed retry)
===================================  =================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote

import msgspec
import pybase64

from ..errors import (
    BadResponseError,
    ContentPolicyError,
    QuotaExhaustedError,
    ServerError,
)
from ..models import Job
from .answers import error_from_response, json_object, parse_error_body, redact
from .base import (
    Answer,
    ApiRequest,
    ApiSpec,
    Call,
    Ended,
    Generation,
    NothingToPrepare,
    Poll,
    Ready,
    ReturnedImage,
    Running,
    Submitted,
    seed_field,
)
from .fields import OPENAI_ONLY, STEERING

SUBMIT = "submit"
RESULT_PATH = "/flux/v1/get_result"

# Request fields that belong to other APIs (or are handled here), never sent as they are.
_NOT_SENT = OPENAI_ONLY | STEERING
_FORMATS = frozenset({"jpeg", "png"})
_SIZE = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")
_SIDE_STEP = 32
_MODERATED = frozenset({"Request Moderated", "Content Moderated"})


# --- pure request building -------------------------------------------------------------


def takes_ratio(model: str) -> bool:
    """Whether the model sizes by ``aspect_ratio`` (Ultra, Kontext) instead of pixels."""
    name = model.lower()
    return "ultra" in name or "kontext" in name


def image_field(model: str) -> str:
    """The body field that carries an input image for this model."""
    name = model.lower()
    if "kontext" in name or name.startswith("flux-2"):
        return "input_image"
    if name.endswith("-fill"):
        return "image"
    if name.endswith(("-canny", "-depth")):
        return "control_image"
    return "image_prompt"


def round_side(pixels: int) -> int:
    """The nearest multiple of 32 (halves round up), at least 32."""
    return max(_SIDE_STEP, (pixels + _SIDE_STEP // 2) // _SIDE_STEP * _SIDE_STEP)


def size_fields(model: str, size: Any) -> dict[str, Any]:
    """``width``/``height`` (or ``aspect_ratio``) from a ``WxH`` size; {} for other sizes."""
    match = _SIZE.fullmatch(size) if isinstance(size, str) else None
    if match is None:
        return {}
    width, height = int(match[1]), int(match[2])
    if not width or not height:
        return {}
    if takes_ratio(model):
        divisor = math.gcd(width, height)
        return {"aspect_ratio": f"{width // divisor}:{height // divisor}"}
    return {"width": round_side(width), "height": round_side(height)}


def request_body(job: Job) -> dict[str, Any]:
    """The submit body for one image of ``job``, without the input image (see the module
    docstring for the field policy)."""
    body: dict[str, Any] = {"prompt": job.prompt}
    body.update(size_fields(job.model, job.request.get("size")))
    output_format = job.request.get("output_format")
    if output_format in _FORMATS:
        body["output_format"] = output_format
    for name, value in job.request.items():
        if name not in _NOT_SENT and value is not None:
            body[name] = value  # params win over what size gave
    return body


def submit_path(model: str) -> str:
    """``/flux/v1/{model}``."""
    return f"/flux/v1/{quote(model, safe='')}"


def step_name(number: int, count: int) -> str:
    """``submit`` for a one-image job, else ``submit:{number}`` (1-based)."""
    return SUBMIT if count == 1 else f"{SUBMIT}:{number}"


# --- pure answer reading ---------------------------------------------------------------


def submit_task_id(answer: Answer, *, secret: str | None) -> str:
    """The task id of a submit answer ``{"id", "polling_url"}``, or raise its error.

    402 (BFL: no credits left) aborts the run like any exhausted quota. A 200 that cannot
    be read may still have started (and billed) a task: ambiguous.
    """
    status, body = answer.status, answer.body
    if status == 402:
        message, _, code = parse_error_body(body)
        raise QuotaExhaustedError(redact(message, secret), status=status, code=code)
    if status != 200:
        raise error_from_response(status, answer.headers, body, secret=secret)
    document = json_object(body)
    task_id = document.get("id") if document is not None else None
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        task_id = str(task_id)
    if not isinstance(task_id, str) or not task_id:
        raise BadResponseError("Flux submit: the answer carries no task id", ambiguous=True)
    return task_id


def read_result(document: Mapping[str, Any], task_id: str) -> Poll:
    """Classify one ``get_result`` document (see the module table). Raises
    BadResponseError (the task kept, polled again on retry) if Ready has no sample."""
    status = str(document.get("status") or "")
    if status == "Ready":
        result = document.get("result")
        sample = result.get("sample") if isinstance(result, Mapping) else None
        if not isinstance(sample, str) or not sample:
            raise BadResponseError(f"Flux task {task_id} is Ready without result.sample")
        assert isinstance(result, Mapping)
        kept = {name: result[name] for name in ("seed", "duration") if name in result}
        generation = Generation(
            images=(ReturnedImage(url=sample),),
            request_id=task_id,
            extra=kept,
        )
        return Ready(generation, document)
    if status in _MODERATED:
        shown = _details(document.get("details"))
        return Ended(ContentPolicyError(f"Flux task {task_id}: {status}{shown}", code=status))
    if status == "Error":
        shown = _details(document.get("details"))
        return Ended(ServerError(f"Flux task {task_id} ended in Error{shown}"))
    if status == "Task not found":
        return Ended(
            BadResponseError(
                f"Flux task {task_id} expired or is unknown; a later try submits again",
                code=status,
            ),
            lost=True,
        )
    return Running(document)  # Pending, and statuses unknown to us: the task may still finish


def _details(details: Any) -> str:
    """``": <details>"`` for a message (JSON for objects), or "" when there are none."""
    if not details:
        return ""
    if isinstance(details, str):
        return f": {details}"
    try:
        return f": {msgspec.json.encode(details).decode()}"
    except (TypeError, msgspec.EncodeError):
        return f": {details!r}"


def read_poll(answer: Answer, task_id: str, *, secret: str | None) -> Poll:
    """Classify a ``get_result`` answer: a non-200 is the error it stands for."""
    body = answer.body
    if answer.status != 200:
        raise error_from_response(answer.status, answer.headers, body, secret=secret)
    document = json_object(body)
    if document is None or "status" not in document:
        # Not a result (an error envelope in a 200?): retry rather than poll it until the
        # task deadline. The task stays recorded.
        shown = redact(body[:200].decode("utf-8", "replace"), secret)
        raise BadResponseError(f"Flux task {task_id}: no status in the answer: {shown}")
    return read_result(document, task_id)


# --- the provider ----------------------------------------------------------------------


def claims_model(model: str) -> bool:
    """Flux models: ``flux*``."""
    return model.lower().startswith("flux")


def request_count(job: Job, images: int) -> int:
    """One task per image."""
    del job
    return max(images, 0)


SPEC = ApiSpec(
    api="flux",
    endpoint="/flux/v1/{model}",
    title="Flux",
    manifest_name="flux",
    claims_model=claims_model,
    max_inputs=1,  # docs/protocols/flux.md: one input image per model family field
    tasks=True,
    request_count=request_count,
    reseed=seed_field,  # docs/protocols/flux.md
)


class Flux(NothingToPrepare):
    """``/flux/v1/{model}``: one task per image."""

    spec = SPEC

    def requests_for(self, job: Job, images: int) -> list[ApiRequest]:
        """One request per missing image, for the last ``images`` image numbers (each a
        step of its own, so each has its own recorded task)."""
        if images <= 0:
            return []
        count = job.n
        first = max(count - images, 0) + 1
        body = request_body(job)
        path = submit_path(job.model)
        return [
            ApiRequest(path, body, 1, files=job.inputs, step=step_name(number, count))
            for number in range(first, first + images)
        ]

    def build_call(
        self, request: ApiRequest, inputs: Sequence[bytes], prepared: Poll | None
    ) -> Call:
        """The submit; an input image goes inline as base64 in the model's field."""
        del prepared
        body = dict(request.body)
        if inputs:
            model = unquote(request.endpoint.rsplit("/", 1)[-1])
            body[image_field(model)] = pybase64.b64encode(inputs[0]).decode()
        return Call("POST", request.endpoint, "Flux submit", json=body)

    def read_answer(self, answer: Answer, request: ApiRequest, *, secret: str | None) -> Submitted:
        return Submitted(submit_task_id(answer, secret=secret))

    def poll_call(self, task_id: str) -> Call:
        """``get_result`` on CometAPI, never the answer's ``polling_url`` (it may point at
        BFL itself, which knows neither our key nor the gateway's tasks)."""
        return Call("GET", f"{RESULT_PATH}?id={quote(task_id, safe='')}", f"Flux task {task_id}")

    def read_poll(self, answer: Answer, task_id: str, *, secret: str | None) -> Poll:
        return read_poll(answer, task_id, secret=secret)
