"""CometAPI's OpenAI-compatible ``POST /v1/images/generations`` (docs/protocols/openai.md).

The field policy is pure and per model family, because the gateway forwards to very
different upstreams: GPT image models always answer in base64 and reject
``response_format``; DALL·E models take ``response_format`` and their own qualities;
qwen-image refuses ``n > 1``, so such a job becomes n single requests. Each family's
documented prompt length and sizes are checked before anything is sent (:func:`max_prompt`
and :func:`limits`, shared with the edits route); a model no source documents is not limited.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from ..errors import BadResponseError
from ..models import Job
from .answers import error_from_response
from .base import (
    Answer,
    ApiRequest,
    ApiSpec,
    Call,
    Generation,
    Poll,
    ReturnedImage,
    Synchronous,
)
from .lifted import Lifted, decode_lifting

ENDPOINT = "/v1/images/generations"

# Fields each family does not accept; sending them gets a 400 from the upstream.
_GPT_IMAGE_DROPS = frozenset({"response_format", "style"})
_GPT_IMAGE_ONLY = frozenset(
    {"output_format", "output_compression", "background", "moderation", "partial_images"}
)
_DALLE_QUALITIES = {"dall-e-2": frozenset({"standard"}), "dall-e-3": frozenset({"standard", "hd"})}
# Streaming would change the response into SSE, which a batch client has no use for.
_NEVER_SEND = frozenset({"stream", "partial_images"})


def model_family(model: str) -> str:
    """``gpt-image``, ``dall-e``, ``qwen-image`` or ``other``, from the model id."""
    name = model.lower()
    if name.startswith(("gpt-image", "chatgpt-image")):
        return "gpt-image"
    if name.startswith("dall-e"):
        return "dall-e"
    if name.startswith("qwen-image"):
        return "qwen-image"
    return "other"


# --- documented limits (docs/protocols/openai.md, "Limits") ------------------------------

# The most characters a prompt may have, by exact model, then by family.
_PROMPT_LIMITS: Final[Mapping[str, int]] = {"dall-e-2": 1000, "dall-e-3": 4000}
_GPT_IMAGE_PROMPT_LIMIT: Final = 32_000
# The sizes each model makes, by model id prefix; "auto" is the model's default size.
_FIXED_SIZES: Final[Mapping[str, tuple[str, ...]]] = {
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
    "gpt-image-1": ("1024x1024", "1536x1024", "1024x1536"),  # and gpt-image-1-mini, -1.5
}
_FREE_SIZES_PREFIX: Final = "gpt-image-2"  # also dated and later gpt-image-2 names
_FREE_SIZE: Final = re.compile(r"(\d+)x(\d+)")
_FREE_MULTIPLE: Final = 16
_FREE_MAX_RATIO: Final = 3
_FREE_MAX_SIDE, _FREE_MAX_PIXELS = 3840, 3840 * 2160


@functools.lru_cache(maxsize=256)  # a manifest names a few models, 100,000 times over
def prompt_limit(model: str) -> int | None:
    """The most characters a prompt for ``model`` may have; None when undocumented."""
    name = model.lower()
    if name in _PROMPT_LIMITS:
        return _PROMPT_LIMITS[name]
    return _GPT_IMAGE_PROMPT_LIMIT if model_family(model) == "gpt-image" else None


@functools.lru_cache(maxsize=1024)  # and a few sizes
def size_problem(model: str, size: str) -> str | None:
    """Why ``model`` cannot make ``size``, or None when it can or its sizes are undocumented.

    ``auto`` (the model's default) is always accepted; gpt-image-2 takes any ``WxH`` with
    sides divisible by 16, the long side at most 3 times the short one and 3840 pixels,
    and at most 3840x2160 pixels in all.
    """
    name = model.lower()
    if size == "auto":
        return None
    if name.startswith(_FREE_SIZES_PREFIX):
        reason = _free_size_reason(size)
        return None if reason is None else f"{model} cannot make size {size!r}: {reason}"
    fixed = next((sizes for prefix, sizes in _FIXED_SIZES.items() if name.startswith(prefix)), None)
    if fixed is None or size in fixed:
        return None
    return f"{model} cannot make size {size!r}: use {', '.join(fixed)} or auto"


def _free_size_reason(size: str) -> str | None:
    match = _FREE_SIZE.fullmatch(size)
    if match is None:
        return "write it as WIDTHxHEIGHT (e.g. 1536x1024), or auto"
    long_side, short_side = sorted((int(match[1]), int(match[2])), reverse=True)
    if short_side == 0 or short_side % _FREE_MULTIPLE or long_side % _FREE_MULTIPLE:
        return f"both sides must be multiples of {_FREE_MULTIPLE}"
    if long_side > _FREE_MAX_RATIO * short_side:
        return f"the long side may be at most {_FREE_MAX_RATIO} times the short one"
    if long_side > _FREE_MAX_SIDE or long_side * short_side > _FREE_MAX_PIXELS:
        return (
            f"at most {_FREE_MAX_SIDE} pixels on the long side and {_FREE_MAX_PIXELS:,} in all "
            "(3840x2160)"
        )
    return None


def max_prompt(request: Mapping[str, Any]) -> int | None:
    """The most characters a prompt for the job's model may have; None when undocumented."""
    return prompt_limit(str(request.get("model", "")))


def limits(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The size the job's model documents, as (field, message) problems."""
    size = request.get("size")
    if not isinstance(size, str):
        return []
    reason = size_problem(str(request.get("model", "")), size)
    return [] if reason is None else [("size", reason)]


# --- request bodies --------------------------------------------------------------------


def request_body(job: Job, images: int) -> dict[str, Any]:
    """The JSON body asking for ``images`` images of ``job``, with only accepted fields."""
    body: dict[str, Any] = {"prompt": job.prompt}
    family = model_family(job.model)
    for name, value in job.request.items():
        if name in _NEVER_SEND or value is None:
            continue
        if family == "gpt-image" and name in _GPT_IMAGE_DROPS:
            continue
        if family == "dall-e" and name in _GPT_IMAGE_ONLY:
            continue
        if (
            family == "dall-e"
            and name == "quality"
            and value not in _DALLE_QUALITIES.get(job.model.lower(), frozenset())
        ):
            continue  # a manifest-wide "quality: low" means nothing to DALL-E; don't fail on it
        body[name] = value
    if images == 1:
        body.pop("n", None)  # 1 is every model's default; some gateways reject n at all
    else:
        body["n"] = images
    return body


def request_count(job: Job, images: int) -> int:
    """Requests for ``images`` more images: one, or one per image where n must be 1."""
    if images <= 0:
        return 0
    return images if one_image_per_request(job.model) else 1


def one_image_per_request(model: str) -> bool:
    """qwen-image refuses n > 1 and dall-e-3 allows only n = 1: split such jobs."""
    return model_family(model) == "qwen-image" or model.lower() == "dall-e-3"


def claims_model(model: str) -> bool:
    """Every model no other API claims: the generations route is the fallback."""
    del model
    return True


SPEC = ApiSpec(
    api="openai.generations",
    endpoint=ENDPOINT,
    title="OpenAI-compatible generations",
    manifest_name="openai",
    claims_model=claims_model,
    switches={"image": "openai.edits"},
    request_count=request_count,
    prompt_limit=max_prompt,
    limits=limits,
)


class OpenAIImages(Synchronous):
    """The generations route; see the module docstring for the field policy."""

    spec = SPEC

    def requests_for(self, job: Job, images: int) -> list[ApiRequest]:
        """One request for all images, or one per image where the model can't batch."""
        if images <= 0:
            return []
        if one_image_per_request(job.model):
            return [ApiRequest(ENDPOINT, request_body(job, 1), 1) for _ in range(images)]
        return [ApiRequest(ENDPOINT, request_body(job, images), images)]

    def build_call(
        self, request: ApiRequest, inputs: Sequence[bytes], prepared: Poll | None
    ) -> Call:
        del inputs, prepared  # no input files on this route, nothing prepared
        return Call("POST", request.endpoint, "image request", json=request.body)

    def read_answer(self, answer: Answer, request: ApiRequest, *, secret: str | None) -> Generation:
        return read_generation(answer, secret=secret)


def read_generation(answer: Answer, *, secret: str | None) -> Generation:
    """An OpenAI-style images answer (generations and edits): the images, or the error its
    status stands for."""
    if answer.status != 200:
        raise error_from_response(answer.status, answer.headers, answer.body, secret=secret)
    return parse_generation(answer.body, answer.headers.get("x-request-id"))


def parse_generation(body: bytes, request_id: str | None = None) -> Generation:
    """Parse a 200 answer; a body without a usable image is a retryable BadResponseError.

    Such an answer was probably billed, so the error is marked ambiguous. An error envelope
    inside a 200 (some gateways do this) is translated like an error status.
    """
    try:
        # The base64 of the images stays as the answer's bytes (see lifted.py).
        lifted = decode_lifting(body, "b64_json", ("data",))
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BadResponseError(
            "the answer is not valid JSON (truncated?)", ambiguous=True, request_id=request_id
        ) from exc
    document = lifted.document
    if not isinstance(document, dict):
        raise BadResponseError("the answer is not a JSON object", ambiguous=True)
    if "error" in document and not document.get("data"):
        raise error_from_response(400, {}, body, secret=None)
    items = document.get("data")
    if not isinstance(items, list) or not items:
        raise BadResponseError("the answer carries no image", ambiguous=True, request_id=request_id)
    images = tuple(_parse_item(item, request_id, lifted) for item in items)
    usage = document.get("usage")
    created = document.get("created")
    extra = {
        name: document[name]
        for name in ("output_format", "size", "quality", "background", "model")
        if name in document
    }
    return Generation(
        images=images,
        usage=usage if isinstance(usage, Mapping) else None,
        created=created if isinstance(created, int) else None,
        request_id=request_id,
        extra=extra,
    )


def _parse_item(item: Any, request_id: str | None, lifted: Lifted) -> ReturnedImage:
    if not isinstance(item, dict):
        raise BadResponseError("an image entry is not an object", ambiguous=True)
    revised = item.get("revised_prompt")
    revised_prompt = revised if isinstance(revised, str) and revised else None
    encoded = item.get("b64_json")
    raw = lifted.value(encoded)
    if raw is not None and len(raw):
        return ReturnedImage(b64=raw, revised_prompt=revised_prompt)
    if isinstance(encoded, str) and encoded and raw is None:
        return ReturnedImage(b64=encoded, revised_prompt=revised_prompt)
    url = item.get("url")
    if isinstance(url, str) and url:
        return ReturnedImage(url=url, revised_prompt=revised_prompt)
    raise BadResponseError(
        "an image entry has neither b64_json nor url", ambiguous=True, request_id=request_id
    )
