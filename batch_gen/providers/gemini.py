"""Gemini's native ``POST /v1beta/models/{model}:generateContent`` (docs/protocols/gemini.md).

Auth is ``x-goog-api-key`` (Google's header, which CometAPI accepts on this route); no
``Authorization`` header is sent. One call makes one image, so a job of ``n`` images is
``n`` requests.

How a job's fields become the body (:func:`generate_content_body`, pure):

- the prompt is the first part of one ``user`` turn; input images follow as
  ``inline_data`` parts (read and base64-encoded when the request is sent);
- ``size`` becomes ``imageConfig``: ``WxH`` → the closest supported ``aspectRatio`` and the
  smallest ``imageSize`` (1K/2K/4K) at least as long as the long side; ``1K``/``2K``/``4K``
  → ``imageSize``; ``W:H`` → ``aspectRatio``; ``auto`` → nothing. Anything else is passed
  as ``imageSize`` for the API to reject with its own message, rather than dropped;
- params ``aspectRatio``/``aspect_ratio``, ``imageSize``/``image_size`` and ``imageConfig``
  override what ``size`` implied;
- params that are ``generationConfig`` keys (either spelling: ``temperature``, ``seed``,
  ``thinkingConfig``, ...; or a whole ``generationConfig`` object) go inside it; every
  other param (``tools``, ``safetySettings``, ``systemInstruction``, ...) goes top-level;
- OpenAI-only fields (``quality``, ``output_format``, ``background``, ...) are dropped, as
  a manifest-wide default for the OpenAI models must not break a Gemini job; so is
  ``candidateCount`` (``n`` decides how many calls, and only one candidate is read).

Answers are HTTP 200 even when nothing was made: see :func:`parse_answer`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

import msgspec
import pybase64

from ..errors import (
    AuthenticationError,
    BadResponseError,
    ContentPolicyError,
    ModelNotFoundError,
    ProviderError,
)
from ..inputs import MIME_TYPES
from ..models import InputFile, Job
from .answers import billed_json, error_from_response, parse_error_body, redact
from .base import (
    Answer,
    ApiRequest,
    ApiSpec,
    Call,
    Generation,
    Poll,
    ReturnedImage,
    Synchronous,
    seed_field,
)
from .fields import OPENAI_ONLY, STEERING
from .sizes import size_config

ENDPOINT = "/v1beta/models/{model}:generateContent"


# Reasons (promptFeedback.blockReason or a candidate's finishReason) that mean a safety
# refusal: asking again gets the same answer. Anything else without an image (NO_IMAGE,
# OTHER, MAX_TOKENS, RECITATION, none) may succeed on another try.
POLICY_REASONS: Final = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
    }
)

_GENERATION_CONFIG_KEYS: Final = (
    "candidateCount",
    "frequencyPenalty",
    "logprobs",
    "maxOutputTokens",
    "mediaResolution",
    "presencePenalty",
    "responseLogprobs",
    "responseMimeType",
    "responseModalities",
    "seed",
    "speechConfig",
    "stopSequences",
    "temperature",
    "thinkingConfig",
    "topK",
    "topP",
)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# Google's REST API accepts both spellings of every field; sending both spellings of one
# is an error, so every known key is sent in its camelCase form.
_GENERATION_CONFIG: Final = {
    **{name: name for name in _GENERATION_CONFIG_KEYS},
    **{_snake(name): name for name in _GENERATION_CONFIG_KEYS},
}
_IMAGE_CONFIG_FIELDS: Final = {
    "aspectRatio": "aspectRatio",
    "aspect_ratio": "aspectRatio",
    "imageSize": "imageSize",
    "image_size": "imageSize",
}
# Handled elsewhere (the URL, the number of calls, imageConfig), or meant for other APIs.
_DROPPED: Final = (
    OPENAI_ONLY
    | STEERING
    | {
        "imageConfig",
        "image_config",
        "generationConfig",
        "generation_config",
        "contents",
        "candidateCount",
        "candidate_count",
    }
)


def generate_content_body(job: Job) -> dict[str, Any]:
    """The body asking for one image of ``job``, without its input images (pure).

    :func:`with_inline_images` adds those when the request is sent. Precedence within
    ``imageConfig``, lowest first: what ``size`` implies, a ``generationConfig.imageConfig``
    param, an ``imageConfig`` param, the ``aspectRatio``/``imageSize`` params.
    """
    request = job.request
    config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    image_config: dict[str, Any] = {}
    size = request.get("size")
    if isinstance(size, str):
        image_config.update(size_config(size))
    whole = request.get("generationConfig", request.get("generation_config"))
    if isinstance(whole, Mapping):
        for name, value in whole.items():
            if name in ("imageConfig", "image_config") and isinstance(value, Mapping):
                image_config.update(_image_fields(value))
            else:
                key = str(name)
                config[_GENERATION_CONFIG.get(key, key)] = value
    for name in ("imageConfig", "image_config"):
        if isinstance(request.get(name), Mapping):
            image_config.update(_image_fields(request[name]))
    top: dict[str, Any] = {}
    for name, value in request.items():
        if value is None or name in _DROPPED:
            continue
        if name in _IMAGE_CONFIG_FIELDS:
            image_config[_IMAGE_CONFIG_FIELDS[name]] = value
        elif name in _GENERATION_CONFIG:
            config[_GENERATION_CONFIG[name]] = value
        else:
            top[name] = value
    config.pop("candidateCount", None)  # one candidate per call: n decides how many calls
    if image_config:
        config["imageConfig"] = image_config
    return {
        **top,
        "contents": [{"role": "user", "parts": [{"text": job.prompt}]}],
        "generationConfig": config,
    }


def _image_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    return {_IMAGE_CONFIG_FIELDS.get(name, name): value for name, value in config.items()}


def with_inline_images(
    body: Mapping[str, Any], images: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """``body`` with ``(mime_type, base64)`` images appended to its user turn (pure)."""
    (turn,) = body["contents"]
    parts = [*turn["parts"], *({"inline_data": {"mime_type": m, "data": d}} for m, d in images)]
    return {**body, "contents": [{**turn, "parts": parts}]}


def encode_request(
    body: Mapping[str, Any], files: Sequence[InputFile], contents: Sequence[bytes]
) -> bytes:
    """The JSON bytes of ``body`` with the checked bytes of ``files`` inlined as base64.

    CPU-heavy with many references (14 images are tens of megabytes of base64): the
    request loop builds such calls in a thread.
    """
    images = [
        (MIME_TYPES.get(item.format, "image/png"), pybase64.b64encode(data).decode("ascii"))
        for item, data in zip(files, contents, strict=True)
    ]
    return msgspec.json.encode(with_inline_images(body, images) if images else body)


def claims_model(model: str) -> bool:
    """Gemini's image models: ``gemini-*image*``."""
    name = model.lower()
    return name.startswith("gemini") and "image" in name


