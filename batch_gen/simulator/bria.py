"""Bria through CometAPI: synchronous text-to-image, asynchronous image editing.

- ``POST /bria/text-to-image`` ``{prompt, num_results?=1 (1..4), aspect_ratio?="1:1",
  seed?, medium?, ...}`` → 200 ``{"result":[{"urls":[url],"seed","uuid"}, ...]}``, one
  entry per result, PNGs behind ``/files/`` (long side ``max_image_side``). Billed
  ``num_results``. Missing prompt or a bad value → 400; the trigger word → 422
  ``content_moderation`` (not billed).
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

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.common import (
    NOT_AN_IMAGE,
    Call,
    CometError,
    ErrorStyle,
    Handler,
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
from batch_gen.simulator.state import STATE_KEY, StoredFile, TaskStats, TaskStore, UploadStats

TEXT_TO_IMAGE_MODEL: Final = "bria-text-to-image"
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
_ASPECT_RATIOS: Final = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9")
_STATUS_HOST: Final = "https://engine.prod.bria-api.invalid"


@dataclass(slots=True, eq=False)
class BriaTask:
    """One submitted edit."""

    id: str
    action: str
    prompt: str
    submitted_at: float
    duration: float
    fails: bool
    width: int
    height: int
    seed: int
    variant: int
    corrupt: bool


class BriaStore(TaskStore[BriaTask]):
    """The Bria edit tasks of one app."""


BRIA_TASKS: Final = web.AppKey("batch_gen.simulator.bria_tasks", BriaStore)


def _bad(param: str, message: str) -> CometError:
    return CometError(400, message, param=param, code="invalid_value")


def _moderated() -> CometError:
    return CometError(
        422,
        "Request blocked by content moderation: the prompt violates the usage policy.",
        type="upstream_error",
        code="content_moderation",
    )


def _count(body: Mapping[str, Any], *, default: int = 1) -> int:
    value = body.get("num_results", default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4:
        raise _bad("num_results", "num_results must be an integer between 1 and 4")
    return value


def _seed(body: Mapping[str, Any], prompt: str) -> int:
    value = body.get("seed")
    if value is None:
        return random.Random(prompt).randrange(2**31)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _bad("seed", "seed must be a non-negative integer")
    return value


@api_route
async def _text_to_image(call: Call) -> web.StreamResponse:
    body = await admit_json(call)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _bad("prompt", "prompt is required")
    count = _count(body)
    ratio = body.get("aspect_ratio", "1:1")
    if ratio not in _ASPECT_RATIOS:
        raise _bad("aspect_ratio", "aspect_ratio must be one of " + ", ".join(_ASPECT_RATIOS))
    if body.get("medium") not in (None, "photography", "art"):
        raise _bad("medium", "medium must be photography or art")
    seed = _seed(body, prompt)
    config = call.config
    size = size_for_ratio(ratio, config.max_image_side, multiple=8)
    assert size is not None  # every listed ratio parses
    fault = await call.upstream(prompt, billed=count, style=ErrorStyle.COMET)
    if call.triggered(prompt):
        raise _moderated()
    first = variant_for(prompt, config.image_variants)
    results: list[dict[str, Any]] = []
    for index in range(count):
        image = await call.state.images.get(
            ImageSpec(size[0], size[1], ImageFormat.PNG, config.image_mode, first + index)
        )
        data = NOT_AN_IMAGE if fault is Fault.BAD_B64 else image.data
        token = call.state.files.add(StoredFile(data=data, content_type="image/png"))
        results.append(
            {
                "urls": [f"{call.origin}/files/{token}.png"],
                "seed": seed + index,
                "uuid": f"{uuid.uuid4().hex}_{seed + index}",
            }
        )
    call.stats._prompt(prompt).billed += count
    return await call.reply({"result": results}, fault=fault)


def _edit_image(body: Mapping[str, Any], name: str, *, required: bool) -> bytes | str | None:
    """An image field: its decoded bytes, its URL (not fetched), or None when absent."""
    value = body.get(name)
    if value in (None, ""):
        if required:
            raise _bad(name, f"{name} is required")
        return None
    if not isinstance(value, str):
        raise _bad(name, f"{name} must be a URL or a base64 string")
    if value.startswith(("http://", "https://")):
        return value
    data = decode_base64_image(value)
    if data is None or sniff_image(data) is None or image_header(data) is None:
        raise _bad(name, f"{name} is not a valid JPEG, PNG or WebP image")
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
            raise _bad("desired_increase", "desired_increase must be 2 or 4")
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
                raise _bad("canvas_size", "canvas_size must be [width, height]")
            return canvas[0], canvas[1]
        return round(width * 1.5), round(height * 1.5)
    return width, height


async def _edit(call: Call, action: str) -> web.StreamResponse:
    body = await admit_json(call, unnamed=f"bria/{action}")
    prompt = body.get("prompt")
    key = prompt if isinstance(prompt, str) and prompt else f"bria/{action}"
    image = _edit_image(body, "image", required=True)
    assert image is not None
    mask = _edit_image(body, "mask", required=action in _NEEDS_MASK)
    if action in _NEEDS_PROMPT and (not isinstance(prompt, str) or not prompt.strip()):
        raise _bad("prompt", f"prompt is required for {action}")
    if prompt is not None and not isinstance(prompt, str):
        raise _bad("prompt", "prompt must be a string")
    call.stats.uploads[key] = UploadStats(
        images=1,
        mask=mask is not None,
        parts=("image",),
        formats=(
            "url"
            if isinstance(image, str)
            else (fmt.value if (fmt := sniff_image(image)) else "unknown"),
        ),
    )
    _count(body)
    config = call.config
    width, height = _edit_size(action, body, image, config.max_image_side)
    seed = _seed(body, key)
    fault = await call.upstream(key, billed=1, style=ErrorStyle.COMET)
    if prompt and call.triggered(prompt):
        raise _moderated()
    fails = contains_word(key, config.bria_error_word) or (
        isinstance(image, str) and contains_word(image, config.bria_error_word)
    )
    task = BriaTask(
        id=uuid.uuid4().hex,
        action=action,
        prompt=key,
        submitted_at=call.state.clock(),
        duration=config.bria_task_seconds,
        fails=fails,
        width=width,
        height=height,
        seed=seed,
        variant=variant_for(key, config.image_variants),
        corrupt=fault is Fault.BAD_B64,
    )
    call.request.app[BRIA_TASKS].tasks[task.id] = task
    call.stats._submitted(task.id, TaskStats("bria", key, action))
    answer = {"request_id": task.id, "status_url": f"{_STATUS_HOST}/v2/status/{task.id}"}
    return await call.reply(answer, fault=fault, status=202)


@api_route
async def _status(call: Call) -> web.StreamResponse:
    call.authorize()
    task_id = call.request.match_info["request_id"]
    call.stats._polled(task_id)
    now = call.state.clock()
    task = call.request.app[BRIA_TASKS].live(task_id, now=now, ttl=call.config.task_ttl)
    if task is None:
        raise CometError(404, f"request_id {task_id} not found or expired", code="not_found")
    if now < task.submitted_at + task.duration:
        return await call.reply({"status": "IN_PROGRESS", "request_id": task.id})
    if task.fails:
        return await call.reply(
            {
                "status": "ERROR",
                "request_id": task.id,
                "error": {
                    "code": 500,
                    "message": "Image processing failed",
                    "details": "The input image could not be processed by the pipeline.",
                },
            }
        )
    result: dict[str, Any] = {
        "seed": task.seed,
        "image_url": f"{call.origin}/bria/temp/{task.id}.png",
    }
    if not task.prompt.startswith("bria/"):
        result["refined_prompt"] = f"{task.prompt.strip()}, high detail, natural light"
    return await call.reply({"result": result, "status": "COMPLETED", "request_id": task.id})


async def _temp_image(request: web.Request) -> web.StreamResponse:
    """The result of a COMPLETED edit; no auth, not counted."""
    state = request.app[STATE_KEY]
    now = state.clock()
    task = request.app[BRIA_TASKS].live(
        request.match_info["request_id"], now=now, ttl=state.config.task_ttl
    )
    if task is None or task.fails or now < task.submitted_at + task.duration:
        return web.Response(status=404, text="Not Found")
    if task.corrupt:
        return web.Response(body=NOT_AN_IMAGE, content_type="image/png")
    image = await state.images.get(
        ImageSpec(task.width, task.height, ImageFormat.PNG, state.config.image_mode, task.variant)
    )
    return web.Response(body=image.data, content_type=image.content_type)


def _edit_route(action: str) -> Handler:
    async def edit(call: Call) -> web.StreamResponse:
        return await _edit(call, action)

    return api_route(edit)


def add_routes(app: web.Application) -> None:
    """Register the Bria routes on *app*."""
    store = BriaStore()
    app[BRIA_TASKS] = store
    app[STATE_KEY].on_reset(store.clear)
    app.router.add_post("/bria/text-to-image", _text_to_image)
    for action in ACTIONS:
        app.router.add_post(f"/bria/image/edit/{action}", _edit_route(action))
    app.router.add_get(r"/bria/temp/{request_id:[0-9a-f]+}.png", _temp_image)
    app.router.add_get("/bria/{request_id}", _status)
