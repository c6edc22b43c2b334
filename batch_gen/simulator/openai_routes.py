"""CometAPI's OpenAI-style image routes: ``POST /v1/images/generations`` (JSON) and
``POST /v1/images/edits`` (multipart/form-data).

How a request is answered, in order: the prompt is counted; the key is checked (401); the
body must be a JSON object, or multipart for edits (400); the rpm window may refuse it
(429); the fields — and for edits the uploaded files, sniffed by their bytes — are
validated (400, or 503 ``model_not_found``); a scripted or random fault is applied (see
:meth:`Call.upstream`); the trigger word is refused (400 ``moderation_blocked``, not
billed); otherwise the images are generated and billed.

Edits accept one file in part ``image`` or several in repeated ``image[]`` parts (both may
be mixed), an optional ``mask`` (a PNG in mode RGBA, LA or L, the size of the first
image), and the form fields of generations plus ``input_fidelity``. What arrived is recorded
in ``stats.uploads[prompt]``. GPT image edits answer ``{"created","usage","data"}`` with
CometAPI's padded ``usage`` (gateway fields such as ``prompt_tokens`` and
``claude_cache_creation_5_m_tokens``) and no top-level ``output_format``: clients must
sniff the bytes. dall-e-2 edits answer ``url`` by default; ``qwen-image-edit`` answers
``b64_json`` at the first image's size (long side capped at ``max_image_side``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Final

from aiohttp import BodyPartReader, web

from batch_gen.simulator.common import (
    NOT_AN_IMAGE,
    Call,
    CometError,
    ErrorStyle,
    admit_json,
    api_route,
    corrupt_b64,
    image_header,
    invalid_value,
    sniff_image,
)
from batch_gen.simulator.config import Fault
from batch_gen.simulator.images import EncodedImage, ImageFormat, ImageSpec, variant_for
from batch_gen.simulator.state import StoredFile, UploadStats

# --------------------------------------------------------------------------------------
# Request validation (pure: a body in, a plan or a CometError out)


class _Family(Enum):
    GPT_IMAGE = "gpt-image"
    DALL_E_2 = "dall-e-2"
    DALL_E_3 = "dall-e-3"
    QWEN = "qwen-image"
    QWEN_EDIT = "qwen-image-edit"
    SEEDREAM = "seedream"


MODELS: Final[Mapping[str, _Family]] = {
    "gpt-image-1": _Family.GPT_IMAGE,
    "gpt-image-1-mini": _Family.GPT_IMAGE,
    "gpt-image-1.5": _Family.GPT_IMAGE,
    "gpt-image-2": _Family.GPT_IMAGE,
    "gpt-image-2-2026-04-21": _Family.GPT_IMAGE,
    "chatgpt-image-latest": _Family.GPT_IMAGE,
    "dall-e-2": _Family.DALL_E_2,
    "dall-e-3": _Family.DALL_E_3,
    "qwen-image": _Family.QWEN,
    "qwen-image-edit": _Family.QWEN_EDIT,
    "doubao-seedream-4-5-251128": _Family.SEEDREAM,
    "doubao-seedream-5-0-260128": _Family.SEEDREAM,
}

_PROMPT_LIMITS: Final[Mapping[_Family, int]] = {
    _Family.GPT_IMAGE: 32000,
    _Family.DALL_E_2: 1000,
    _Family.DALL_E_3: 4000,
    _Family.QWEN: 32000,
    _Family.QWEN_EDIT: 32000,
    _Family.SEEDREAM: 32000,
}

# Simulator liberty: real models reject these small sizes (except dall-e-2), but tests and
# benchmarks want cheap images, so every model here accepts them.
_LIBERTY_SIZES: Final = ("512x512", "256x256")
_GPT_FIXED_SIZES: Final = ("1024x1024", "1536x1024", "1024x1536")
_DALL_E_2_SIZES: Final = ("256x256", "512x512", "1024x1024")
_DALL_E_3_SIZES: Final = ("1024x1024", "1792x1024", "1024x1792")
_QWEN_SIZES: Final = ("1328x1328", "1664x928", "1472x1104", "1104x1472", "928x1664", "1024x1024")
_SIZE_PATTERN: Final = re.compile(r"^\s*(\d{1,5})\s*[xX*]\s*(\d{1,5})\s*$")

# Output tokens of one 1024x1024 image by quality (OpenAI's table); scaled by area.
_GPT_OUTPUT_TOKENS: Final[Mapping[str, int]] = {"low": 272, "medium": 1056, "high": 4160}


@dataclass(frozen=True, slots=True)
class _Plan:
    """A validated generation request."""

    family: _Family
    model: str
    prompt: str
    count: int
    width: int
    height: int
    format: ImageFormat
    response_format: str
    quality: str = "standard"
    background: str = "opaque"

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def _parse_size(value: str) -> tuple[int, int] | None:
    match = _SIZE_PATTERN.match(value)
    if match is None:
        return None
    width, height = int(match[1]), int(match[2])
    return (width, height) if width > 0 and height > 0 else None


def _gpt_image_2_accepts(width: int, height: int) -> bool:
    """gpt-image-2's free sizes: sides divisible by 16, aspect within 3:1, at most 3840 on a
    side, and between 655,360 and 8,294,400 (3840x2160) pixels."""
    return (
        width % 16 == 0
        and height % 16 == 0
        and max(width, height) <= 3 * min(width, height)
        and max(width, height) <= 3840
        and 655_360 <= width * height <= 8_294_400
    )


def _choice(body: Mapping[str, Any], name: str, allowed: Sequence[str], default: str) -> str:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise invalid_value(name, value, allowed)
    return value


def _int_field(body: Mapping[str, Any], name: str, *, default: int, low: int, high: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    # bool is an int subclass; JSON true must not pass as 1.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise CometError(
            400,
            f"Invalid '{name}': expected an integer between {low} and {high}, "
            f"got {json.dumps(value)}.",
            param=name,
            code="invalid_value",
        )
    return value


def _size_field(
    body: Mapping[str, Any],
    *,
    allowed: Sequence[str],
    default: str,
    extra: Callable[[int, int], bool] | None = None,
) -> tuple[int, int]:
    value = body.get("size")
    if value is None or value == "auto":
        value = default
    if isinstance(value, str):
        parsed = _parse_size(value)
        if parsed is not None:
            label = f"{parsed[0]}x{parsed[1]}"
            if label in allowed or label in _LIBERTY_SIZES or (extra and extra(*parsed)):
                return parsed
    raise invalid_value("size", value, [*allowed, "auto"])


def _model_family(body: Mapping[str, Any]) -> tuple[str, _Family]:
    """The request's model and its family, or CometAPI's answer to a missing/unknown one."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise CometError(
            400, "model name is required", type="comet_api_error", code="invalid_request"
        )
    family = MODELS.get(model)
    if family is None:
        # new-api-derived gateways answer an unknown model this way; clients must treat
        # code model_not_found as fatal although the status is 503.
        raise CometError(
            503,
            f"No available channel for model {model} under group default",
            type="comet_api_error",
            code="model_not_found",
        )
    return model, family