def request_count(job: Job, images: int) -> int:
    """One call makes one image."""
    del job
    return max(images, 0)


SPEC = ApiSpec(
    api="gemini",
    endpoint=ENDPOINT,
    title="Gemini generateContent",
    manifest_name="gemini",
    claims_model=claims_model,
    max_inputs=14,  # docs/protocols/gemini.md: up to 14 reference images
    request_count=request_count,
    reseed=seed_field,  # docs/protocols/gemini.md
)


class Gemini(Synchronous):
    """Gemini image models: one synchronous call per image (see the module docstring)."""

    spec = SPEC

    def requests_for(self, job: Job, images: int) -> list[ApiRequest]:
        """``images`` requests of one image each, with the job's input images attached."""
        endpoint = ENDPOINT.format(model=quote(job.model, safe=""))
        return [
            ApiRequest(endpoint, generate_content_body(job), 1, files=job.inputs)
            for _ in range(max(images, 0))
        ]

    def build_call(
        self, request: ApiRequest, inputs: Sequence[bytes], prepared: Poll | None
    ) -> Call:
        del prepared
        payload = encode_request(request.body, request.files, inputs)
        # Google's header, not Bearer: CometAPI accepts it on this route.
        return Call("POST", request.endpoint, "Gemini request", data=payload, google_key=True)

    def read_answer(self, answer: Answer, request: ApiRequest, *, secret: str | None) -> Generation:
        if answer.status != 200:
            raise gemini_error(answer.status, answer.headers, answer.body, secret=secret)
        return parse_answer(answer.body, answer.headers.get("x-request-id"))


def gemini_error(
    status: int, headers: Mapping[str, str], body: bytes, *, secret: str | None
) -> ProviderError:
    """The shared classification (:func:`.answers.error_from_response`), plus two Google
    cases it does not know: a 404 on this route means the model is unknown (the path names
    nothing else), and Google rejects a bad key with 400 INVALID_ARGUMENT."""
    error = error_from_response(status, headers, body, secret=secret)
    message, _, _ = parse_error_body(body)
    message = redact(message, secret)
    common: dict[str, Any] = {
        "status": status,
        "code": error.code,
        "request_id": error.request_id,
        "retry_after": error.retry_after,
    }
    if status == 404 and not isinstance(error, ModelNotFoundError):
        return ModelNotFoundError(f"the model is not available on this route: {message}", **common)
    if status == 400 and re.search(r"API key not valid|API_KEY_INVALID", message):
        return AuthenticationError(message, **common)
    return error


