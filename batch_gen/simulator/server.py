"""A CometAPI-compatible image server (aiohttp.web) for offline runs, tests and benchmarks.

Routes (all responses carry ``x-request-id``):

- ``POST /v1/images/generations`` — CometAPI's OpenAI-style generations route. Auth by
  ``Authorization: Bearer <key>``, bare ``Authorization: <key>`` or ``x-goog-api-key``.
- ``GET /files/<token>.<ext>`` — images of ``url`` results (no auth, like a CDN). The
  extension, and the Content-Type derived from it, may not match the real encoding (dall-e-3
  URLs end in ``.webp`` but serve PNG, as CometAPI's rehosting does): clients must sniff.
- ``GET /_sim/stats`` (JSON of :class:`SimStats`) and ``POST /_sim/reset`` — no auth.
- ``GET /`` — a small HTML landing page; any other path or method answers 301 with an HTML
  body and ``Location: /``, as CometAPI does for wrong paths (not a JSON 404).

How a generation request is answered, in order: the request is counted (for
:class:`SimStats`); the key is checked (401); the body must be a JSON object (400); the
rpm window may refuse it (429); the fields are validated (400, or 503 ``model_not_found``);
a scripted or random fault is chosen; 401/429 faults answer at once, every other outcome
first waits the configured latency; then the trigger word is refused (400
``moderation_blocked``, not billed) and otherwise the images are generated and billed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from enum import Enum
from types import TracebackType
from typing import Any, Final, Self

from aiohttp import web

from batch_gen.simulator.config import Fault, RetryAfterMode, SimulatorConfig
from batch_gen.simulator.images import (
    EncodedImage,
    ImageCache,
    ImageFormat,
    ImageSpec,
    variant_for,
)

# --------------------------------------------------------------------------------------
# Statistics


@dataclass(slots=True)
class PromptStats:
    """Counters for one prompt."""

    requests: int = 0
    """Arrivals at the generations route whose body carried this prompt."""
    billed: int = 0
    """Images generated and charged: n per 200, and also n per 504/524/drop/truncate/bad
    base64, because the work was done even though the client got nothing usable."""


@dataclass(slots=True, eq=False)
class SimStats:
    """What the simulator saw: the proof that nothing was paid for twice.

    Mutated in place by the server (and by :meth:`clear` on reset), so a reference taken
    before a run stays valid. All counters cover the generations route only.
    """

    total_requests: int = 0
    """Every arrival, parseable or not."""
    rate_limited: int = 0
    """429s from the rpm window (injected 429 faults are counted in :attr:`faults`)."""
    in_flight: int = 0
    max_concurrent: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    """Responses by HTTP status; a dropped connection has none and counts only in faults."""
    faults: dict[str, int] = field(default_factory=dict)
    """Injected faults by :class:`Fault` value (scripted or random)."""
    prompts: dict[str, PromptStats] = field(default_factory=dict)
    arrivals: list[float] = field(default_factory=list)
    """``time.monotonic()`` of every arrival, in order."""

    def requests_for(self, prompt: str) -> int:
        """Number of requests that carried exactly *prompt*."""
        entry = self.prompts.get(prompt)
        return entry.requests if entry else 0

    def billed_for(self, prompt: str) -> int:
        """Number of images billed for exactly *prompt*."""
        entry = self.prompts.get(prompt)
        return entry.billed if entry else 0

    @property
    def total_billed(self) -> int:
        """Images billed over all prompts."""
        return sum(entry.billed for entry in self.prompts.values())

    def max_arrivals_in(self, window: float) -> int:
        """The largest number of arrivals inside any half-open interval of *window* seconds."""
        best = 0
        start = 0
        for end, arrived in enumerate(self.arrivals):
            while arrived - self.arrivals[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready snapshot (what ``GET /_sim/stats`` returns)."""
        return {
            "total_requests": self.total_requests,
            "total_billed": self.total_billed,
            "rate_limited": self.rate_limited,
            "in_flight": self.in_flight,
            "max_concurrent": self.max_concurrent,
            "by_status": {str(status): count for status, count in self.by_status.items()},
            "faults": dict(self.faults),
            "prompts": {
                prompt: {"requests": entry.requests, "billed": entry.billed}
                for prompt, entry in self.prompts.items()
            },
            "arrivals": list(self.arrivals),
        }

    def clear(self) -> None:
        """Forget everything except requests in flight right now."""
        self.total_requests = 0
        self.rate_limited = 0
        self.max_concurrent = self.in_flight
        self.by_status.clear()
        self.faults.clear()
        self.prompts.clear()
        self.arrivals.clear()

    def _arrive(self) -> None:
        self.total_requests += 1
        self.arrivals.append(time.monotonic())
        self.in_flight += 1
        self.max_concurrent = max(self.max_concurrent, self.in_flight)

    def _prompt(self, prompt: str) -> PromptStats:
        entry = self.prompts.get(prompt)
        if entry is None:
            entry = self.prompts[prompt] = PromptStats()
        return entry

    def _count(self, table: dict[Any, int], key: Any) -> None:
        table[key] = table.get(key, 0) + 1


