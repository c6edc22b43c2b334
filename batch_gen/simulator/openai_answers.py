"""Answering an OpenAI-style image request, shared by generations and edits: pass it
upstream, refuse the trigger word, render the images (``b64_json`` or ``/files/`` URLs)
with each family's top-level fields, bill them. See ``docs/protocols/openai.md``."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.config import Fault
from batch_gen.simulator.errors import moderation_blocked
from batch_gen.simulator.faults import NOT_AN_IMAGE, corrupt_b64
from batch_gen.simulator.gateway import Call
from batch_gen.simulator.images import EncodedImage, spec_for, variant_for
from batch_gen.simulator.openai_plans import Family, Plan
from batch_gen.simulator.state import StoredFile

# Output tokens of one 1024x1024 image by quality (OpenAI's table); scaled by area.
GPT_OUTPUT_TOKENS: Final[Mapping[str, int]] = {"low": 272, "medium": 1056, "high": 4160}


def _gpt_usage(plan: Plan) -> dict[str, Any]:
    input_tokens = max(1, len(plan.prompt.split()))
    per_image = GPT_OUTPUT_TOKENS[plan.quality] * plan.width * plan.height / (1024 * 1024)
    output_tokens = max(1, round(per_image)) * plan.count
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"image_tokens": 0, "text_tokens": input_tokens},
        "output_tokens": output_tokens,
        "output_tokens_details": {"image_tokens": output_tokens, "text_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def _response_head(plan: Plan, created: int) -> dict[str, Any]:
    """Top-level fields of a 200 answer, everything but ``data``."""
    if plan.family is Family.GPT_IMAGE:
        return {
            "created": created,
            "background": plan.background,
            "output_format": plan.format.value,
            "quality": plan.quality,
            "size": plan.size,
            "usage": _gpt_usage(plan),
        }
    if plan.family is Family.SEEDREAM:
        tokens = plan.width * plan.height // 256 * plan.count
        return {
            "model": plan.model,
            "created": created,
            "usage": {
                "generated_images": plan.count,
                "output_tokens": tokens,
                "total_tokens": tokens,
            },
        }
    return {"created": created}


def _revised_prompt(prompt: str) -> str:
    return f"{prompt.strip()} Rendered in rich detail with soft, natural lighting."


def _json_with_data(head: Mapping[str, Any], items: Sequence[Sequence[tuple[str, Any]]]) -> bytes:
    """Serialize ``{**head, "data": [...]}`` where item values of type bytes are already-safe
    base64 text spliced in verbatim, so megabytes of base64 are never re-escaped.

    The pieces are joined once: concatenating them step by step copied each image's base64
    four more times (3 of 9 us for an answer of 18 kB)."""
    head_json = json.dumps(dict(head)).encode()
    parts = [b'{"data":[' if head_json == b"{}" else head_json[:-1] + b',"data":[']
    for number, item in enumerate(items):
        parts.append(b",{" if number else b"{")
        for index, (key, value) in enumerate(item):
            parts.append((b"," if index else b"") + json.dumps(key).encode() + b":")
            if isinstance(value, bytes):
                parts += (b'"', value, b'"')
            else:
                parts.append(json.dumps(value).encode())
        parts.append(b"}")
    parts.append(b"]}")
    return b"".join(parts)


async def _payload(
    call: Call, plan: Plan, *, corrupt: bool, head: Mapping[str, Any] | None = None
) -> bytes:
    config = call.config
    first = variant_for(plan.prompt, config.image_variants)
    images: list[EncodedImage] = [
        await call.state.images.get(
            spec_for(
                config,
                plan.prompt,
                width=plan.width,
                height=plan.height,
                format=plan.format,
                variant=(first + index) % config.image_variants,
                transparent=plan.background == "transparent",
            )
        )
        for index in range(plan.count)
    ]
    items: list[list[tuple[str, Any]]] = []
    for image in images:
        item: list[tuple[str, Any]] = []
        if plan.family is Family.DALL_E_3:
            item.append(("revised_prompt", _revised_prompt(plan.prompt)))
        if plan.response_format == "url":
            item.append(("url", _publish(call, plan, image, corrupt=corrupt)))
        else:
            item.append(("b64_json", corrupt_b64(image.b64) if corrupt else image.b64))
        if plan.family is Family.SEEDREAM:
            item.append(("size", plan.size))
        items.append(item)
    if head is None:
        head = _response_head(plan, int(time.time()))
    return _json_with_data(head, items)


_URL_EXTENSIONS: Final[Mapping[str, str]] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}


def _publish(call: Call, plan: Plan, image: EncodedImage, *, corrupt: bool) -> str:
    """Store *image* behind a fresh ``/files/`` URL shaped like the provider's links."""
    # dall-e-3 links end in .webp though the bytes are PNG, as CometAPI's rehosted ones do.
    extension = {Family.DALL_E_3: "webp", Family.SEEDREAM: "jpeg"}.get(plan.family, "png")
    data = NOT_AN_IMAGE if corrupt else image.data
    token = call.state.files.add(StoredFile(data=data, content_type=_URL_EXTENSIONS[extension]))
    url = f"{call.origin}/files/{token}.{extension}"
    if plan.family is Family.SEEDREAM:
        # Signed links carry '&'; clients must keep them intact.
        url += f"?X-Tos-Algorithm=TOS4-HMAC-SHA256&X-Tos-Expires=86400&X-Tos-Signature={token}"
    return url


async def answer_images(
    call: Call, plan: Plan, *, usage: Mapping[str, Any] | None = None
) -> web.StreamResponse:
    """Pass *plan* upstream, then answer its images and bill them (``plan.count`` units).

    The trigger word is refused after the fault step, unbilled. *usage* replaces the
    family's top-level fields with ``{"created","usage"}`` (GPT image edits).
    """
    fault = await call.upstream(plan.prompt, billed=plan.count)
    if call.triggered(plan.prompt):
        raise moderation_blocked()
    # Billed before rendering: a client that hangs up meanwhile is charged all the same.
    call.stats._billed(plan.prompt, plan.count)
    head = None if usage is None else {"created": int(time.time()), "usage": usage}
    payload = await _payload(call, plan, corrupt=fault is Fault.BAD_B64, head=head)
    return await call.reply(payload, fault=fault)
