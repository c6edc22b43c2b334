"""Gemini native image generation: ``POST /v1beta/models/{model}:generateContent``.

Models: ``gemini-3.1-flash-image-preview``, ``gemini-3-pro-image-preview`` (both "think":
their answer carries a draft image marked ``thought: true`` before the final one) and
``gemini-2.5-flash-image`` (no thinking: text then the image). Synchronous; auth as every
route (``x-goog-api-key`` included).

The request is read by :mod:`.gemini_request`; its prompt is what stats count and what
the trigger words are looked for in.

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
``500 invalid_request`` in the CometAPI envelope. Clients must parse both shapes. See
``docs/protocols/gemini.md``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.config import Fault
from batch_gen.simulator.content import contains_word
from batch_gen.simulator.errors import ErrorFamily, GoogleError, model_not_found
from batch_gen.simulator.faults import corrupt_b64
from batch_gen.simulator.gateway import Admission, Arrival, Body, Call, endpoint
from batch_gen.simulator.gemini_request import (
    MODELS,
    THINKING_MODELS,
    Plan,
    parse_contents,
    plan_request,
    upload_stats,
)
from batch_gen.simulator.images import ImageFormat, spec_for, variant_for
from batch_gen.simulator.routing import Route, SimApi

__all__ = ["API", "MODELS"]

# Google's published image token counts: 1290 per 1K/2K image, 2000 per 4K; 258 per input.
_IMAGE_OUTPUT_TOKENS: Final[Mapping[str, int]] = {"1K": 1290, "2K": 1290, "4K": 2000}
_INPUT_IMAGE_TOKENS: Final = 258
_THOUGHT_TOKENS: Final = 184


def _usage(plan: Plan, *, images: int, thoughts: bool) -> dict[str, Any]:
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


def _envelope(plan: Plan) -> dict[str, Any]:
    return {"modelVersion": plan.model, "responseId": secrets.token_urlsafe(16)}


def _text_answer(plan: Plan, text: str, finish: str) -> dict[str, Any]:
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


def _blocked(plan: Plan) -> dict[str, Any]:
    """The answer to the trigger word: no candidates, only the prompt's block reason."""
    tokens = max(1, len(plan.prompt.split()))
    return {
        "promptFeedback": {
            "blockReason": "SAFETY",
            "safetyRatings": [
                {**rating, "probability": "HIGH", "blocked": True} if index == 0 else rating
                for index, rating in enumerate(_SAFETY_RATINGS)
            ],
        },
        "usageMetadata": {"promptTokenCount": tokens, "totalTokenCount": tokens},
        **_envelope(plan),
    }


async def _image_answer(call: Call, plan: Plan, *, corrupt: bool) -> dict[str, Any]:
    """A text part, for thinking models a smaller draft marked ``thought``, the image."""
    config = call.config
    variant = variant_for(plan.prompt, config.image_variants)
    final = await call.state.images.get(
        spec_for(
            config,
            plan.prompt,
            width=plan.width,
            height=plan.height,
            format=ImageFormat.PNG,
            variant=variant,
        )
    )
    parts: list[dict[str, Any]] = [{"text": "Here is the image you asked for."}]
    thinking = plan.model in THINKING_MODELS
    if thinking:
        # A smaller, different draft: a client that takes the first image gets it wrong.
        draft = await call.state.images.get(
            spec_for(
                config,
                plan.prompt,
                width=max(1, plan.width // 2),
                height=max(1, plan.height // 2),
                format=ImageFormat.PNG,
                variant=(variant + 1) % config.image_variants,
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
    return {
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


def _arrival(call: Call) -> Arrival:
    """Counted under the last user turn's text, with its reference images; a body Google
    would reject is counted under no prompt (and refused after the gateway's checks)."""
    if call.body is None:
        return Arrival(None)
    try:
        prompt, references = parse_contents(call.body)
    except GoogleError:
        return Arrival(None)
    return Arrival(prompt, upload_stats(references) if references else None)


async def _generate_content(call: Call) -> web.StreamResponse:
    model = call.request.match_info["model"]
    if model not in MODELS:
        # The gateway picks a channel before anything reaches Google.
        raise model_not_found(model)
    prompt, references = parse_contents(call.json)
    plan = plan_request(call.json, model, prompt, references, max_side=call.config.max_image_side)
    fault = await call.upstream(plan.prompt, billed=1 if plan.wants_image else 0)
    if call.triggered(plan.prompt):
        return await call.reply(_blocked(plan), fault=fault)
    if contains_word(plan.prompt, call.config.gemini_no_image_word):
        text = "I can't create that image. Try describing something else."
        return await call.reply(_text_answer(plan, text, "IMAGE_SAFETY"), fault=fault)
    if not plan.wants_image:
        text = f"Here is a description of {plan.prompt.strip()[:80] or 'the picture'}."
        return await call.reply(_text_answer(plan, text, "STOP"), fault=fault)
    # Billed before rendering: a client that hangs up meanwhile is charged all the same.
    call.stats._billed(plan.prompt, 1)
    answer = await _image_answer(call, plan, corrupt=fault is Fault.BAD_B64)
    return await call.reply(answer, fault=fault)


ADMISSION: Final = Admission(family=ErrorFamily.GOOGLE, body=Body.JSON, arrival=_arrival)
API: Final = SimApi(
    routes=(
        Route(
            "POST",
            r"/v1beta/models/{model:[^/:]+}:generateContent",
            endpoint(ADMISSION, _generate_content),
        ),
    )
)