def _checked_prompt(body: Mapping[str, Any], family: _Family) -> str:
    """The prompt, or OpenAI's answer to a missing or too long one."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise CometError(400, "Missing required parameter: 'prompt'.", param="prompt")
    limit = _PROMPT_LIMITS[family]
    if len(prompt) > limit:
        raise CometError(
            400,
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{limit}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )
    return prompt


def _plan_generation(body: Mapping[str, Any]) -> _Plan:
    """Validate a generations body the way CometAPI and the upstream model would."""
    model, family = _model_family(body)
    prompt = _checked_prompt(body, family)
    if family is _Family.GPT_IMAGE:
        return _plan_gpt_image(body, model, prompt)
    if family in (_Family.DALL_E_2, _Family.DALL_E_3):
        return _plan_dall_e(body, family, model, prompt)
    if family is _Family.QWEN:
        return _plan_qwen(body, model, prompt)
    if family is _Family.SEEDREAM:
        return _plan_seedream(body, model, prompt)
    raise CometError(
        400,
        f"Invalid value for 'model': {model} edits images; use /v1/images/edits.",
        param="model",
        code="invalid_value",
    )


def _plan_gpt_image(
    body: Mapping[str, Any],
    model: str,
    prompt: str,
    *,
    default_size: str = "1024x1024",
    qualities: Sequence[str] = ("low", "medium", "high", "auto"),
) -> _Plan:
    if "response_format" in body:
        # Stricter than OpenAI (which ignores it) on purpose: the client must not send it.
        raise CometError(
            400,
            "Unknown parameter: 'response_format'.",
            param="response_format",
            code="unknown_parameter",
        )
    if body.get("stream"):
        raise CometError(400, "Streaming is not supported by this server.", param="stream")
    count = _int_field(body, "n", default=1, low=1, high=10)
    output_format = _choice(body, "output_format", [f.value for f in ImageFormat], "png")
    _int_field(body, "output_compression", default=100, low=0, high=100)
    quality = _choice(body, "quality", qualities, "auto")
    background = _choice(body, "background", ["transparent", "opaque", "auto"], "auto")
    if background == "transparent" and output_format == "jpeg":
        raise CometError(
            400,
            "Transparent background is not supported for output_format 'jpeg'; "
            "use 'png' or 'webp'.",
            param="background",
            code="invalid_value",
        )
    flexible = _gpt_image_2_accepts if model.startswith("gpt-image-2") else None
    width, height = _size_field(
        body, allowed=_GPT_FIXED_SIZES, default=default_size, extra=flexible
    )
    return _Plan(
        family=_Family.GPT_IMAGE,
        model=model,
        prompt=prompt,
        count=count,
        width=width,
        height=height,
        format=ImageFormat(output_format),
        response_format="b64_json",
        # The response reports what was used, never "auto" ("standard" is an edits alias).
        quality="medium" if quality in ("auto", "standard") else quality,
        background="opaque" if background == "auto" else background,
    )


def _plan_dall_e(body: Mapping[str, Any], family: _Family, model: str, prompt: str) -> _Plan:
    response_format = _choice(body, "response_format", ["url", "b64_json"], "url")
    if family is _Family.DALL_E_3:
        count = _int_field(body, "n", default=1, low=1, high=1)
        quality = _choice(body, "quality", ["standard", "hd", "auto"], "standard")
        _choice(body, "style", ["vivid", "natural"], "vivid")
        width, height = _size_field(body, allowed=_DALL_E_3_SIZES, default="1024x1024")
    else:
        count = _int_field(body, "n", default=1, low=1, high=10)
        quality = _choice(body, "quality", ["standard", "auto"], "standard")
        width, height = _size_field(body, allowed=_DALL_E_2_SIZES, default="1024x1024")
    return _Plan(
        family=family,
        model=model,
        prompt=prompt,
        count=count,
        width=width,
        height=height,
        format=ImageFormat.PNG,
        response_format=response_format,
        quality="standard" if quality == "auto" else quality,
    )


def _plan_qwen(body: Mapping[str, Any], model: str, prompt: str) -> _Plan:
    count = body.get("n")
    if isinstance(count, int) and not isinstance(count, bool) and count > 1:
        raise CometError(400, "n>1 is not supported for qwen-image", param="n")
    _int_field(body, "n", default=1, low=1, high=1)
    width, height = _size_field(body, allowed=_QWEN_SIZES, default="1024x1024")
    return _Plan(
        family=_Family.QWEN,
        model=model,
        prompt=prompt,
        count=1,
        width=width,
        height=height,
        format=ImageFormat.PNG,
        response_format="b64_json",
    )


def _seedream_accepts(width: int, height: int) -> bool:
    # Looser than the real minimum (1280x720 pixels) so tests can ask for small images.
    return (
        256 <= width <= 4096
        and 256 <= height <= 4096
        and max(width, height) <= 16 * min(width, height)
    )


def _plan_seedream(body: Mapping[str, Any], model: str, prompt: str) -> _Plan:
    response_format = _choice(body, "response_format", ["url", "b64_json"], "url")
    size = body.get("size")
    if size in ("2K", "2k"):
        width, height = 2048, 2048
    elif size in ("4K", "4k"):
        width, height = 4096, 4096
    else:
        width, height = _size_field(
            body, allowed=["2K", "4K", "2048x2048"], default="2048x2048", extra=_seedream_accepts
        )
    # Seedream ignores `n`; several images come only from sequential generation.
    count = 1
    if body.get("sequential_image_generation") == "auto":
        options = body.get("sequential_image_generation_options")
        if not isinstance(options, Mapping):
            options = {}
        count = _int_field(options, "max_images", default=1, low=1, high=15)
    return _Plan(
        family=_Family.SEEDREAM,
        model=model,
        prompt=prompt,
        count=count,
        width=width,
        height=height,
        format=ImageFormat.JPEG,
        response_format=response_format,
    )


def _gpt_usage(plan: _Plan) -> dict[str, Any]:
    input_tokens = max(1, len(plan.prompt.split()))
    per_image = _GPT_OUTPUT_TOKENS[plan.quality] * plan.width * plan.height / (1024 * 1024)
    output_tokens = max(1, round(per_image)) * plan.count
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"image_tokens": 0, "text_tokens": input_tokens},
        "output_tokens": output_tokens,
        "output_tokens_details": {"image_tokens": output_tokens, "text_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def _response_head(plan: _Plan, created: int) -> dict[str, Any]:
    """Top-level fields of a 200 answer, everything but ``data``."""
    if plan.family is _Family.GPT_IMAGE:
        return {
            "created": created,
            "background": plan.background,
            "output_format": plan.format.value,
            "quality": plan.quality,
            "size": plan.size,
            "usage": _gpt_usage(plan),
        }
    if plan.family is _Family.SEEDREAM:
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
    base64 text spliced in verbatim, so megabytes of base64 are never re-escaped."""
    parts: list[bytes] = []
    for item in items:
        fields = []
        for key, value in item:
            encoded = (
                b'"' + value + b'"' if isinstance(value, bytes) else json.dumps(value).encode()
            )
            fields.append(json.dumps(key).encode() + b":" + encoded)
        parts.append(b"{" + b",".join(fields) + b"}")
    data = b'"data":[' + b",".join(parts) + b"]"
    head_json = json.dumps(dict(head)).encode()
    if head_json == b"{}":
        return b"{" + data + b"}"
    return head_json[:-1] + b"," + data + b"}"