def parse_answer(body: bytes, request_id: str | None = None) -> Generation:
    """The image of a 200 answer, or the reason there is none.

    Parts marked ``thought: true`` are drafts; the image is the last other part carrying
    ``inlineData`` (or ``inline_data``). Without one: a safety reason (see
    :data:`POLICY_REASONS`) is a permanent ContentPolicyError naming it; anything else is
    a retryable BadResponseError, marked ambiguous (input tokens were probably billed).
    """
    document = billed_json(body, request_id)
    if not isinstance(document, dict):
        raise BadResponseError("the answer is not a JSON object", ambiguous=True)
    error = document.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        status = code if isinstance(code, int) and 400 <= code < 600 else 400
        raise gemini_error(status, {}, body, secret=None)
    request_id = request_id or _text(document.get("responseId"))
    candidates = document.get("candidates")
    candidates = (
        [c for c in candidates if isinstance(c, dict)] if isinstance(candidates, list) else []
    )
    for candidate in candidates:
        image = _last_image(candidate)
        if image is not None:
            mime, data = image
            extra: dict[str, Any] = {"mime_type": mime}
            for name, key in (("finishReason", "finish_reason"), ("modelVersion", "model")):
                source = candidate if name == "finishReason" else document
                if isinstance(source.get(name), str):
                    extra[key] = source[name]
            return Generation(
                images=(ReturnedImage(b64=data),),
                usage=_usage(document.get("usageMetadata")),
                request_id=request_id,
                extra=extra,
            )
    raise _no_image(document, candidates, request_id)


def _last_image(candidate: Mapping[str, Any]) -> tuple[str, str] | None:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    found: tuple[str, str] | None = None
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict) or part.get("thought") is True:
            continue
        blob = part.get("inlineData", part.get("inline_data"))
        if isinstance(blob, dict) and isinstance(blob.get("data"), str) and blob["data"]:
            mime = blob.get("mimeType", blob.get("mime_type"))
            found = (mime if isinstance(mime, str) else "image/png", blob["data"])
    return found


def _no_image(
    document: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]], request_id: str | None
) -> ProviderError:
    feedback = document.get("promptFeedback")
    blocked = _text(feedback.get("blockReason")) if isinstance(feedback, dict) else None
    finish = _text(candidates[0].get("finishReason")) if candidates else None
    reason: str | None
    if blocked:
        where, reason = "the prompt was blocked", blocked
        detail = _text(feedback.get("blockReasonMessage")) if isinstance(feedback, dict) else None
    else:
        # The model's own words ("I can't create that image...") say more than the reason.
        where, reason = "no image was made", finish
        detail = " ".join(_said(candidates[0])[:3])[:300] if candidates else None
    message = f"Gemini: {where} ({reason or 'no reason given'})"
    if detail:
        message += f": {detail}"
    if reason in POLICY_REASONS:
        return ContentPolicyError(message, code=reason, request_id=request_id)
    return BadResponseError(message, code=reason, ambiguous=True, request_id=request_id)


def _said(candidate: Mapping[str, Any]) -> list[str]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [
        part["text"].strip()
        for part in (parts if isinstance(parts, list) else ())
        if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
    ]


def _usage(metadata: Any) -> dict[str, Any] | None:
    """``usageMetadata`` under batch_gen's token names, its own fields kept beside them.

    ``output_tokens`` is ``candidatesTokenCount`` (the image and its text) plus
    ``thoughtsTokenCount``: Google bills thinking tokens as output (docs/protocols/gemini.md),
    so they are priced as output too.
    """
    if not isinstance(metadata, dict):
        return None
    usage = dict(metadata)
    for ours, google in (
        ("input_tokens", "promptTokenCount"),
        ("output_tokens", "candidatesTokenCount"),
        ("total_tokens", "totalTokenCount"),
    ):
        value = metadata.get(google)
        if isinstance(value, int) and not isinstance(value, bool):
            usage[ours] = value
    thoughts = metadata.get("thoughtsTokenCount")
    if isinstance(thoughts, int) and not isinstance(thoughts, bool) and thoughts > 0:
        usage["output_tokens"] = usage.get("output_tokens", 0) + thoughts
    return usage


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
