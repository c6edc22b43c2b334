"""Reading a Gemini ``generateContent`` request: its prompt, reference images and
``generationConfig``, validated the way Google does (pure: a body in, a :class:`Plan` or a
400 :class:`GoogleError` out). See ``docs/protocols/gemini.md``.

``contents[].parts[]`` carry ``text`` and reference images as ``inline_data`` /
``inlineData`` (``mime_type`` / ``mimeType``, raw base64; a ``data:`` URI is tolerated),
at most 14 images, each sniffed by its bytes. ``generationConfig`` (or
``generation_config``) may set ``responseModalities`` and ``imageConfig`` with
``aspectRatio`` (default: the first reference image's shape, else 1:1) and ``imageSize``
1K/2K/4K (ignored by 2.5, which is always 1K). The long side is 1024/2048/4096, capped at
``max_image_side``. The prompt is the text of the last user turn (parts joined by
newlines).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from batch_gen.simulator.content import (
    decode_base64_image,
    format_label,
    image_header,
    size_for_ratio,
    sniff_image,
)
from batch_gen.simulator.errors import GoogleError
from batch_gen.simulator.stats import UploadStats

MODELS: Final = (
    "gemini-3.1-flash-image-preview",
    "gemini-3-pro-image-preview",
    "gemini-2.5-flash-image",
)
THINKING_MODELS: Final = frozenset(MODELS[:2])
_ASPECT_RATIOS: Final = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
_IMAGE_SIZES: Final[Mapping[str, int]] = {"1K": 1024, "2K": 2048, "4K": 4096}
_MAX_REFERENCE_IMAGES: Final = 14
_BAD_IMAGE: Final = (
    "Unable to process input image. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting"
)


@dataclass(frozen=True, slots=True)
class Reference:
    field: str
    """How it came: ``inline_data``, ``inlineData``, ``file_data`` or ``fileData``."""
    data: bytes | None
    """Decoded bytes (None for a ``file_data`` URI, which is not fetched)."""


@dataclass(frozen=True, slots=True)
class Plan:
    model: str
    prompt: str
    references: Sequence[Reference]
    wants_image: bool
    width: int
    height: int
    tier: str


def _get(mapping: Mapping[str, Any], camel: str, snake: str) -> Any:
    """A field under either spelling (Google's REST API accepts both)."""
    return mapping[camel] if camel in mapping else mapping.get(snake)


def parse_contents(body: Mapping[str, Any]) -> tuple[str, list[Reference]]:
    """The last user turn's text and every reference image, or a 400 GoogleError."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise GoogleError(400, "* GenerateContentRequest.contents: contents is not specified")
    prompt = ""
    references: list[Reference] = []
    for index, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, Mapping) else None
        if not isinstance(parts, list) or not parts:
            raise GoogleError(
                400,
                f"* GenerateContentRequest.contents[{index}].parts: contents.parts must "
                "not be empty.",
            )
        role = content.get("role", "user")
        if role not in ("user", "model"):
            raise GoogleError(400, f"Please use a valid role: user, model. Got {role!r}.")
        texts: list[str] = []
        for part in parts:
            if not isinstance(part, Mapping):
                raise GoogleError(
                    400,
                    f"* GenerateContentRequest.contents[{index}].parts: "
                    "each part must be an object",
                )
            if isinstance(text := part.get("text"), str):
                texts.append(text)
            for camel, snake in (("inlineData", "inline_data"), ("fileData", "file_data")):
                blob = _get(part, camel, snake)
                if blob is None:
                    continue
                field = camel if camel in part else snake
                references.append(_parse_blob(blob, field, inline=camel == "inlineData"))
        if role == "user" and texts:
            prompt = "\n".join(texts)
    if len(references) > _MAX_REFERENCE_IMAGES:
        raise GoogleError(
            400,
            f"Too many input images: {len(references)}. At most {_MAX_REFERENCE_IMAGES} "
            "images are supported.",
        )
    return prompt, references


def _parse_blob(blob: Any, field: str, *, inline: bool) -> Reference:
    if not isinstance(blob, Mapping):
        raise GoogleError(400, f"Invalid value at '{field}': expected an object.")
    if not inline:
        uri = _get(blob, "fileUri", "file_uri")
        if not isinstance(uri, str) or not uri:
            raise GoogleError(400, f"Invalid value at '{field}.file_uri': a URI is required.")
        return Reference(field=field, data=None)
    data = blob.get("data")
    mime = _get(blob, "mimeType", "mime_type")
    if not isinstance(data, str) or not data or not isinstance(mime, str):
        raise GoogleError(400, f"Invalid value at '{field}': mime_type and data are required.")
    decoded = decode_base64_image(data)
    if decoded is None:
        raise GoogleError(
            400, f"Invalid value at '{field}.data' (TYPE_BYTES), Base64 decoding failed."
        )
    if sniff_image(decoded) is None or image_header(decoded) is None:
        raise GoogleError(400, _BAD_IMAGE)
    return Reference(field=field, data=decoded)


def plan_request(
    body: Mapping[str, Any],
    model: str,
    prompt: str,
    references: Sequence[Reference],
    *,
    max_side: int,
) -> Plan:
    """Validate ``generationConfig`` and work out the output size."""
    config = _get(body, "generationConfig", "generation_config") or {}
    if not isinstance(config, Mapping):
        raise GoogleError(400, "Invalid value at 'generation_config': expected an object.")
    wants_image = _wants_image(_get(config, "responseModalities", "response_modalities"))
    image_config = _get(config, "imageConfig", "image_config") or {}
    if not isinstance(image_config, Mapping):
        raise GoogleError(400, "Invalid value at 'generation_config.image_config'.")
    ratio = _get(image_config, "aspectRatio", "aspect_ratio")
    if ratio is not None and ratio not in _ASPECT_RATIOS:
        raise GoogleError(
            400,
            f"Unsupported aspect ratio {ratio!r}. Supported values are: "
            + ", ".join(_ASPECT_RATIOS),
        )
    tier = _get(image_config, "imageSize", "image_size")
    if tier is not None and tier not in _IMAGE_SIZES:
        raise GoogleError(
            400, f"Unsupported image size {tier!r}. Supported values are: 1K, 2K, 4K."
        )
    if model not in THINKING_MODELS or tier is None:
        tier = "1K"
    long_side = min(_IMAGE_SIZES[tier], max_side)
    if ratio is None:
        # Gemini keeps the shape of the first reference image unless told otherwise.
        first = next((ref.data for ref in references if ref.data is not None), None)
        header = image_header(first) if first is not None else None
        ratio = f"{header[0]}:{header[1]}" if header else "1:1"
    size = size_for_ratio(ratio, long_side) or (long_side, long_side)
    return Plan(
        model=model,
        prompt=prompt,
        references=references,
        wants_image=wants_image,
        width=size[0],
        height=size[1],
        tier=tier,
    )


def _wants_image(modalities: Any) -> bool:
    """Whether ``responseModalities`` (absent: yes) asks for an image."""
    if modalities is None:
        return True
    if not isinstance(modalities, list) or not all(isinstance(m, str) for m in modalities):
        raise GoogleError(400, "Invalid value at 'generation_config.response_modalities'.")
    upper = [m.upper() for m in modalities]
    if unknown := [m for m in upper if m not in ("TEXT", "IMAGE")]:
        raise GoogleError(
            400,
            f"Invalid value at 'generation_config.response_modalities[0]' "
            f"(type.googleapis.com/google.ai.generativelanguage.v1beta.Modality), "
            f'"{unknown[0]}"',
        )
    return "IMAGE" in upper


def upload_stats(references: Sequence[Reference]) -> UploadStats:
    """What stats record of the reference images."""
    return UploadStats(
        images=len(references),
        mask=False,
        parts=tuple(ref.field for ref in references),
        formats=tuple(format_label(ref.data) for ref in references),
    )