# --------------------------------------------------------------------------------------
# Edits: the multipart form and its files


_IMAGE_PARTS: Final = ("image", "image[]")
_FILE_PARTS: Final = (*_IMAGE_PARTS, "mask")
_MAX_EDIT_IMAGES: Final = 16
_DALL_E_2_MAX_BYTES: Final = 4 * 1024 * 1024
# Input image tokens per uploaded picture by input_fidelity (rough, from OpenAI's pricing
# examples); only the usage numbers depend on them.
_EDIT_IMAGE_TOKENS: Final[Mapping[str, int]] = {"low": 194, "high": 4354}
# Pillow modes OpenAI accepts for a mask ("PA": a palette PNG with a transparent entry).
_MASK_MODES: Final = ("RGBA", "LA", "L", "PA")
_EDIT_FAMILIES: Final = (_Family.GPT_IMAGE, _Family.DALL_E_2, _Family.QWEN_EDIT)


@dataclass(frozen=True, slots=True)
class _FilePart:
    part: str
    """The form part's name: ``image``, ``image[]`` or ``mask``."""
    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class _Form:
    """A parsed multipart body: the last value of each text field, and the file parts."""

    fields: Mapping[str, str]
    images: Sequence[_FilePart]
    mask: _FilePart | None
    text_image: bool
    """An ``image`` part came as a plain text field rather than a file."""

    def upload_stats(self) -> UploadStats:
        formats = tuple(
            (fmt.value if (fmt := sniff_image(item.data)) else "unknown") for item in self.images
        )
        return UploadStats(
            images=len(self.images),
            mask=self.mask is not None,
            names=tuple(item.filename for item in self.images),
            parts=tuple(item.part for item in self.images),
            formats=formats,
        )


