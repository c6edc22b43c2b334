"""Bria through CometAPI, synchronous: ``POST /bria/text-to-image``.

``{prompt, num_results?=1 (1..4), aspect_ratio?="1:1", seed?, medium?, ...}`` → 200
``{"result":[{"urls":[url],"seed","uuid"}, ...]}``, one entry per result, PNGs behind
``/files/`` (long side ``max_image_side``). Billed ``num_results``. Missing prompt or a bad
value → 400; the trigger word → 422 ``content_moderation`` (not billed). The asynchronous
edits are in :mod:`.bria_edit`. See ``docs/protocols/bria.md``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.config import Fault
from batch_gen.simulator.content import size_for_ratio
from batch_gen.simulator.errors import bria_invalid, bria_moderated
from batch_gen.simulator.faults import NOT_AN_IMAGE
from batch_gen.simulator.gateway import Admission, Body, Call, endpoint
from batch_gen.simulator.images import ImageFormat, spec_for, variant_for
from batch_gen.simulator.routing import Route, SimApi
from batch_gen.simulator.state import StoredFile

TEXT_TO_IMAGE_MODEL: Final = "bria-text-to-image"
_ASPECT_RATIOS: Final = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9")


def num_results(body: Mapping[str, Any], *, default: int = 1) -> int:
    value = body.get("num_results", default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4:
        raise bria_invalid("num_results", "num_results must be an integer between 1 and 4")
    return value


def seed_of(body: Mapping[str, Any], prompt: str) -> int:
    value = body.get("seed")
    if value is None:
        return random.Random(prompt).randrange(2**31)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise bria_invalid("seed", "seed must be a non-negative integer")
    return value


async def _text_to_image(call: Call) -> web.StreamResponse:
    body = call.json
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise bria_invalid("prompt", "prompt is required")
    count = num_results(body)
    ratio = body.get("aspect_ratio", "1:1")
    if ratio not in _ASPECT_RATIOS:
        raise bria_invalid(
            "aspect_ratio", "aspect_ratio must be one of " + ", ".join(_ASPECT_RATIOS)
        )
    if body.get("medium") not in (None, "photography", "art"):
        raise bria_invalid("medium", "medium must be photography or art")
    seed = seed_of(body, prompt)
    config = call.config
    size = size_for_ratio(ratio, config.max_image_side, multiple=8)
    assert size is not None  # every listed ratio parses
    fault = await call.upstream(prompt, billed=count)
    if call.triggered(prompt):
        raise bria_moderated()
    # Billed before rendering: a client that hangs up meanwhile is charged all the same.
    call.stats._billed(prompt, count)
    first = variant_for(prompt, config.image_variants)
    results: list[dict[str, Any]] = []
    for index in range(count):
        image = await call.state.images.get(
            spec_for(
                config,
                prompt,
                width=size[0],
                height=size[1],
                format=ImageFormat.PNG,
                variant=first + index,
            )
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
    return await call.reply({"result": results}, fault=fault)


API: Final = SimApi(
    routes=(
        Route("POST", "/bria/text-to-image", endpoint(Admission(body=Body.JSON), _text_to_image)),
    )
)
