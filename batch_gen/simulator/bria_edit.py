"""Bria through CometAPI, asynchronous image editing (see ``docs/protocols/bria.md``).

- ``POST /bria/image/edit/{action}`` for ``erase``, ``gen_fill``, ``expand``, ``enhance``,
  ``increase_resolution``, ``replace_background`` (other actions are wrong paths: 301).
  ``image`` (http URL, not fetched, or base64 / data URI, sniffed) is required; ``mask`` is
  required for erase, gen_fill and expand; ``prompt`` for gen_fill and replace_background
  → 400 otherwise. Answers **202** ``{"request_id","status_url"}`` as Bria's v2 async API
  does (clients should accept any 2xx); ``status_url`` points at Bria's host (an
  unresolvable ``.invalid`` one): poll CometAPI instead. Billed once at submit.
- ``GET /bria/{request_id}`` → 200 ``{"status":"IN_PROGRESS","request_id"}`` for
  ``bria_task_seconds``, then ``{"status":"COMPLETED","request_id","result":{"image_url",
  "seed"[,"refined_prompt"]}}``, or ``{"status":"ERROR","request_id","error":{"code",
  "message","details"}}`` when the prompt or image URL contains ``bria_error_word``. An
  unknown id, or one older than ``task_ttl``, → 404.
- ``GET /bria/temp/{request_id}.png`` (no auth) → the edited image once COMPLETED.

Stats key a Bria edit by its ``prompt``, or by ``"bria/<action>"`` when it has none.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.bria import num_results, seed_of
from batch_gen.simulator.config import Fault
from batch_gen.simulator.content import (
    contains_word,
    decode_base64_image,
    format_label,
    image_header,
    sniff_image,
)
from batch_gen.simulator.errors import CometError, bria_invalid, bria_moderated
from batch_gen.simulator.faults import NOT_AN_IMAGE
from batch_gen.simulator.gateway import PUBLIC, Admission, Arrival, Body, Call, endpoint
from batch_gen.simulator.images import ImageFormat, spec_for, variant_for
from batch_gen.simulator.routing import Route, SimApi
from batch_gen.simulator.state import CONFIG_KEY, install_store
from batch_gen.simulator.stats import TaskStats, UploadStats
from batch_gen.simulator.tasks import Schedule, TaskStore

ACTIONS: Final = (
    "erase",
    "gen_fill",
    "expand",
    "enhance",
    "increase_resolution",
    "replace_background",
)
_NEEDS_MASK: Final = frozenset({"erase", "gen_fill", "expand"})
_NEEDS_PROMPT: Final = frozenset({"gen_fill", "replace_background"})
_STATUS_HOST: Final = "https://engine.prod.bria-api.invalid"


@dataclass(slots=True, eq=False)
class BriaTask:
    """One submitted edit."""

    id: str
    action: str
    prompt: str
    schedule: Schedule
    """IN_PROGRESS for ``bria_task_seconds`` from the submit."""
    fails: bool
    width: int
    height: int
    seed: int
    variant: int
    corrupt: bool


BRIA_TASKS: Final = web.AppKey("batch_gen.simulator.bria_tasks", TaskStore[BriaTask])


def _edit_image(body: Mapping[str, Any], name: str, *, required: bool) -> bytes | str | None:
    """An image field: its decoded bytes, its URL (not fetched), or None when absent."""
    value = body.get(name)
    if value in (None, ""):
        if required:
            raise bria_invalid(name, f"{name} is required")
        return None
    if not isinstance(value, str):
        raise bria_invalid(name, f"{name} must be a URL or a base64 string")
    if value.startswith(("http://", "https://")):
        return value
    data = decode_base64_image(value)
    if data is None or sniff_image(data) is None or image_header(data) is None:
        raise bria_invalid(name, f"{name} is not a valid JPEG, PNG or WebP image")
    return data


def _edit_size(
    action: str, body: Mapping[str, Any], image: bytes | str, max_side: int
) -> tuple[int, int]:
    if isinstance(image, bytes):
        header = image_header(image)
        assert header is not None  # _edit_image checked it
        width, height = header[0], header[1]
    else:
        width = height = max_side
    if action == "increase_resolution":
        factor = body.get("desired_increase", 2)
        if factor not in (2, 4):
            raise bria_invalid("desired_increase", "desired_increase must be 2 or 4")
        # Keep renders cheap: never beyond twice the configured long side.
        scale = min(factor, 2 * max_side / max(width, height))
        return max(1, round(width * scale)), max(1, round(height * scale))
    if action == "expand":
        canvas = body.get("canvas_size")
        if canvas is not None:
            if (
                not isinstance(canvas, list)
                or len(canvas) != 2
                or not all(isinstance(v, int) and 1 <= v <= 5000 for v in canvas)
            ):
                raise bria_invalid("canvas_size", "canvas_size must be [width, height]")
            return canvas[0], canvas[1]
        return round(width * 1.5), round(height * 1.5)
    return width, height


async def _edit(call: Call, action: str) -> web.StreamResponse:
    body = call.json
    prompt = body.get("prompt")
    key = prompt if isinstance(prompt, str) and prompt else f"bria/{action}"
    image = _edit_image(body, "image", required=True)
    assert image is not None
    mask = _edit_image(body, "mask", required=action in _NEEDS_MASK)
    if action in _NEEDS_PROMPT and (not isinstance(prompt, str) or not prompt.strip()):
        raise bria_invalid("prompt", f"prompt is required for {action}")
    if prompt is not None and not isinstance(prompt, str):
        raise bria_invalid("prompt", "prompt must be a string")
    call.stats.uploads[key] = UploadStats(
        images=1,
        mask=mask is not None,
        parts=("image",),
        formats=(format_label(image if isinstance(image, bytes) else None),),
    )
    num_results(body)
    config = call.config
    width, height = _edit_size(action, body, image, config.max_image_side)
    seed = seed_of(body, key)
    fault = await call.upstream(key, billed=1)
    if prompt and call.triggered(prompt):
        raise bria_moderated()
    fails = contains_word(key, config.bria_error_word) or (
        isinstance(image, str) and contains_word(image, config.bria_error_word)
    )
    task = BriaTask(
        id=uuid.uuid4().hex,
        action=action,
        prompt=key,
        schedule=Schedule(submitted_at=call.state.clock(), duration=config.bria_task_seconds),
        fails=fails,
        width=width,
        height=height,
        seed=seed,
        variant=variant_for(key, config.image_variants),
        corrupt=fault is Fault.BAD_B64,
    )
    call.request.app[BRIA_TASKS].add(task)
    call.stats._submitted(task.id, TaskStats("bria", key, action))
    answer = {"request_id": task.id, "status_url": f"{_STATUS_HOST}/v2/status/{task.id}"}
    return await call.reply(answer, fault=fault, status=202)


_FAILED: Final = {
    "code": 500,
    "message": "Image processing failed",
    "details": "The input image could not be processed by the pipeline.",
}


async def _status(call: Call) -> web.StreamResponse:
    task_id = call.request.match_info["request_id"]
    task = call.poll(call.request.app[BRIA_TASKS], task_id)
    if task is None:
        raise CometError(404, f"request_id {task_id} not found or expired", code="not_found")
    if not task.schedule.done(call.state.clock()):
        return await call.reply({"status": "IN_PROGRESS", "request_id": task.id})
    if task.fails:
        return await call.reply({"status": "ERROR", "request_id": task.id, "error": _FAILED})
    result: dict[str, Any] = {
        "seed": task.seed,
        "image_url": f"{call.origin}/bria/temp/{task.id}.png",
    }
    if not task.prompt.startswith("bria/"):
        result["refined_prompt"] = f"{task.prompt.strip()}, high detail, natural light"
    return await call.reply({"result": result, "status": "COMPLETED", "request_id": task.id})


async def _temp_image(call: Call) -> web.StreamResponse:
    """The result of a COMPLETED edit; no auth, not counted."""
    state = call.state
    now = state.clock()
    task = call.request.app[BRIA_TASKS].live(call.request.match_info["request_id"], now=now)
    if task is None or task.fails or not task.schedule.done(now):
        return web.Response(status=404, text="Not Found")
    if task.corrupt:
        return web.Response(body=NOT_AN_IMAGE, content_type="image/png")
    image = await state.images.get(
        spec_for(
            state.config,
            task.prompt,
            width=task.width,
            height=task.height,
            format=ImageFormat.PNG,
            variant=task.variant,
        )
    )
    return web.Response(body=image.data, content_type=image.content_type)


def _edit_route(action: str) -> Route:
    """The route of one edit action: counted under the prompt, else ``bria/<action>``."""

    def arrival(call: Call) -> Arrival:
        prompt = call.body.get("prompt") if call.body is not None else None
        return Arrival(prompt if isinstance(prompt, str) and prompt else f"bria/{action}")

    async def edit(call: Call) -> web.StreamResponse:
        return await _edit(call, action)

    admission = Admission(body=Body.JSON, arrival=arrival)
    return Route("POST", f"/bria/image/edit/{action}", endpoint(admission, edit))


def _setup(app: web.Application) -> None:
    install_store(app, BRIA_TASKS, TaskStore[BriaTask](ttl=app[CONFIG_KEY].task_ttl))


API: Final = SimApi(
    routes=(
        *(_edit_route(action) for action in ACTIONS),
        Route("GET", r"/bria/temp/{request_id:[0-9a-f]+}.png", endpoint(PUBLIC, _temp_image)),
        Route("GET", "/bria/{request_id}", endpoint(Admission(), _status)),
    ),
    setup=_setup,
)
