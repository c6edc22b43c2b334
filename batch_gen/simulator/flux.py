"""Flux (Black Forest Labs) through CometAPI: submit, then poll by id.

- ``POST /flux/v1/{model}`` → 200 ``{"id","polling_url"}``. ``polling_url`` points at BFL's
  host (here an unresolvable ``.invalid`` one): clients must poll CometAPI instead.
  Models: ``flux-pro-1.1``, ``flux-pro``, ``flux-dev``, ``flux-2-{pro,flex,max}`` take
  ``width``/``height`` (multiples of 32; 256..1440, flux-2 up to 2048; default 1024x768);
  ``flux-pro-1.1-ultra`` and ``flux-kontext-{pro,max}`` take ``aspect_ratio`` (long side
  ``max_image_side``); ``flux-pro-1.0-fill`` needs ``image`` (optional ``mask``) and keeps
  its size; ``flux-pro-1.0-{canny,depth}`` need ``control_image``. Images are base64 (or
  http URLs, not fetched) and sniffed. ``output_format`` ``jpeg`` (default) or ``png``.
  Invalid fields → **422** in the CometAPI envelope (BFL's validation status, wrapped);
  an unknown model → 503 ``model_not_found``.
- ``GET /flux/v1/get_result?id=<id>`` → always HTTP 200 with ``{"id","status","result",
  "progress","details","preview"}``: ``Pending`` (``progress`` 0..1) for
  ``flux_task_seconds``, then ``Ready`` with ``result.sample`` (plus ``seed``, ``prompt``,
  ``start_time``, ``end_time``, ``duration``), or ``Error`` (prompt contains
  ``flux_error_word``), ``Content Moderated`` (``flux_moderate_word``) — both with
  ``result: null`` and ``details``. A prompt with the trigger word is ``Request Moderated``
  from the first poll. After ``task_ttl`` seconds from submit, or for an id never issued:
  ``Task not found``. A missing ``id`` → 422.
- ``GET /flux/delivery/{id}/sample.{jpeg|png}?se=…&sig=…`` (no auth, like BFL's CDN) →
  the image, until ``flux_sample_ttl`` seconds after the task became Ready; then 404. The
  query string is part of the link (a signature): a link cut at ``&`` or ``?`` is a 404.

Billing: every submit that returns an id is billed once (moderation happens on BFL's side
after the id was issued); polls are counted, never billed.
"""

from __future__ import annotations

import random
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.common import (
    NOT_AN_IMAGE,
    Call,
    CometError,
    ErrorStyle,
    admit_json,
    api_route,
    contains_word,
    decode_base64_image,
    image_header,
    size_for_ratio,
    sniff_image,
)
from batch_gen.simulator.config import Fault
from batch_gen.simulator.images import ImageFormat, ImageSpec, variant_for
from batch_gen.simulator.state import STATE_KEY, TaskStats, TaskStore, UploadStats


class _Kind(Enum):
    SIZED = "sized"
    RATIO = "ratio"
    FILL = "fill"
    CONTROL = "control"


MODELS: Final[Mapping[str, _Kind]] = {
    "flux-pro-1.1-ultra": _Kind.RATIO,
    "flux-pro-1.1": _Kind.SIZED,
    "flux-pro": _Kind.SIZED,
    "flux-dev": _Kind.SIZED,
    "flux-pro-1.0-fill": _Kind.FILL,
    "flux-pro-1.0-canny": _Kind.CONTROL,
    "flux-pro-1.0-depth": _Kind.CONTROL,
    "flux-kontext-pro": _Kind.RATIO,
    "flux-kontext-max": _Kind.RATIO,
    "flux-2-pro": _Kind.SIZED,
    "flux-2-flex": _Kind.SIZED,
    "flux-2-max": _Kind.SIZED,
}
_POLLING_HOST: Final = "https://api.us1.bfl.invalid"
_BLOB_NOT_FOUND: Final = (
    '<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code>'
    "<Message>The specified blob does not exist.</Message></Error>"
)
# Image fields per model kind: (field, required).
_IMAGE_FIELDS: Final[Mapping[_Kind, tuple[tuple[str, bool], ...]]] = {
    _Kind.SIZED: (("image_prompt", False), ("input_image", False)),
    _Kind.RATIO: (("image_prompt", False), ("input_image", False)),
    _Kind.FILL: (("image", True),),
    _Kind.CONTROL: (("control_image", True),),
}


class _Outcome(Enum):
    READY = "Ready"
    ERROR = "Error"
    REQUEST_MODERATED = "Request Moderated"
    CONTENT_MODERATED = "Content Moderated"


