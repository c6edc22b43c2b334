"""Validation of OpenAI-style image requests, shared by generations and edits: the models
and their families, field checks, and a :class:`Plan` per family (pure: a body in, a plan
or a :class:`CometError` out). See ``docs/protocols/openai.md``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from batch_gen.simulator.errors import CometError, invalid_value, model_not_found
from batch_gen.simulator.images import ImageFormat


class Family(Enum):
    GPT_IMAGE = "gpt-image"
    DALL_E_2 = "dall-e-2"
    DALL_E_3 = "dall-e-3"
    QWEN = "qwen-image"
    QWEN_EDIT = "qwen-image-edit"
    SEEDREAM = "seedream"


MODELS: Final[Mapping[str, Family]] = {
    "gpt-image-1": Family.GPT_IMAGE,
    "gpt-image-1-mini": Family.GPT_IMAGE,
    "gpt-image-1.5": Family.GPT_IMAGE,
    "gpt-image-2": Family.GPT_IMAGE,
    "gpt-image-2-2026-04-21": Family.GPT_IMAGE,
    "chatgpt-image-latest": Family.GPT_IMAGE,
    "dall-e-2": Family.DALL_E_2,
    "dall-e-3": Family.DALL_E_3,
    "qwen-image": Family.QWEN,
    "qwen-image-edit": Family.QWEN_EDIT,
    "doubao-seedream-4-5-251128": Family.SEEDREAM,
    "doubao-seedream-5-0-260128": Family.SEEDREAM,
}

_PROMPT_LIMITS: Final[Mapping[Family, int]] = {
    Family.GPT_IMAGE: 32000,
    Family.DALL_E_2: 1000,
    Family.DALL_E_3: 4000,
    Family.QWEN: 32000,
    Family.QWEN_EDIT: 32000,
    Family.SEEDREAM: 32000,
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


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated generation request."""

    family: Family
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


def choice(body: Mapping[str, Any], name: str, allowed: Sequence[str], default: str) -> str:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise invalid_value(name, value, allowed)
    return value


def int_field(body: Mapping[str, Any], name: str, *, default: int, low: int, high: int) -> int:
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


def model_family(body: Mapping[str, Any]) -> tuple[str, Family]:
    """The request's model and its family, or CometAPI's answer to a missing/unknown one."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise CometError(
            400, "model name is required", type="comet_api_error", code="invalid_request"
        )
    family = MODELS.get(model)
    if family is None:
        raise model_not_found(model)
    return model, family


def checked_prompt(body: Mapping[str, Any], family: Family) -> str:
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


def plan_gpt_image(
    body: Mapping[str, Any],
    model: str,
    prompt: str,
    *,
    default_size: str = "1024x1024",
    qualities: Sequence[str] = ("low", "medium", "high", "auto"),
) -> Plan:
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
    count = int_field(body, "n", default=1, low=1, high=10)
    output_format = choice(body, "output_format", [f.value for f in ImageFormat], "png")
    int_field(body, "output_compression", default=100, low=0, high=100)
    quality = choice(body, "quality", qualities, "auto")
    background = choice(body, "background", ["transparent", "opaque", "auto"], "auto")
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
    return Plan(
        family=Family.GPT_IMAGE,
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


def plan_dall_e(body: Mapping[str, Any], family: Family, model: str, prompt: str) -> Plan:
    response_format = choice(body, "response_format", ["url", "b64_json"], "url")
    if family is Family.DALL_E_3:
        count = int_field(body, "n", default=1, low=1, high=1)
        quality = choice(body, "quality", ["standard", "hd", "auto"], "standard")
        choice(body, "style", ["vivid", "natural"], "vivid")
        width, height = _size_field(body, allowed=_DALL_E_3_SIZES, default="1024x1024")
    else:
        count = int_field(body, "n", default=1, low=1, high=10)
        quality = choice(body, "quality", ["standard", "auto"], "standard")
        width, height = _size_field(body, allowed=_DALL_E_2_SIZES, default="1024x1024")
    return Plan(
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


def plan_qwen(body: Mapping[str, Any], model: str, prompt: str) -> Plan:
    count = body.get("n")
    if isinstance(count, int) and not isinstance(count, bool) and count > 1:
        raise CometError(400, "n>1 is not supported for qwen-image", param="n")
    int_field(body, "n", default=1, low=1, high=1)
    width, height = _size_field(body, allowed=_QWEN_SIZES, default="1024x1024")
    return Plan(
        family=Family.QWEN,
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


def plan_seedream(body: Mapping[str, Any], model: str, prompt: str) -> Plan:
    response_format = choice(body, "response_format", ["url", "b64_json"], "url")
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
        count = int_field(options, "max_images", default=1, low=1, high=15)
    return Plan(
        family=Family.SEEDREAM,
        model=model,
        prompt=prompt,
        count=count,
        width=width,
        height=height,
        format=ImageFormat.JPEG,
        response_format=response_format,
    )


EDIT_FAMILIES: Final = (Family.GPT_IMAGE, Family.DALL_E_2, Family.QWEN_EDIT)


def is_edit_model(model: str) -> bool:
    """Whether ``/v1/images/edits`` accepts *model*."""
    return MODELS.get(model) in EDIT_FAMILIES


def serves_generations(model: str) -> bool:
    """Whether ``/v1/images/generations`` accepts *model* (qwen-image-edit is edits only)."""
    family = MODELS.get(model)
    return family is not None and family is not Family.QWEN_EDIT
