"""``POST /v1/images/edits`` (multipart/form-data): CometAPI's OpenAI-style image edits.

Edits accept one file in part ``image`` or several in repeated ``image[]`` parts (both may
be mixed), an optional ``mask`` (a PNG in mode RGBA, LA or L, the size of the first
image), and the form fields of generations plus ``input_fidelity``. What arrived is recorded
in ``stats.uploads[prompt]`` at admission. The files are sniffed by their bytes. GPT image
edits answer ``{"created","usage","data"}`` with CometAPI's padded ``usage`` (gateway fields
such as ``prompt_tokens`` and ``claude_cache_creation_5_m_tokens``) and no top-level
``output_format``: clients must sniff the bytes. dall-e-2 edits answer ``url`` by default;
``qwen-image-edit`` answers ``b64_json`` at the first image's size (long side capped at
``max_image_side``). See ``docs/protocols/openai.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.content import image_header, sniff_image
from batch_gen.simulator.errors import CometError
from batch_gen.simulator.forms import FilePart, Form
from batch_gen.simulator.gateway import Admission, Arrival, Body, Call, endpoint
from batch_gen.simulator.images import ImageFormat
from batch_gen.simulator.openai_answers import GPT_OUTPUT_TOKENS, answer_images
from batch_gen.simulator.openai_plans import (
    EDIT_FAMILIES,
    Family,
    Plan,
    checked_prompt,
    choice,
    model_family,
    plan_dall_e,
    plan_gpt_image,
    plan_qwen,
)
from batch_gen.simulator.routing import Route, SimApi

_MAX_EDIT_IMAGES: Final = 16
_DALL_E_2_MAX_BYTES: Final = 4 * 1024 * 1024
# Input image tokens per uploaded picture by input_fidelity (rough, from OpenAI's pricing
# examples); only the usage numbers depend on them.
_EDIT_IMAGE_TOKENS: Final[Mapping[str, int]] = {"low": 194, "high": 4354}
# Pillow modes OpenAI accepts for a mask ("PA": a palette PNG with a transparent entry).
_MASK_MODES: Final = ("RGBA", "LA", "L", "PA")


def _form_body(fields: Mapping[str, str]) -> dict[str, Any]:
    """Form fields as the JSON body of a generation would carry them: integers for the
    numeric fields, booleans for the switches (all form values arrive as text)."""
    body: dict[str, Any] = dict(fields)
    for name in ("n", "output_compression", "partial_images"):
        value = body.get(name)
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,9}", value.strip()):
            body[name] = int(value)
    if isinstance(stream := body.get("stream"), str):
        body["stream"] = stream.strip().lower() in ("true", "1")
    return body


def _check_edit_files(form: Form, family: Family) -> tuple[int, int]:
    """Validate the uploaded files by their bytes; return the first image's size."""
    if not form.images:
        if form.text_image:
            raise CometError(
                400,
                "Invalid type for 'image': expected a file, but got a string instead.",
                param="image",
                code="invalid_type",
            )
        raise CometError(
            400,
            "Missing required parameter: 'image'.",
            param="image",
            code="missing_required_parameter",
        )
    limit = 1 if family is Family.DALL_E_2 else _MAX_EDIT_IMAGES
    if len(form.images) > limit:
        raise CometError(
            400,
            f"Invalid 'image': too many images ({len(form.images)}); at most {limit}.",
            param="image",
            code="invalid_value",
        )
    sizes = [_check_image(index, item, family) for index, item in enumerate(form.images, 1)]
    if form.mask is not None:
        _check_mask(form.mask, sizes[0])
    return sizes[0]


def _check_image(index: int, item: FilePart, family: Family) -> tuple[int, int]:
    """Validate the *index*-th (from 1) uploaded image; return its size."""
    fmt = sniff_image(item.data)
    header = image_header(item.data) if fmt else None
    if fmt is None or header is None:
        raise CometError(
            400,
            f"Invalid file 'image': unsupported mimetype for image {index}. Supported "
            "file formats are 'image/jpeg', 'image/png', and 'image/webp'.",
            param="image",
            code="invalid_image_format",
        )
    if family is Family.DALL_E_2 and (
        fmt is not ImageFormat.PNG
        or header[0] != header[1]
        or len(item.data) >= _DALL_E_2_MAX_BYTES
    ):
        raise CometError(
            400,
            "Invalid input image - dall-e-2 edits need one square PNG under 4 MB.",
            param="image",
            code="invalid_image",
        )
    return header[0], header[1]