async def _read_form(request: web.Request) -> _Form | None:
    """Parse a multipart/form-data body; None when the body is not one (or is malformed).

    A urlencoded form (what a client sends when it forgot the files) is read for its fields,
    so that the answer can name the missing image.
    """
    if request.content_type == "application/x-www-form-urlencoded":
        posted = await request.post()
        plain = {name: value for name, value in posted.items() if isinstance(value, str)}
        return _Form(fields=plain, images=[], mask=None, text_image="image" in plain)
    if request.content_type != "multipart/form-data":
        return None
    fields: dict[str, str] = {}
    images: list[_FilePart] = []
    mask: _FilePart | None = None
    text_image = False
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.name in _FILE_PARTS and part.filename is not None:
                item = _FilePart(part=part.name, filename=part.filename, data=await part.read())
                if part.name == "mask":
                    mask = item
                else:
                    images.append(item)
            else:
                text_image = text_image or part.name in _FILE_PARTS
                fields[part.name] = await part.text()
    except (ValueError, AssertionError, UnicodeDecodeError):
        # aiohttp reports a malformed multipart body with these.
        return None
    return _Form(fields=fields, images=images, mask=mask, text_image=text_image)


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


def _check_edit_files(form: _Form, family: _Family) -> tuple[int, int]:
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
    limit = 1 if family is _Family.DALL_E_2 else _MAX_EDIT_IMAGES
    if len(form.images) > limit:
        raise CometError(
            400,
            f"Invalid 'image': too many images ({len(form.images)}); at most {limit}.",
            param="image",
            code="invalid_value",
        )
    first: tuple[int, int] | None = None
    for index, item in enumerate(form.images, start=1):
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
        if family is _Family.DALL_E_2 and (
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
        if first is None:
            first = (header[0], header[1])
    assert first is not None
    if form.mask is not None:
        header = image_header(form.mask.data)
        if sniff_image(form.mask.data) is not ImageFormat.PNG or header is None:
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
        if (header[0], header[1]) != first:
            raise CometError(
                400,
                "Invalid mask image format - mask size does not match image size",
                param="mask",
                code="invalid_image_format",
            )
    return first


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
    plan: _Plan
    images: int
    input_fidelity: str


def _plan_edit(form: _Form, *, max_side: int) -> _EditPlan:
    """Validate an edits form the way CometAPI and the upstream model would."""
    body = _form_body(form.fields)
    model, family = _model_family(body)
    if family not in _EDIT_FAMILIES:
        raise CometError(
            400,
            f"Invalid value for 'model' = {model}. Image edits support dall-e-2, the "
            "gpt-image models and qwen-image-edit.",
            param="model",
            code="invalid_value",
        )
    prompt = _checked_prompt(body, family)
    width, height = _check_edit_files(form, family)
    fidelity = _choice(body, "input_fidelity", ["high", "low"], "low")
    if family is _Family.GPT_IMAGE:
        if "input_fidelity" in body and model == "gpt-image-1-mini":
            raise CometError(
                400,
                "Unknown parameter: 'input_fidelity' is not supported for gpt-image-1-mini.",
                param="input_fidelity",
                code="unknown_parameter",
            )
        plan = _plan_gpt_image(
            body,
            model,
            prompt,
            default_size=_auto_size(width, height),
            qualities=("standard", "low", "medium", "high", "auto"),
        )
    elif family is _Family.DALL_E_2:
        plan = _plan_dall_e(body, family, model, prompt)
    else:
        plan = _plan_qwen(body, model, prompt)
        if body.get("size") in (None, "auto"):
            out_width, out_height = _capped(width, height, max_side)
            plan = replace(plan, width=out_width, height=out_height)
        plan = replace(plan, family=_Family.QWEN_EDIT)
    return _EditPlan(plan=plan, images=len(form.images), input_fidelity=fidelity)


def _edit_usage(edit: _EditPlan) -> dict[str, Any]:
    """GPT image edit usage as CometAPI returns it: padded with its gateway fields."""
    plan = edit.plan
    text_tokens = max(1, len(plan.prompt.split()))
    image_tokens = _EDIT_IMAGE_TOKENS[edit.input_fidelity] * edit.images
    per_image = _GPT_OUTPUT_TOKENS[plan.quality] * plan.width * plan.height / (1024 * 1024)
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


# --------------------------------------------------------------------------------------
# Handlers


@api_route
async def _generations(call: Call) -> web.StreamResponse:
    body = await admit_json(call)
    plan = _plan_generation(body)
    fault = await call.upstream(plan.prompt, billed=plan.count, style=ErrorStyle.COMET)
    _refuse_trigger(call, plan.prompt)
    payload = await _success_payload(call, plan, corrupt=fault is Fault.BAD_B64)
    call.stats._prompt(plan.prompt).billed += plan.count
    return await call.reply(payload, fault=fault)


@api_route
async def _edits(call: Call) -> web.StreamResponse:
    form = await _read_form(call.request)
    if form is not None:
        prompt = form.fields.get("prompt")
        call.count_prompt(prompt)
        if prompt:
            call.stats.uploads[prompt] = form.upload_stats()
    call.check_key()
    if form is None:
        raise CometError(
            400,
            f"Invalid Content-Type header ({call.request.content_type}), expected "
            "multipart/form-data.",
            type="comet_api_error",
            code="bad_request_body",
        )
    call.admit()
    edit = _plan_edit(form, max_side=call.config.max_image_side)
    plan = edit.plan
    fault = await call.upstream(plan.prompt, billed=plan.count, style=ErrorStyle.COMET)
    _refuse_trigger(call, plan.prompt)
    head: dict[str, Any] | None = None
    if plan.family is _Family.GPT_IMAGE:
        head = {"created": int(time.time()), "usage": _edit_usage(edit)}
    payload = await _success_payload(call, plan, corrupt=fault is Fault.BAD_B64, head=head)
    call.stats._prompt(plan.prompt).billed += plan.count
    return await call.reply(payload, fault=fault)


def _refuse_trigger(call: Call, prompt: str) -> None:
    if call.triggered(prompt):
        raise CometError(
            400,
            "Your request was rejected by the safety system. safety_violations=[sexual]",
            type="image_generation_user_error",
            code="moderation_blocked",
        )


async def _success_payload(
    call: Call, plan: _Plan, *, corrupt: bool, head: Mapping[str, Any] | None = None
) -> bytes:
    config = call.config
    first = variant_for(plan.prompt, config.image_variants)
    images: list[EncodedImage] = [
        await call.state.images.get(
            ImageSpec(
                width=plan.width,
                height=plan.height,
                format=plan.format,
                mode=config.image_mode,
                variant=(first + index) % config.image_variants,
            )
        )
        for index in range(plan.count)
    ]
    items: list[list[tuple[str, Any]]] = []
    for image in images:
        item: list[tuple[str, Any]] = []
        if plan.family is _Family.DALL_E_3:
            item.append(("revised_prompt", _revised_prompt(plan.prompt)))
        if plan.response_format == "url":
            item.append(("url", _publish(call, plan, image, corrupt=corrupt)))
        else:
            item.append(("b64_json", corrupt_b64(image.b64) if corrupt else image.b64))
        if plan.family is _Family.SEEDREAM:
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


def _publish(call: Call, plan: _Plan, image: EncodedImage, *, corrupt: bool) -> str:
    """Store *image* behind a fresh ``/files/`` URL shaped like the provider's links."""
    # dall-e-3 links end in .webp though the bytes are PNG, as CometAPI's rehosted ones do.
    extension = {_Family.DALL_E_3: "webp", _Family.SEEDREAM: "jpeg"}.get(plan.family, "png")
    data = NOT_AN_IMAGE if corrupt else image.data
    token = call.state.files.add(StoredFile(data=data, content_type=_URL_EXTENSIONS[extension]))
    url = f"{call.origin}/files/{token}.{extension}"
    if plan.family is _Family.SEEDREAM:
        # Signed links carry '&'; clients must keep them intact.
        url += f"?X-Tos-Algorithm=TOS4-HMAC-SHA256&X-Tos-Expires=86400&X-Tos-Signature={token}"
    return url


def is_edit_model(model: str) -> bool:
    """Whether ``/v1/images/edits`` accepts *model*."""
    return MODELS.get(model) in _EDIT_FAMILIES


def add_routes(app: web.Application) -> None:
    """Register the OpenAI-style image routes on *app*."""
    app.router.add_post("/v1/images/generations", _generations)
    app.router.add_post("/v1/images/edits", _edits)


def serves_generations(model: str) -> bool:
    """Whether ``/v1/images/generations`` accepts *model* (qwen-image-edit is edits only)."""
    family = MODELS.get(model)
    return family is not None and family is not _Family.QWEN_EDIT