# --------------------------------------------------------------------------------------
# Errors and wire helpers


class _ApiError(Exception):
    """An error answer in CometAPI's envelope; raised by validation, turned into a response."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str = "",
        code: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def response(self, request_id: str) -> web.Response:
        body = {
            "error": {
                "message": f"{self.message} (request id: {request_id})",
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }
        return _json_response(body, status=self.status, headers=self.headers)


def _json_response(
    payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def _invalid_value(param: str, value: object, allowed: Sequence[str]) -> _ApiError:
    choices = ", ".join(f"'{choice}'" for choice in allowed)
    return _ApiError(
        400,
        f"Invalid value: {json.dumps(value)}. Supported values are: {choices}.",
        param=param,
        code="invalid_value",
    )


def _retry_headers(mode: RetryAfterMode, seconds: float) -> dict[str, str]:
    """The 429 retry hint for *seconds* in the configured form."""
    if mode is RetryAfterMode.SECONDS:
        return {"Retry-After": str(max(0, math.ceil(seconds)))}
    if mode is RetryAfterMode.MS:
        return {"retry-after-ms": str(max(0, round(seconds * 1000)))}
    if mode is RetryAfterMode.DATE:
        # HTTP dates have whole seconds; round up so the hint never promises too early.
        return {"Retry-After": formatdate(math.ceil(time.time() + seconds), usegmt=True)}
    return {}


_MOVED_HTML: Final = (
    "<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n"
    "<center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_CLOUDFLARE_524_HTML: Final = (
    '<!DOCTYPE html>\n<html lang="en-US">\n<head>\n<meta charset="UTF-8" />\n'
    "<title>api.cometapi.com | 524: A timeout occurred</title>\n</head>\n<body>\n"
    '<div id="cf-wrapper"><div id="cf-error-details">\n'
    "<h1>A timeout occurred</h1> <span>Error code 524</span>\n"
    "<p>The origin web server timed out responding to this request.</p>\n"
    '<p>Visit <a href="https://www.cloudflare.com/5xx-error-landing">cloudflare.com</a> '
    "for more information.</p>\n</div></div>\n</body>\n</html>\n"
)
_LANDING_HTML: Final = (
    "<!DOCTYPE html>\n<html><head><title>CometAPI simulator</title></head>\n<body>"
    "<h1>batch_gen CometAPI simulator</h1>"
    "<p>POST /v1/images/generations &middot; GET /_sim/stats &middot; POST /_sim/reset</p>"
    "</body></html>\n"
)

# --------------------------------------------------------------------------------------
# Request validation (pure: a JSON body in, a plan or an _ApiError out)


class _Family(Enum):
    GPT_IMAGE = "gpt-image"
    DALL_E_2 = "dall-e-2"
    DALL_E_3 = "dall-e-3"
    QWEN = "qwen-image"
    SEEDREAM = "seedream"


_MODELS: Final[Mapping[str, _Family]] = {
    "gpt-image-1": _Family.GPT_IMAGE,
    "gpt-image-1-mini": _Family.GPT_IMAGE,
    "gpt-image-1.5": _Family.GPT_IMAGE,
    "gpt-image-2": _Family.GPT_IMAGE,
    "gpt-image-2-2026-04-21": _Family.GPT_IMAGE,
    "chatgpt-image-latest": _Family.GPT_IMAGE,
    "dall-e-2": _Family.DALL_E_2,
    "dall-e-3": _Family.DALL_E_3,
    "qwen-image": _Family.QWEN,
    "doubao-seedream-4-5-251128": _Family.SEEDREAM,
    "doubao-seedream-5-0-260128": _Family.SEEDREAM,
}

_PROMPT_LIMITS: Final[Mapping[_Family, int]] = {
    _Family.GPT_IMAGE: 32000,
    _Family.DALL_E_2: 1000,
    _Family.DALL_E_3: 4000,
    _Family.QWEN: 32000,
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
        raise _invalid_value(name, value, allowed)
    return value


def _int_field(body: Mapping[str, Any], name: str, *, default: int, low: int, high: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    # bool is an int subclass; JSON true must not pass as 1.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _ApiError(
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
    raise _invalid_value("size", value, [*allowed, "auto"])


def _plan_generation(body: Mapping[str, Any]) -> _Plan:
    """Validate a generations body the way CometAPI and the upstream model would."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _ApiError(
            400, "model name is required", type="comet_api_error", code="invalid_request"
        )
    family = _MODELS.get(model)
    if family is None:
        # new-api-derived gateways answer an unknown model this way; clients must treat
        # code model_not_found as fatal although the status is 503.
        raise _ApiError(
            503,
            f"No available channel for model {model} under group default",
            type="comet_api_error",
            code="model_not_found",
        )
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _ApiError(400, "Missing required parameter: 'prompt'.", param="prompt")
    limit = _PROMPT_LIMITS[family]
    if len(prompt) > limit:
        raise _ApiError(
            400,
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{limit}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )
    if family is _Family.GPT_IMAGE:
        return _plan_gpt_image(body, model, prompt)
    if family in (_Family.DALL_E_2, _Family.DALL_E_3):
        return _plan_dall_e(body, family, model, prompt)
    if family is _Family.QWEN:
        return _plan_qwen(body, model, prompt)
    return _plan_seedream(body, model, prompt)


