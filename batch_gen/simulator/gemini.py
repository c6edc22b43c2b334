"""Gemini native image generation: ``POST /v1beta/models/{model}:generateContent``.

Models: ``gemini-3.1-flash-image-preview``, ``gemini-3-pro-image-preview`` (both "think":
their answer carries a draft image marked ``thought: true`` before the final one) and
``gemini-2.5-flash-image`` (no thinking: text then the image). Synchronous; auth as every
route (``x-goog-api-key`` included).

Request: ``contents[].parts[]`` with ``text`` and reference images as ``inline_data`` /
``inlineData`` (``mime_type`` / ``mimeType``, raw base64; a ``data:`` URI is tolerated),
at most 14 images, each sniffed by its bytes. ``generationConfig`` (or
``generation_config``) may set ``responseModalities`` and ``imageConfig`` with
``aspectRatio`` (default: the first reference image's shape, else 1:1) and ``imageSize``
1K/2K/4K (ignored by 2.5, which is always 1K). The long side is 1024/2048/4096, capped at
``config.max_image_side``. The prompt used for stats and triggers is the text of the last
user turn (parts joined by newlines).

Answers, all HTTP 200 unless the request is invalid:

- success: ``candidates[0].content.parts`` = a text part, [a ``thought: true`` image],
  the final image (``inlineData`` PNG, with ``thoughtSignature``); ``finishReason: STOP``;
  ``usageMetadata``; billed 1.
- trigger word: no ``candidates``, only ``promptFeedback.blockReason: "SAFETY"`` (not
  billed).
- ``config.gemini_no_image_word``: ``finishReason: "IMAGE_SAFETY"`` and a text part only
  (not billed).
- ``responseModalities: ["TEXT"]``: a text part only (not billed).

Errors: a body or field Google rejects → 400 ``{"error":{"code":400,"message",
"status":"INVALID_ARGUMENT"}}``; an unknown model is refused by the gateway first → 503
CometAPI envelope ``model_not_found``; injected 429/500/503/504 come Google-style, 401 and
``500 invalid_request`` in the CometAPI envelope. Clients must parse both shapes.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.common import (
    Call,
    CometError,
    ErrorStyle,
    GoogleError,
    api_route,
    contains_word,
    corrupt_b64,
    decode_base64_image,
    image_header,
    read_json_object,
    size_for_ratio,
    sniff_image,
)
from batch_gen.simulator.config import Fault
from batch_gen.simulator.images import ImageFormat, ImageSpec, variant_for
from batch_gen.simulator.state import UploadStats

MODELS: Final = (
    "gemini-3.1-flash-image-preview",
    "gemini-3-pro-image-preview",
    "gemini-2.5-flash-image",
)
_THINKING_MODELS: Final = frozenset(MODELS[:2])
_ASPECT_RATIOS: Final = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
_IMAGE_SIZES: Final[Mapping[str, int]] = {"1K": 1024, "2K": 2048, "4K": 4096}
_MAX_REFERENCE_IMAGES: Final = 14
# Google's published image token counts: 1290 per 1K/2K image, 2000 per 4K; 258 per input.
_IMAGE_OUTPUT_TOKENS: Final[Mapping[str, int]] = {"1K": 1290, "2K": 1290, "4K": 2000}
_INPUT_IMAGE_TOKENS: Final = 258
_THOUGHT_TOKENS: Final = 184
_BAD_IMAGE: Final = (
    "Unable to process input image. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting"
)


@dataclass(frozen=True, slots=True)
class _Reference:
    field: str
    """How it came: ``inline_data``, ``inlineData``, ``file_data`` or ``fileData``."""
    data: bytes | None
    """Decoded bytes (None for a ``file_data`` URI, which is not fetched)."""


@dataclass(frozen=True, slots=True)
class _Plan:
    model: str
    prompt: str
    references: Sequence[_Reference]
    wants_image: bool
    width: int
    height: int
    tier: str


def _get(mapping: Mapping[str, Any], camel: str, snake: str) -> Any:
    """A field under either spelling (Google's REST API accepts both)."""
    return mapping[camel] if camel in mapping else mapping.get(snake)


def _parse_contents(body: Mapping[str, Any]) -> tuple[str, list[_Reference]]:
    """The last user turn's text and every reference image, or a 400 GoogleError."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise GoogleError(400, "* GenerateContentRequest.contents: contents is not specified")
    prompt = ""
    references: list[_Reference] = []
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


def _parse_blob(blob: Any, field: str, *, inline: bool) -> _Reference:
    if not isinstance(blob, Mapping):
        raise GoogleError(400, f"Invalid value at '{field}': expected an object.")
    if not inline:
        uri = _get(blob, "fileUri", "file_uri")
        if not isinstance(uri, str) or not uri:
            raise GoogleError(400, f"Invalid value at '{field}.file_uri': a URI is required.")
        return _Reference(field=field, data=None)
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
    return _Reference(field=field, data=decoded)


def _plan(
    body: Mapping[str, Any],
    model: str,
    prompt: str,
    references: Sequence[_Reference],
    *,
    max_side: int,
) -> _Plan:
    """Validate ``generationConfig`` and work out the output size."""
    config = _get(body, "generationConfig", "generation_config") or {}
    if not isinstance(config, Mapping):
        raise GoogleError(400, "Invalid value at 'generation_config': expected an object.")
    modalities = _get(config, "responseModalities", "response_modalities")
    wants_image = True
    if modalities is not None:
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
        wants_image = "IMAGE" in upper
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
    if model not in _THINKING_MODELS or tier is None:
        tier = "1K"
    long_side = min(_IMAGE_SIZES[tier], max_side)
    if ratio is None:
        # Gemini keeps the shape of the first reference image unless told otherwise.
        first = next((ref.data for ref in references if ref.data is not None), None)
        header = image_header(first) if first is not None else None
        ratio = f"{header[0]}:{header[1]}" if header else "1:1"
    size = size_for_ratio(ratio, long_side) or (long_side, long_side)
    return _Plan(
        model=model,
        prompt=prompt,
        references=references,
        wants_image=wants_image,
        width=size[0],
        height=size[1],
        tier=tier,
    )


def _upload_stats(references: Sequence[_Reference]) -> UploadStats:
    formats: list[str] = []
    for ref in references:
        if ref.data is None:
            formats.append("url")
        else:
            fmt = sniff_image(ref.data)
            formats.append(fmt.value if fmt else "unknown")
    return UploadStats(
        images=len(references),
        mask=False,
        parts=tuple(ref.field for ref in references),
        formats=tuple(formats),
    )


def _usage(plan: _Plan, *, images: int, thoughts: bool) -> dict[str, Any]:
    prompt_tokens = max(1, len(plan.prompt.split())) + _INPUT_IMAGE_TOKENS * len(plan.references)
    candidates = 12 + _IMAGE_OUTPUT_TOKENS[plan.tier] * images
    usage: dict[str, Any] = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt_tokens + candidates,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
    }
    if thoughts:
        usage["thoughtsTokenCount"] = _THOUGHT_TOKENS
        usage["totalTokenCount"] += _THOUGHT_TOKENS
    return usage


_SAFETY_RATINGS: Final = [
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"},
]


def _envelope(plan: _Plan) -> dict[str, Any]:
    return {"modelVersion": plan.model, "responseId": secrets.token_urlsafe(16)}


def _text_answer(plan: _Plan, text: str, finish: str) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": finish,
                "index": 0,
            }
        ],
        "usageMetadata": _usage(plan, images=0, thoughts=False),
        **_envelope(plan),
    }


@api_route
async def _generate_content(call: Call) -> web.StreamResponse:
    model = call.request.match_info["model"]
    body = await read_json_object(call.request)
    # Parsed once, before the key check, so stats see the prompt of any request; a
    # malformed body is reported only after the gateway's own checks, as Google would.
    parsed: tuple[str, list[_Reference]] | GoogleError | None = None
    if body is not None:
        try:
            parsed = _parse_contents(body)
        except GoogleError as error:
            parsed = error
        else:
            prompt, references = parsed
            call.count_prompt(prompt)
            if prompt and references:
                call.stats.uploads[prompt] = _upload_stats(references)
    call.check_key()
    if body is None or parsed is None:
        raise GoogleError(400, "Invalid JSON payload received. Expected a JSON object.")
    call.admit()
    if model not in MODELS:
        # The gateway picks a channel before anything reaches Google.
        raise CometError(
            503,
            f"No available channel for model {model} under group default",
            type="comet_api_error",
            code="model_not_found",
        )
    if isinstance(parsed, GoogleError):
        raise parsed
    plan = _plan(body, model, *parsed, max_side=call.config.max_image_side)
    billed = 1 if plan.wants_image else 0
    fault = await call.upstream(plan.prompt, billed=billed, style=ErrorStyle.GOOGLE)
    if call.triggered(plan.prompt):
        blocked = {
            "promptFeedback": {
                "blockReason": "SAFETY",
                "safetyRatings": [
                    {**rating, "probability": "HIGH", "blocked": True} if index == 0 else rating
                    for index, rating in enumerate(_SAFETY_RATINGS)
                ],
            },
            "usageMetadata": {
                "promptTokenCount": max(1, len(plan.prompt.split())),
                "totalTokenCount": max(1, len(plan.prompt.split())),
            },
            **_envelope(plan),
        }
        return await call.reply(blocked, fault=fault)
    if contains_word(plan.prompt, call.config.gemini_no_image_word):
        text = "I can't create that image. Try describing something else."
        return await call.reply(_text_answer(plan, text, "IMAGE_SAFETY"), fault=fault)
    if not plan.wants_image:
        text = f"Here is a description of {plan.prompt.strip()[:80] or 'the picture'}."
        return await call.reply(_text_answer(plan, text, "STOP"), fault=fault)

    config = call.config
    variant = variant_for(plan.prompt, config.image_variants)
    final = await call.state.images.get(
        ImageSpec(plan.width, plan.height, ImageFormat.PNG, config.image_mode, variant)
    )
    corrupt = fault is Fault.BAD_B64
    parts: list[dict[str, Any]] = [{"text": "Here is the image you asked for."}]
    thinking = plan.model in _THINKING_MODELS
    if thinking:
        # A smaller, different draft: a client that takes the first image gets it wrong.
        draft = await call.state.images.get(
            ImageSpec(
                max(1, plan.width // 2),
                max(1, plan.height // 2),
                ImageFormat.PNG,
                config.image_mode,
                (variant + 1) % config.image_variants,
            )
        )
        parts.append(
            {
                "inlineData": {"mimeType": "image/png", "data": draft.b64.decode()},
                "thought": True,
            }
        )
    data = corrupt_b64(final.b64) if corrupt else final.b64
    image_part: dict[str, Any] = {"inlineData": {"mimeType": "image/png", "data": data.decode()}}
    if thinking:
        image_part["thoughtSignature"] = secrets.token_urlsafe(48)
    parts.append(image_part)
    answer = {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": "STOP",
                "index": 0,
                "safetyRatings": _SAFETY_RATINGS,
            }
        ],
        "usageMetadata": _usage(plan, images=1, thoughts=thinking),
        **_envelope(plan),
    }
    call.stats._prompt(plan.prompt).billed += 1
    return await call.reply(answer, fault=fault)


def add_routes(app: web.Application) -> None:
    """Register the Gemini route on *app*."""
    app.router.add_post(r"/v1beta/models/{model:[^/:]+}:generateContent", _generate_content)