@dataclass(slots=True, eq=False)
class FluxTask:
    """One submitted generation."""

    id: str
    model: str
    prompt: str
    submitted_at: float
    submit_wall: float
    duration: float
    outcome: _Outcome
    width: int
    height: int
    format: ImageFormat
    seed: int
    variant: int
    corrupt: bool
    signature: str

    @property
    def ready_at(self) -> float:
        """Clock time at which the task leaves Pending."""
        return self.submitted_at + self.duration


class FluxStore(TaskStore[FluxTask]):
    """The Flux tasks of one app."""


FLUX_TASKS: Final = web.AppKey("batch_gen.simulator.flux_tasks", FluxStore)


def _invalid(field: str, message: str) -> CometError:
    return CometError(422, f"{field}: {message}", param=field, code="invalid_value")


def _int(body: Mapping[str, Any], name: str, *, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(name, "Input should be a valid integer")
    if not low <= value <= high:
        raise _invalid(name, f"Input should be between {low} and {high}")
    return value


def _size(body: Mapping[str, Any], kind: _Kind, model: str, max_side: int) -> tuple[int, int]:
    if kind is _Kind.RATIO:
        ratio = body.get("aspect_ratio", "16:9" if model.endswith("ultra") else "1:1")
        size = size_for_ratio(ratio, max_side) if isinstance(ratio, str) else None
        if size is None or not _ratio_within(ratio, 21 / 9):
            raise _invalid("aspect_ratio", "Aspect ratio must be between 21:9 and 9:21")
        return size
    high = 2048 if model.startswith("flux-2") else 1440
    width = _int(body, "width", low=256, high=high) or 1024
    height = _int(body, "height", low=256, high=high) or 768
    for name, value in (("width", width), ("height", height)):
        if value % 32:
            raise _invalid(name, "Input should be a multiple of 32")
    return width, height


def _ratio_within(ratio: str, limit: float) -> bool:
    left, _, right = ratio.partition(":")
    width, height = int(left), int(right)
    return max(width, height) <= limit * min(width, height) + 1e-9


def _images(body: Mapping[str, Any], kind: _Kind) -> list[tuple[str, bytes | None]]:
    """The request's input images (field, decoded bytes or None for a URL)."""
    found: list[tuple[str, bytes | None]] = []
    for name, required in _IMAGE_FIELDS[kind]:
        value = body.get(name)
        if value in (None, ""):
            if required:
                raise _invalid(name, "Field required")
            continue
        if not isinstance(value, str):
            raise _invalid(name, "Input should be a valid string")
        if value.startswith(("http://", "https://")):
            found.append((name, None))
            continue
        data = decode_base64_image(value)
        if data is None or sniff_image(data) is None or image_header(data) is None:
            raise _invalid(name, "Invalid image: could not decode base64 image data")
        found.append((name, data))
    return found


@api_route
async def _submit(call: Call) -> web.StreamResponse:
    model = call.request.match_info["model"]
    body = await admit_json(call)
    prompt = body.get("prompt")
    kind = MODELS.get(model)
    if kind is None:
        raise CometError(
            503,
            f"No available channel for model {model} under group default",
            type="comet_api_error",
            code="model_not_found",
        )
    if prompt is None and kind is _Kind.FILL:
        prompt = ""
    if not isinstance(prompt, str) or (not prompt.strip() and kind is not _Kind.FILL):
        raise _invalid("prompt", "Field required")
    images = _images(body, kind)
    mask = body.get("mask") if kind is _Kind.FILL else None
    if prompt and (images or mask):
        call.stats.uploads[prompt] = UploadStats(
            images=len(images),
            mask=bool(mask),
            parts=tuple(name for name, _ in images),
            formats=tuple(
                "url" if data is None else (fmt.value if (fmt := sniff_image(data)) else "unknown")
                for _, data in images
            ),
        )
    output_format = body.get("output_format", "jpeg")
    if output_format not in ("jpeg", "png"):
        raise _invalid("output_format", "Input should be 'jpeg' or 'png'")
    _int(body, "safety_tolerance", low=0, high=6)
    _int(body, "steps", low=1, high=50)
    seed = _int(body, "seed", low=0, high=2**32 - 1)
    config = call.config
    if kind is _Kind.FILL and (data := images[0][1]) is not None:
        header = image_header(data)
        assert header is not None  # _images checked it
        size = (header[0], header[1])
    else:
        size = _size(body, kind, model, config.max_image_side)

    fault = await call.upstream(prompt, billed=1, style=ErrorStyle.COMET)
    if call.triggered(prompt):
        outcome = _Outcome.REQUEST_MODERATED
    elif contains_word(prompt, config.flux_moderate_word):
        outcome = _Outcome.CONTENT_MODERATED
    elif contains_word(prompt, config.flux_error_word):
        outcome = _Outcome.ERROR
    else:
        outcome = _Outcome.READY
    task = FluxTask(
        id=str(uuid.uuid4()),
        model=model,
        prompt=prompt,
        submitted_at=call.state.clock(),
        submit_wall=time.time(),
        duration=config.flux_task_seconds,
        outcome=outcome,
        width=size[0],
        height=size[1],
        format=ImageFormat(output_format),
        seed=seed if seed is not None else random.Random(prompt).randrange(2**32),
        variant=variant_for(prompt, config.image_variants),
        corrupt=fault is Fault.BAD_B64,
        signature=secrets.token_urlsafe(24),
    )
    call.request.app[FLUX_TASKS].tasks[task.id] = task
    call.stats._submitted(task.id, TaskStats("flux", prompt, model))
    answer = {"id": task.id, "polling_url": f"{_POLLING_HOST}/v1/get_result?id={task.id}"}
    return await call.reply(answer, fault=fault)


def _sample_url(call: Call, task: FluxTask) -> str:
    expiry = int(task.submit_wall + task.duration + call.config.flux_sample_ttl)
    extension = task.format.value
    return (
        f"{call.origin}/flux/delivery/{task.id}/sample.{extension}"
        f"?se={expiry}&sp=r&sv=2024-11-04&sig={task.signature}"
    )


@api_route
async def _get_result(call: Call) -> web.StreamResponse:
    call.authorize()
    task_id = call.request.query.get("id", "")
    if not task_id:
        raise _invalid("id", "Field required")
    call.stats._polled(task_id)
    now = call.state.clock()
    task = call.request.app[FLUX_TASKS].live(task_id, now=now, ttl=call.config.task_ttl)
    answer: dict[str, Any] = {
        "id": task_id,
        "status": "Task not found",
        "result": None,
        "progress": None,
        "details": None,
        "preview": None,
    }
    if task is None:
        return await call.reply(answer)
    if task.outcome is _Outcome.REQUEST_MODERATED:
        answer["status"] = task.outcome.value
        answer["details"] = {"Moderation Reasons": ["Derivative Works"]}
    elif now < task.ready_at:
        answer["status"] = "Pending"
        answer["progress"] = round((now - task.submitted_at) / task.duration, 2)
    elif task.outcome is _Outcome.READY:
        answer["status"] = task.outcome.value
        start = task.submit_wall + 0.1 * task.duration
        end = task.submit_wall + task.duration
        answer["result"] = {
            "sample": _sample_url(call, task),
            "prompt": task.prompt,
            "seed": task.seed,
            "start_time": round(start, 3),
            "end_time": round(end, 3),
            "duration": round(end - start, 3),
        }
    else:
        answer["status"] = task.outcome.value
        answer["details"] = (
            {"Moderation Reasons": ["Content"]}
            if task.outcome is _Outcome.CONTENT_MODERATED
            else {"error": "Generation failed, please try again."}
        )
    return await call.reply(answer)


async def _delivery(request: web.Request) -> web.StreamResponse:
    """The sample of a Ready task, until it expires; no auth, not counted."""
    state = request.app[STATE_KEY]
    now = state.clock()
    task = request.app[FLUX_TASKS].live(
        request.match_info["id"], now=now, ttl=state.config.task_ttl
    )
    if (
        task is None
        or task.outcome is not _Outcome.READY
        or now < task.ready_at
        or now >= task.ready_at + state.config.flux_sample_ttl
        or request.match_info["ext"] != task.format.value
        or request.query.get("sig") != task.signature
    ):
        return web.Response(status=404, text=_BLOB_NOT_FOUND, content_type="application/xml")
    if task.corrupt:
        return web.Response(body=NOT_AN_IMAGE, content_type=task.format.content_type)
    image = await state.images.get(
        ImageSpec(task.width, task.height, task.format, state.config.image_mode, task.variant)
    )
    return web.Response(body=image.data, content_type=image.content_type)


def add_routes(app: web.Application) -> None:
    """Register the Flux routes on *app*."""
    store = FluxStore()
    app[FLUX_TASKS] = store
    app[STATE_KEY].on_reset(store.clear)
    app.router.add_get("/flux/v1/get_result", _get_result)
    app.router.add_post("/flux/v1/{model}", _submit)
    app.router.add_get(r"/flux/delivery/{id}/sample.{ext:[a-z]+}", _delivery)