def _plan_gpt_image(body: Mapping[str, Any], model: str, prompt: str) -> _Plan:
    if "response_format" in body:
        # Stricter than OpenAI (which ignores it) on purpose: the client must not send it.
        raise _ApiError(
            400,
            "Unknown parameter: 'response_format'.",
            param="response_format",
            code="unknown_parameter",
        )
    if body.get("stream"):
        raise _ApiError(400, "Streaming is not supported by this server.", param="stream")
    count = _int_field(body, "n", default=1, low=1, high=10)
    output_format = _choice(body, "output_format", [f.value for f in ImageFormat], "png")
    _int_field(body, "output_compression", default=100, low=0, high=100)
    quality = _choice(body, "quality", ["low", "medium", "high", "auto"], "auto")
    background = _choice(body, "background", ["transparent", "opaque", "auto"], "auto")
    if background == "transparent" and output_format == "jpeg":
        raise _ApiError(
            400,
            "Transparent background is not supported for output_format 'jpeg'; "
            "use 'png' or 'webp'.",
            param="background",
            code="invalid_value",
        )
    flexible = _gpt_image_2_accepts if model.startswith("gpt-image-2") else None
    width, height = _size_field(body, allowed=_GPT_FIXED_SIZES, default="1024x1024", extra=flexible)
    return _Plan(
        family=_Family.GPT_IMAGE,
        model=model,
        prompt=prompt,
        count=count,
        width=width,
        height=height,
        format=ImageFormat(output_format),
        response_format="b64_json",
        # The response reports what was used, never "auto".
        quality="medium" if quality == "auto" else quality,
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
        raise _ApiError(400, "n>1 is not supported for qwen-image", param="n")
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


def _corrupt_b64(b64: bytes) -> bytes:
    """Base64 text no decoder accepts: its length is 1 more than a multiple of 4."""
    return b64[: (len(b64) // 8) * 4 + 1]


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
# Server state


@dataclass(frozen=True, slots=True)
class _StoredFile:
    data: bytes
    content_type: str


class _FileStore:
    """Bounded store behind ``/files/``; the oldest links expire first, as real ones do."""

    def __init__(self, *, max_entries: int) -> None:
        self._files: OrderedDict[str, _StoredFile] = OrderedDict()
        self._max_entries = max_entries

    def add(self, stored: _StoredFile) -> str:
        token = secrets.token_urlsafe(16)
        self._files[token] = stored
        while len(self._files) > self._max_entries:
            self._files.popitem(last=False)
        return token

    def get(self, token: str) -> _StoredFile | None:
        return self._files.get(token)


_URL_EXTENSIONS: Final[Mapping[str, str]] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}
# Served by url results with the bad_b64 fault: a 200 that is not an image at all.
_NOT_AN_IMAGE: Final = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>\n"
)


class _SimState:
    """Everything mutable behind one app: stats, RNG, rpm window, scripts, caches."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.stats = SimStats()
        self.images = ImageCache(max_bytes=config.image_cache_bytes)
        self.files = _FileStore(max_entries=4096)
        self._request_numbers = itertools.count(1)
        self.rng = random.Random(config.seed)
        self._admitted: deque[float] = deque()
        self._script_positions: dict[str, int] = {}

    def reset(self) -> None:
        """Back to a freshly started server (the image cache survives: it is pure)."""
        self.stats.clear()
        self.rng = random.Random(self.config.seed)
        self._admitted.clear()
        self._script_positions.clear()

    def new_request_id(self) -> str:
        # Shaped like new-api's ids: a UTC timestamp followed by digits.
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        return f"{stamp}{next(self._request_numbers) % 1_000_000:06d}{secrets.randbelow(10**6):06d}"

    def admit(self) -> float | None:
        """Admit one request into the rpm window, or return the seconds until it could be."""
        capacity = self.config.rpm_window_capacity
        if capacity == 0:
            return None
        now = time.monotonic()
        window = self.config.rpm_window
        while self._admitted and self._admitted[0] <= now - window:
            self._admitted.popleft()
        if len(self._admitted) >= capacity:
            return self._admitted[0] + window - now
        self._admitted.append(now)
        return None

    def next_fault(self, prompt: str) -> Fault:
        """The fault for this request of *prompt*: its script first, else a random draw."""
        for key, steps in self.config.scripts.items():
            if key in prompt:
                position = self._script_positions.get(prompt, 0)
                self._script_positions[prompt] = position + 1
                return Fault(steps[position]) if position < len(steps) else Fault.OK
        probabilities = self.config.fault_probabilities()
        if not any(p for _, p in probabilities):
            return Fault.OK
        draw = self.rng.random()
        for fault, probability in probabilities:
            if draw < probability:
                return fault
            draw -= probability
        return Fault.OK

    def latency(self) -> float:
        config = self.config
        jitter = self.rng.uniform(0.0, config.latency_jitter) if config.latency_jitter else 0.0
        return config.latency + jitter


CONFIG_KEY: Final = web.AppKey("batch_gen.simulator.config", SimulatorConfig)
STATE_KEY: Final = web.AppKey("batch_gen.simulator.state", _SimState)
_REQUEST_ID: Final = "batch_gen.simulator.request_id"

# --------------------------------------------------------------------------------------
# Handlers


class _NoAnswer(web.Response):
    """Returned after the connection was closed on purpose: nothing reaches the client."""


def _presented_key(request: web.Request) -> str:
    authorization = request.headers.get("Authorization", "").strip()
    if authorization:
        scheme, _, rest = authorization.partition(" ")
        return rest.strip() if scheme.lower() == "bearer" else authorization
    return request.headers.get("x-goog-api-key", "").strip()


def _check_key(request: web.Request, config: SimulatorConfig) -> None:
    # The messages never include the presented key.
    key = _presented_key(request)
    if not key:
        raise _ApiError(401, "no token provided", type="comet_api_error")
    if config.api_key is not None and not secrets.compare_digest(
        key.encode(), config.api_key.encode()
    ):
        raise _ApiError(401, "invalid token", type="comet_api_error")


def _rate_limit_error(config: SimulatorConfig, wait: float) -> _ApiError:
    return _ApiError(
        429,
        f"Rate limit reached for requests. Please try again in {wait:.3g}s.",
        type="comet_api_error",
        code="rate_limit_exceeded",
        headers=_retry_headers(config.retry_after, wait),
    )


_FAULT_ERRORS: Final[Mapping[Fault, tuple[int, str, str]]] = {
    Fault.SERVER_ERROR: (500, "Internal server error, please retry later", ""),
    Fault.INVALID_REQUEST_500: (500, "invalid request: upstream rejected it", "invalid_request"),
    Fault.UNAVAILABLE: (503, "upstream load is saturated, please retry later", ""),
    Fault.GATEWAY_TIMEOUT: (504, "upstream request timed out", ""),
}


async def _generations(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    stats = state.stats
    stats._arrive()
    try:
        response = await _answer_generation(request, state)
    finally:
        stats.in_flight -= 1
    if not isinstance(response, _NoAnswer):
        stats._count(stats.by_status, response.status)
    return response


async def _answer_generation(request: web.Request, state: _SimState) -> web.StreamResponse:
    config = state.config
    stats = state.stats
    request_id: str = request[_REQUEST_ID]
    raw = await request.read()
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = None
    elif isinstance(prompt := body.get("prompt"), str) and prompt:
        stats._prompt(prompt).requests += 1
    try:
        _check_key(request, config)
        if body is None:
            raise _ApiError(
                400,
                "invalid request body: expected a JSON object",
                type="comet_api_error",
                code="bad_request_body",
            )
        wait = state.admit()
        if wait is not None:
            stats.rate_limited += 1
            raise _rate_limit_error(config, wait)
        plan = _plan_generation(body)
        fault = state.next_fault(plan.prompt)
        if fault is not Fault.OK:
            stats._count(stats.faults, fault.value)
        if fault is Fault.UNAUTHORIZED:
            raise _ApiError(401, "invalid token", type="comet_api_error")
        if fault is Fault.RATE_LIMIT:
            raise _rate_limit_error(config, config.retry_after_seconds)
        if delay := state.latency():
            await asyncio.sleep(delay)
        if fault in _FAULT_ERRORS:
            status, message, code = _FAULT_ERRORS[fault]
            if fault.billed:
                stats._prompt(plan.prompt).billed += plan.count
            raise _ApiError(status, message, type="comet_api_error", code=code)
        if fault is Fault.CLOUDFLARE_TIMEOUT:
            # Cloudflare gave up waiting; the origin finished the (billed) work anyway.
            stats._prompt(plan.prompt).billed += plan.count
            return web.Response(status=524, text=_CLOUDFLARE_524_HTML, content_type="text/html")
        if fault is Fault.DROP:
            stats._prompt(plan.prompt).billed += plan.count
            if request.transport is not None:
                request.transport.close()
            return _NoAnswer()
        trigger = config.trigger_word
        if trigger and trigger.lower() in plan.prompt.lower():
            raise _ApiError(
                400,
                "Your request was rejected by the safety system. safety_violations=[sexual]",
                type="image_generation_user_error",
                code="moderation_blocked",
            )
        payload = await _success_payload(request, state, plan, corrupt=fault is Fault.BAD_B64)
        stats._prompt(plan.prompt).billed += plan.count
        if fault is Fault.TRUNCATE:
            return await _send_truncated(request, payload, request_id)
        return web.Response(body=payload, content_type="application/json")
    except _ApiError as error:
        return error.response(request_id)


async def _success_payload(
    request: web.Request, state: _SimState, plan: _Plan, *, corrupt: bool
) -> bytes:
    config = state.config
    first = variant_for(plan.prompt, config.image_variants)
    images: list[EncodedImage] = [
        await state.images.get(
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
            item.append(("url", _publish(request, state, plan, image, corrupt=corrupt)))
        else:
            item.append(("b64_json", _corrupt_b64(image.b64) if corrupt else image.b64))
        if plan.family is _Family.SEEDREAM:
            item.append(("size", plan.size))
        items.append(item)
    return _json_with_data(_response_head(plan, int(time.time())), items)


def _publish(
    request: web.Request, state: _SimState, plan: _Plan, image: EncodedImage, *, corrupt: bool
) -> str:
    """Store *image* behind a fresh ``/files/`` URL shaped like the provider's links."""
    # dall-e-3 links end in .webp though the bytes are PNG, as CometAPI's rehosted ones do.
    extension = {_Family.DALL_E_3: "webp", _Family.SEEDREAM: "jpeg"}.get(plan.family, "png")
    data = _NOT_AN_IMAGE if corrupt else image.data
    token = state.files.add(_StoredFile(data=data, content_type=_URL_EXTENSIONS[extension]))
    url = f"{request.url.origin()}/files/{token}.{extension}"
    if plan.family is _Family.SEEDREAM:
        # Signed links carry '&'; clients must keep them intact.
        url += f"?X-Tos-Algorithm=TOS4-HMAC-SHA256&X-Tos-Expires=86400&X-Tos-Signature={token}"
    return url


async def _send_truncated(
    request: web.Request, payload: bytes, request_id: str
) -> web.StreamResponse:
    """Promise the whole payload in Content-Length, send half, then close the connection."""
    response = web.StreamResponse(status=200, headers={"x-request-id": request_id})
    response.content_type = "application/json"
    response.content_length = len(payload)
    await response.prepare(request)
    await response.write(payload[: len(payload) // 2])
    if request.transport is not None:
        # close() (not abort()) flushes what was written before closing.
        request.transport.close()
    return response


async def _get_file(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    stored = request.app[STATE_KEY].files.get(token)
    if stored is None:
        return web.Response(status=404, text="Not Found")
    return web.Response(body=stored.data, content_type=stored.content_type)


async def _get_stats(request: web.Request) -> web.StreamResponse:
    return _json_response(request.app[STATE_KEY].stats.to_json())


async def _post_reset(request: web.Request) -> web.StreamResponse:
    request.app[STATE_KEY].reset()
    return _json_response({"ok": True})


async def _landing(request: web.Request) -> web.StreamResponse:
    return web.Response(text=_LANDING_HTML, content_type="text/html")


def _moved() -> web.Response:
    return web.Response(
        status=301, text=_MOVED_HTML, content_type="text/html", headers={"Location": "/"}
    )


@web.middleware
async def _envelope(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Give every request an id, echo it in ``x-request-id``, and turn unknown routes into
    CometAPI's 301 HTML answer."""
    request_id = request.app[STATE_KEY].new_request_id()
    request[_REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        response = _moved()
    except web.HTTPException as exc:
        exc.headers["x-request-id"] = request_id
        raise
    if not response.prepared:
        response.headers["x-request-id"] = request_id
    return response


def create_app(config: SimulatorConfig | None = None) -> web.Application:
    """Build the simulator's application; its state lives in ``app[STATE_KEY]``.

    The app may be served once, by :class:`Simulator`, ``aiohttp_server`` or any runner.
    """
    config = config or SimulatorConfig()
    # Room for large JSON bodies (edits with inline images come later); default is 1 MiB.
    app = web.Application(middlewares=[_envelope], client_max_size=64 * 1024 * 1024)
    app[CONFIG_KEY] = config
    app[STATE_KEY] = _SimState(config)
    app.router.add_post("/v1/images/generations", _generations)
    app.router.add_get(r"/files/{token:[A-Za-z0-9_-]+}.{ext:[a-z]+}", _get_file)
    app.router.add_get("/_sim/stats", _get_stats)
    app.router.add_post("/_sim/reset", _post_reset)
    app.router.add_get("/", _landing)
    return app


# --------------------------------------------------------------------------------------
# Running it


class Simulator:
    """The simulator listening on ``config.host:config.port`` (port 0 picks a free port) in
    the running event loop, for the duration of an ``async with`` block. Single use.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.app = create_app(self.config)
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    async def __aenter__(self) -> Self:
        # A short shutdown grace: handlers sleeping through simulated latency are cancelled
        # quickly instead of holding up the end of a test for a minute.
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        host = self.config.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        self._base_url = f"http://{host}:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """Root URL such as ``http://127.0.0.1:54321`` (append ``/v1`` for OpenAI SDKs)."""
        if self._base_url is None:
            raise RuntimeError("the simulator is not running; use 'async with Simulator()'")
        return self._base_url

    @property
    def stats(self) -> SimStats:
        """Live statistics (the same object for the simulator's whole life)."""
        return self.app[STATE_KEY].stats

    def reset(self) -> None:
        """Clear stats, rpm window, script positions and the RNG, as ``POST /_sim/reset``."""
        self.app[STATE_KEY].reset()


async def serve(config: SimulatorConfig) -> None:
    """Run the simulator until cancelled, printing its URL and expected key once listening."""
    async with Simulator(config) as simulator:
        key = config.api_key if config.api_key is not None else "<any non-empty key>"
        print(f"CometAPI simulator listening on {simulator.base_url}", flush=True)
        print(f"  COMETAPI_BASE_URL={simulator.base_url}", flush=True)
        print(f"  COMETAPI_KEY={key}", flush=True)
        await asyncio.Event().wait()
