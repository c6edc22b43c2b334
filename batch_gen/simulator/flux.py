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
  ``start_time``, ``end_time``, ``duration``; a ``seed`` asked for is written on the
  picture under the prompt, so another seed makes another picture), or ``Error`` (prompt contains
  ``flux_error_word``), ``Content Moderated`` (``flux_moderate_word``) — both with
  ``result: null`` and ``details``. A prompt with the trigger word is ``Request Moderated``
  from the first poll. After ``task_ttl`` seconds from submit, or for an id never issued:
  ``Task not found``; also, with ``flux_not_found_polls`` K > 0, the first K polls of
  every task (a gateway still catching up with the submit). A missing ``id`` → 422.
- ``GET /flux/delivery/{id}/sample.{jpeg|png}?se=…&sig=…`` (no auth, like BFL's CDN) →
  the image, until ``flux_sample_ttl`` seconds after the task became Ready; then 404. The
  query string is part of the link (a signature): a link cut at ``&`` or ``?`` is a 404.

Billing: every submit that returns an id is billed once (moderation happens on BFL's side
after the id was issued); polls are counted, never billed. See ``docs/protocols/flux.md``.
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

from batch_gen.simulator.config import Fault, SimulatorConfig
from batch_gen.simulator.content import (
    contains_word,
    decode_base64_image,
    format_label,
    image_header,
    size_for_ratio,
    sniff_image,
)
from batch_gen.simulator.errors import flux_invalid, model_not_found
from batch_gen.simulator.faults import NOT_AN_IMAGE
from batch_gen.simulator.gateway import PUBLIC, Admission, Body, Call, endpoint
from batch_gen.simulator.images import ImageFormat, spec_for, variant_for
from batch_gen.simulator.routing import Route, SimApi
from batch_gen.simulator.state import CONFIG_KEY, install_store
from batch_gen.simulator.stats import TaskStats, UploadStats
from batch_gen.simulator.tasks import Schedule, TaskStore


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
    schedule: Schedule
    """Pending for ``flux_task_seconds`` from the submit."""
    submit_wall: float
    outcome: _Outcome
    width: int
    height: int
    format: ImageFormat
    seed: int
    variant: int
    corrupt: bool
    signature: str
    seeded: bool = False
    """The submit asked for its seed: the picture says it, as a new seed changes it."""
    unseen_polls: int = 0
    """Polls still to answer ``Task not found`` although the task exists (the
    ``flux_not_found_polls`` knob)."""


FLUX_TASKS: Final = web.AppKey("batch_gen.simulator.flux_tasks", TaskStore[FluxTask])


def _int(body: Mapping[str, Any], name: str, *, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise flux_invalid(name, "Input should be a valid integer")
    if not low <= value <= high:
        raise flux_invalid(name, f"Input should be between {low} and {high}")
    return value


def _size(body: Mapping[str, Any], kind: _Kind, model: str, max_side: int) -> tuple[int, int]:
    if kind is _Kind.RATIO:
        ratio = body.get("aspect_ratio", "16:9" if model.endswith("ultra") else "1:1")
        size = size_for_ratio(ratio, max_side) if isinstance(ratio, str) else None
        if size is None or not _ratio_within(ratio, 21 / 9):
            raise flux_invalid("aspect_ratio", "Aspect ratio must be between 21:9 and 9:21")
        return size
    high = 2048 if model.startswith("flux-2") else 1440
    width = _int(body, "width", low=256, high=high) or 1024
    height = _int(body, "height", low=256, high=high) or 768
    for name, value in (("width", width), ("height", height)):
        if value % 32:
            raise flux_invalid(name, "Input should be a multiple of 32")
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
                raise flux_invalid(name, "Field required")
            continue
        if not isinstance(value, str):
            raise flux_invalid(name, "Input should be a valid string")
        if value.startswith(("http://", "https://")):
            found.append((name, None))
            continue
        data = decode_base64_image(value)
        if data is None or sniff_image(data) is None or image_header(data) is None:
            raise flux_invalid(name, "Invalid image: could not decode base64 image data")
        found.append((name, data))
    return found


@dataclass(frozen=True, slots=True)
class _Inputs:
    """A submit's prompt and input images, checked."""

    kind: _Kind
    prompt: str
    images: list[tuple[str, bytes | None]]
    upload: UploadStats | None


def _inputs(body: Mapping[str, Any], model: str) -> _Inputs:
    """The gateway's model check (503), then BFL's checks of the prompt and images (422)."""
    prompt = body.get("prompt")
    kind = MODELS.get(model)
    if kind is None:
        raise model_not_found(model)
    if prompt is None and kind is _Kind.FILL:
        prompt = ""
    if not isinstance(prompt, str) or (not prompt.strip() and kind is not _Kind.FILL):
        raise flux_invalid("prompt", "Field required")
    images = _images(body, kind)
    mask = body.get("mask") if kind is _Kind.FILL else None
    upload = None
    if images or mask:
        upload = UploadStats(
            images=len(images),
            mask=bool(mask),
            parts=tuple(name for name, _ in images),
            formats=tuple(format_label(data) for _, data in images),
        )
    return _Inputs(kind, prompt, images, upload)


@dataclass(frozen=True, slots=True)
class _Output:
    """What a submit asks to get back."""

    width: int
    height: int
    format: ImageFormat
    seed: int | None


def _output(body: Mapping[str, Any], model: str, inputs: _Inputs, *, max_side: int) -> _Output:
    """BFL's checks of the output fields (422); a fill keeps its image's size."""
    output_format = body.get("output_format", "jpeg")
    if output_format not in ("jpeg", "png"):
        raise flux_invalid("output_format", "Input should be 'jpeg' or 'png'")
    _int(body, "safety_tolerance", low=0, high=6)
    _int(body, "steps", low=1, high=50)
    seed = _int(body, "seed", low=0, high=2**32 - 1)
    if inputs.kind is _Kind.FILL and (data := inputs.images[0][1]) is not None:
        header = image_header(data)
        assert header is not None  # _images checked it
        size = (header[0], header[1])
    else:
        size = _size(body, inputs.kind, model, max_side)
    return _Output(size[0], size[1], ImageFormat(output_format), seed)


def _outcome(prompt: str, config: SimulatorConfig, *, triggered: bool) -> _Outcome:
    if triggered:
        return _Outcome.REQUEST_MODERATED
    if contains_word(prompt, config.flux_moderate_word):
        return _Outcome.CONTENT_MODERATED
    if contains_word(prompt, config.flux_error_word):
        return _Outcome.ERROR
    return _Outcome.READY


async def _submit(call: Call) -> web.StreamResponse:
    config = call.config
    model = call.request.match_info["model"]
    inputs = _inputs(call.json, model)
    prompt = inputs.prompt
    if prompt and inputs.upload is not None:
        call.stats.uploads[prompt] = inputs.upload
    output = _output(call.json, model, inputs, max_side=config.max_image_side)
    fault = await call.upstream(prompt, billed=1)
    task = FluxTask(
        id=str(uuid.uuid4()),
        model=model,
        prompt=prompt,
        schedule=Schedule(submitted_at=call.state.clock(), duration=config.flux_task_seconds),
        submit_wall=time.time(),
        outcome=_outcome(prompt, config, triggered=call.triggered(prompt)),
        width=output.width,
        height=output.height,
        format=output.format,
        seed=output.seed if output.seed is not None else random.Random(prompt).randrange(2**32),
        variant=variant_for(prompt, config.image_variants),
        corrupt=fault is Fault.BAD_B64,
        signature=secrets.token_urlsafe(24),
        seeded=output.seed is not None,
        unseen_polls=config.flux_not_found_polls,
    )
    call.request.app[FLUX_TASKS].add(task)
    call.stats._submitted(task.id, TaskStats("flux", prompt, model))
    answer = {"id": task.id, "polling_url": f"{_POLLING_HOST}/v1/get_result?id={task.id}"}
    return await call.reply(answer, fault=fault)


def _sample_url(call: Call, task: FluxTask) -> str:
    expiry = int(task.submit_wall + task.schedule.duration + call.config.flux_sample_ttl)
    extension = task.format.value
    return (
        f"{call.origin}/flux/delivery/{task.id}/sample.{extension}"
        f"?se={expiry}&sp=r&sv=2024-11-04&sig={task.signature}"
    )


def _result(task: FluxTask, *, now: float, sample_url: str) -> dict[str, Any]:
    """The status, result and details fields a poll shows of a live task."""
    outcome = task.outcome
    if outcome is _Outcome.REQUEST_MODERATED:
        return {"status": outcome.value, "details": {"Moderation Reasons": ["Derivative Works"]}}
    if not task.schedule.done(now):
        return {"status": "Pending", "progress": round(task.schedule.fraction(now), 2)}
    if outcome is _Outcome.READY:
        duration = task.schedule.duration
        start = task.submit_wall + 0.1 * duration
        end = task.submit_wall + duration
        result = {
            "sample": sample_url,
            "prompt": task.prompt,
            "seed": task.seed,
            "start_time": round(start, 3),
            "end_time": round(end, 3),
            "duration": round(end - start, 3),
        }
        return {"status": outcome.value, "result": result}
    details = (
        {"Moderation Reasons": ["Content"]}
        if outcome is _Outcome.CONTENT_MODERATED
        else {"error": "Generation failed, please try again."}
    )
    return {"status": outcome.value, "details": details}


async def _get_result(call: Call) -> web.StreamResponse:
    task_id = call.request.query.get("id", "")
    if not task_id:
        raise flux_invalid("id", "Field required")
    task = call.poll(call.request.app[FLUX_TASKS], task_id)
    if task is not None and task.unseen_polls > 0:
        task.unseen_polls -= 1
        task = None  # not visible to status reads yet
    answer: dict[str, Any] = {
        "id": task_id,
        "status": "Task not found",
        "result": None,
        "progress": None,
        "details": None,
        "preview": None,
    }
    if task is not None:
        now = call.state.clock()
        answer.update(_result(task, now=now, sample_url=_sample_url(call, task)))
    return await call.reply(answer)


async def _delivery(call: Call) -> web.StreamResponse:
    """The sample of a Ready task, until it expires; no auth, not counted."""
    state = call.state
    request = call.request
    now = state.clock()
    task = request.app[FLUX_TASKS].live(request.match_info["id"], now=now)
    if (
        task is None
        or task.outcome is not _Outcome.READY
        or not task.schedule.done(now)
        or now >= task.schedule.ready_at + state.config.flux_sample_ttl
        or request.match_info["ext"] != task.format.value
        or request.query.get("sig") != task.signature
    ):
        return web.Response(status=404, text=_BLOB_NOT_FOUND, content_type="application/xml")
    if task.corrupt:
        return web.Response(body=NOT_AN_IMAGE, content_type=task.format.content_type)
    image = await state.images.get(
        spec_for(
            state.config,
            f"{task.prompt} (seed {task.seed})" if task.seeded else task.prompt,
            width=task.width,
            height=task.height,
            format=task.format,
            variant=task.variant,
        )
    )
    return web.Response(body=image.data, content_type=image.content_type)


def _setup(app: web.Application) -> None:
    install_store(app, FLUX_TASKS, TaskStore[FluxTask](ttl=app[CONFIG_KEY].task_ttl))


_SUBMIT: Final = Admission(body=Body.JSON)
_POLL: Final = Admission()
API: Final = SimApi(
    routes=(
        Route("GET", "/flux/v1/get_result", endpoint(_POLL, _get_result)),
        Route("POST", "/flux/v1/{model}", endpoint(_SUBMIT, _submit)),
        Route("GET", r"/flux/delivery/{id}/sample.{ext:[a-z]+}", endpoint(PUBLIC, _delivery)),
    ),
    setup=_setup,
)