def _check_mask(mask: FilePart, size: tuple[int, int]) -> None:
    """Validate the mask: a PNG with alpha (or grey) of the first image's *size*."""
    header = image_header(mask.data)
    if sniff_image(mask.data) is not ImageFormat.PNG or header is None:
        raise CometError(
            400, "Invalid 'mask': the mask must be a PNG.", param="mask", code="invalid_value"
        )
    if header[2] not in _MASK_MODES:
        raise CometError(
            400,
            f"Invalid input image - format must be in ['RGBA', 'LA', 'L'], got {header[2]}.",
            param="mask",
            code="invalid_image_format",
        )
    if (header[0], header[1]) != size:
        raise CometError(
            400,
            "Invalid mask image format - mask size does not match image size",
            param="mask",
            code="invalid_image_format",
        )


def _auto_size(width: int, height: int) -> str:
    """gpt-image's ``size: auto`` for an edit: the fixed size closest to the input's shape."""
    if width > height * 1.2:
        return "1536x1024"
    if height > width * 1.2:
        return "1024x1536"
    return "1024x1024"


def _capped(width: int, height: int, long_side: int) -> tuple[int, int]:
    scale = min(1.0, long_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


@dataclass(frozen=True, slots=True)
class _EditPlan:
    plan: Plan
    images: int
    input_fidelity: str


def _plan_edit(form: Form, *, max_side: int) -> _EditPlan:
    """Validate an edits form the way CometAPI and the upstream model would."""
    body = _form_body(form.fields)
    model, family = model_family(body)
    if family not in EDIT_FAMILIES:
        raise CometError(
            400,
            f"Invalid value for 'model' = {model}. Image edits support dall-e-2, the "
            "gpt-image models and qwen-image-edit.",
            param="model",
            code="invalid_value",
        )
    prompt = checked_prompt(body, family)
    width, height = _check_edit_files(form, family)
    fidelity = choice(body, "input_fidelity", ["high", "low"], "low")
    if family is Family.GPT_IMAGE:
        if "input_fidelity" in body and model == "gpt-image-1-mini":
            raise CometError(
                400,
                "Unknown parameter: 'input_fidelity' is not supported for gpt-image-1-mini.",
                param="input_fidelity",
                code="unknown_parameter",
            )
        plan = plan_gpt_image(
            body,
            model,
            prompt,
            default_size=_auto_size(width, height),
            qualities=("standard", "low", "medium", "high", "auto"),
        )
    elif family is Family.DALL_E_2:
        plan = plan_dall_e(body, family, model, prompt)
    else:
        plan = plan_qwen(body, model, prompt)
        if body.get("size") in (None, "auto"):
            out_width, out_height = _capped(width, height, max_side)
            plan = replace(plan, width=out_width, height=out_height)
        plan = replace(plan, family=Family.QWEN_EDIT)
    return _EditPlan(plan=plan, images=len(form.images), input_fidelity=fidelity)


def _edit_usage(edit: _EditPlan) -> dict[str, Any]:
    """GPT image edit usage as CometAPI returns it: padded with its gateway fields."""
    plan = edit.plan
    text_tokens = max(1, len(plan.prompt.split()))
    image_tokens = _EDIT_IMAGE_TOKENS[edit.input_fidelity] * edit.images
    per_image = GPT_OUTPUT_TOKENS[plan.quality] * plan.width * plan.height / (1024 * 1024)
    output_tokens = max(1, round(per_image)) * plan.count
    input_tokens = text_tokens + image_tokens
    return {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": input_tokens + output_tokens,
        "prompt_tokens_details": {"cached_tokens_details": {}},
        "completion_tokens_details": {},
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_tokens_details": {
            "image_tokens": image_tokens,
            "text_tokens": text_tokens,
            "cached_tokens_details": {},
        },
        "claude_cache_creation_5_m_tokens": 0,
        "claude_cache_creation_1_h_tokens": 0,
    }


def _arrival(call: Call) -> Arrival:
    """Counted under the form's prompt, with what it uploaded."""
    form = call.form
    if form is None:
        return Arrival(None)
    return Arrival(form.fields.get("prompt"), form.upload_stats())


async def _edits(call: Call) -> web.StreamResponse:
    assert call.form is not None  # admitted with Body.FORM
    edit = _plan_edit(call.form, max_side=call.config.max_image_side)
    usage = _edit_usage(edit) if edit.plan.family is Family.GPT_IMAGE else None
    return await answer_images(call, edit.plan, usage=usage)


ADMISSION: Final = Admission(body=Body.FORM, arrival=_arrival)
API: Final = SimApi(routes=(Route("POST", "/v1/images/edits", endpoint(ADMISSION, _edits)),))
