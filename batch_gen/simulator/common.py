"""What every route shares: error bodies, auth, the rpm window, the fault gate, image
sniffing and the request-id middleware.

Error bodies come in three families, because clients of CometAPI meet all three:

- :class:`CometError` — the gateway's OpenAI-style envelope
  ``{"error":{"message","type","param","code"}}``, message suffixed with the request id.
  Used by every route for auth (401) and the rpm window (429), and by the OpenAI, Flux and
  Bria routes for everything else.
- :class:`GoogleError` — ``{"error":{"code","message","status"}}`` on ``/v1beta`` for
  validation errors and for injected 429/500/503/504 (they pass through from "Google").
- :class:`MjError` — new-api's Midjourney relay error ``{"description","type","code"}``
  (HTTP 400, or 429 with ``code`` 30 for an injected rate limit).

A handler runs inside :func:`api_route`, which counts the arrival and turns a raised
:class:`ApiError` or :class:`Answered` into the response. Inside, :meth:`Call.upstream`
applies the scripted/random fault and the latency in the same order for every route.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from email.utils import formatdate
from enum import Enum
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.config import Fault, RetryAfterMode, SimulatorConfig
from batch_gen.simulator.images import ImageFormat
from batch_gen.simulator.state import STATE_KEY, SimState, SimStats

REQUEST_ID: Final = "batch_gen.simulator.request_id"

# --------------------------------------------------------------------------------------
# Error answers


class ApiError(Exception):
    """An error answer; raised by validation, rendered by :func:`api_route`."""

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def body(self, request_id: str) -> Any:
        """The JSON body of this error."""
        raise NotImplementedError

    def response(self, request_id: str) -> web.Response:
        """The full HTTP answer."""
        return json_response(self.body(request_id), status=self.status, headers=self.headers)


class CometError(ApiError):
    """CometAPI's OpenAI-style error envelope (new-api's, with ``comet_api_error``)."""

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
        super().__init__(status, message, headers=headers)
        self.type = type
        self.param = param
        self.code = code

    def body(self, request_id: str) -> Any:
        return {
            "error": {
                "message": f"{self.message} (request id: {request_id})",
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


_GOOGLE_STATUS: Final[Mapping[int, str]] = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class GoogleError(ApiError):
    """Google's error body: ``{"error":{"code":<http status>,"message","status"}}``."""

    def body(self, request_id: str) -> Any:
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "status": _GOOGLE_STATUS.get(self.status, "UNKNOWN"),
            }
        }


class MjError(ApiError):
    """new-api's Midjourney relay error: ``{"description","type":"upstream_error","code"}``.

    new-api formats the description as ``"<description> <result>"``, so with an empty result
    it ends in a space (``"task_no_found "``); this keeps that quirk. Clients branch on code.
    """

    def __init__(
        self,
        description: str,
        *,
        code: int = 4,
        status: int = 400,
        result: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, description, headers=headers)
        self.code = code
        self.result = result

    def body(self, request_id: str) -> Any:
        return {
            "description": f"{self.message} {self.result}",
            "type": "upstream_error",
            "code": self.code,
        }


class Answered(Exception):
    """Carries a complete non-JSON answer (Cloudflare HTML, a dropped connection)."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__("answered")
        self.response = response


class NoAnswer(web.Response):
    """Returned after the connection was closed on purpose: nothing reaches the client."""


class ErrorStyle(Enum):
    """Which family renders the injected faults of a route."""

    COMET = "comet"
    GOOGLE = "google"
    MJ = "mj"


def json_response(
    payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer (``application/json``)."""
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def invalid_value(param: str, value: object, allowed: Sequence[str]) -> CometError:
    """OpenAI's 400 for a value outside *allowed*."""
    choices = ", ".join(f"'{choice}'" for choice in allowed)
    return CometError(
        400,
        f"Invalid value: {json.dumps(value)}. Supported values are: {choices}.",
        param=param,
        code="invalid_value",
    )


def retry_headers(mode: RetryAfterMode, seconds: float) -> dict[str, str]:
    """The 429 retry hint for *seconds* in the configured form."""
    if mode is RetryAfterMode.SECONDS:
        return {"Retry-After": str(max(0, math.ceil(seconds)))}
    if mode is RetryAfterMode.MS:
        return {"retry-after-ms": str(max(0, round(seconds * 1000)))}
    if mode is RetryAfterMode.DATE:
        # HTTP dates have whole seconds; round up so the hint never promises too early.
        return {"Retry-After": formatdate(math.ceil(time.time() + seconds), usegmt=True)}
    return {}


def rate_limit_error(config: SimulatorConfig, wait: float) -> CometError:
    """The gateway's 429 (rpm window or an injected fault on an OpenAI-style route)."""
    return CometError(
        429,
        f"Rate limit reached for requests. Please try again in {wait:.3g}s.",
        type="comet_api_error",
        code="rate_limit_exceeded",
        headers=retry_headers(config.retry_after, wait),
    )


MOVED_HTML: Final = (
    "<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n"
    "<center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
CLOUDFLARE_524_HTML: Final = (
    '<!DOCTYPE html>\n<html lang="en-US">\n<head>\n<meta charset="UTF-8" />\n'
    "<title>api.cometapi.com | 524: A timeout occurred</title>\n</head>\n<body>\n"
    '<div id="cf-wrapper"><div id="cf-error-details">\n'
    "<h1>A timeout occurred</h1> <span>Error code 524</span>\n"
    "<p>The origin web server timed out responding to this request.</p>\n"
    '<p>Visit <a href="https://www.cloudflare.com/5xx-error-landing">cloudflare.com</a> '
    "for more information.</p>\n</div></div>\n</body>\n</html>\n"
)
# Served by url results with the bad_b64 fault: a 200 that is not an image at all.
NOT_AN_IMAGE: Final = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>\n"
)

_FAULT_ERRORS: Final[Mapping[Fault, tuple[int, str, str]]] = {
    Fault.SERVER_ERROR: (500, "Internal server error, please retry later", ""),
    Fault.INVALID_REQUEST_500: (500, "invalid request: upstream rejected it", "invalid_request"),
    Fault.UNAVAILABLE: (503, "upstream load is saturated, please retry later", ""),
    Fault.GATEWAY_TIMEOUT: (504, "upstream request timed out", ""),
}
# new-api's description for MJ code 30 (its full-width comma included).
_MJ_SATURATED: Final = "当前分组负载已饱和，请稍后再试"  # noqa: RUF001
_GOOGLE_FAULT_MESSAGES: Final[Mapping[Fault, str]] = {
    Fault.RATE_LIMIT: "Resource has been exhausted (e.g. check quota).",
    Fault.SERVER_ERROR: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    Fault.UNAVAILABLE: "The model is overloaded. Please try again later.",
    Fault.GATEWAY_TIMEOUT: "The request timed out. Please try again.",
}


def _fault_error(fault: Fault, style: ErrorStyle, config: SimulatorConfig) -> ApiError:
    """The error answer of an injected fault, in the route's family where it has one.

    401 and ``500 invalid_request`` always come from the gateway (CometAPI envelope);
    Gemini's 429/5xx pass through Google-style; MJ's 429 is new-api's code 30.
    """
    if fault is Fault.UNAUTHORIZED:
        return CometError(401, "invalid token", type="comet_api_error")
    wait = config.retry_after_seconds
    if style is ErrorStyle.GOOGLE and fault in _GOOGLE_FAULT_MESSAGES:
        status = 429 if fault is Fault.RATE_LIMIT else _FAULT_ERRORS[fault][0]
        headers = retry_headers(config.retry_after, wait) if status == 429 else None
        return GoogleError(status, _GOOGLE_FAULT_MESSAGES[fault], headers=headers)
    if fault is Fault.RATE_LIMIT:
        if style is ErrorStyle.MJ:
            return MjError(
                _MJ_SATURATED,
                code=30,
                status=429,
                headers=retry_headers(config.retry_after, wait),
            )
        return rate_limit_error(config, wait)
    status, message, code = _FAULT_ERRORS[fault]
    return CometError(status, message, type="comet_api_error", code=code)


# --------------------------------------------------------------------------------------
# Auth and the per-request gate


def _presented_key(request: web.Request) -> str:
    authorization = request.headers.get("Authorization", "").strip()
    if authorization:
        scheme, _, rest = authorization.partition(" ")
        return rest.strip() if scheme.lower() == "bearer" else authorization
    return request.headers.get("x-goog-api-key", "").strip()


def check_key(request: web.Request, config: SimulatorConfig) -> None:
    """Raise a 401 :class:`CometError` unless the request presents an accepted key.

    Accepts ``Authorization: Bearer <key>``, a bare ``Authorization: <key>`` and
    ``x-goog-api-key``. The messages never include the presented key.
    """
    key = _presented_key(request)
    if not key:
        raise CometError(401, "no token provided", type="comet_api_error")
    if config.api_key is not None and not secrets.compare_digest(
        key.encode(), config.api_key.encode()
    ):
        raise CometError(401, "invalid token", type="comet_api_error")


class Call:
    """One request to an API route, with the shared steps of answering it."""

    def __init__(self, request: web.Request, state: SimState) -> None:
        self.request = request
        self.state = state

    @property
    def config(self) -> SimulatorConfig:
        return self.state.config

    @property
    def stats(self) -> SimStats:
        return self.state.stats

    @property
    def request_id(self) -> str:
        request_id: str = self.request[REQUEST_ID]
        return request_id

    @property
    def origin(self) -> str:
        """``scheme://host:port`` the client used, for URLs served by this simulator."""
        return str(self.request.url.origin())

    def count_prompt(self, prompt: object) -> None:
        """Count one request for *prompt* (ignored unless a non-empty string)."""
        if isinstance(prompt, str) and prompt:
            self.stats._prompt(prompt).requests += 1

    def check_key(self) -> None:
        """Raise 401 unless the key is accepted."""
        check_key(self.request, self.config)

    def admit(self) -> None:
        """Raise the gateway's 429 when the rpm window is full."""
        wait = self.state.admit()
        if wait is not None:
            self.stats.rate_limited += 1
            raise rate_limit_error(self.config, wait)

    def authorize(self) -> None:
        """:meth:`check_key` then :meth:`admit`."""
        self.check_key()
        self.admit()

    def triggered(self, text: str) -> bool:
        """Whether *text* contains the configured trigger word (case-insensitive)."""
        return contains_word(text, self.config.trigger_word)

    async def upstream(self, prompt: str, *, billed: int, style: ErrorStyle) -> Fault:
        """Pass the request "upstream": choose its fault, wait the latency, act on it.

        401 and 429 faults answer at once; every other outcome first waits the latency.
        Error faults raise (504 is billed *billed* units); 524 and drop raise
        :class:`Answered` (both billed). Returns OK, TRUNCATE or BAD_B64 for the handler to
        finish, and bill, itself.
        """
        fault = self.state.next_fault(prompt)
        if fault is not Fault.OK:
            self.stats._count(self.stats.faults, fault.value)
        if fault in (Fault.UNAUTHORIZED, Fault.RATE_LIMIT):
            raise _fault_error(fault, style, self.config)
        if delay := self.state.latency():
            await asyncio.sleep(delay)
        if fault in _FAULT_ERRORS:
            if fault.billed:
                self.stats._prompt(prompt).billed += billed
            raise _fault_error(fault, style, self.config)
        if fault is Fault.CLOUDFLARE_TIMEOUT:
            # Cloudflare gave up waiting; the origin finished the (billed) work anyway.
            self.stats._prompt(prompt).billed += billed
            raise Answered(
                web.Response(status=524, text=CLOUDFLARE_524_HTML, content_type="text/html")
            )
        if fault is Fault.DROP:
            self.stats._prompt(prompt).billed += billed
            if self.request.transport is not None:
                self.request.transport.close()
            raise Answered(NoAnswer())
        return fault

    async def reply(
        self, payload: bytes | Any, *, fault: Fault = Fault.OK, status: int = 200
    ) -> web.StreamResponse:
        """Send *payload* (bytes of JSON, or a JSON-ready value), cut short on TRUNCATE."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if fault is Fault.TRUNCATE:
            return await send_truncated(self.request, body, self.request_id, status=status)
        return web.Response(body=body, status=status, content_type="application/json")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def api_route(handler: Callable[[Call], Awaitable[web.StreamResponse]]) -> Handler:
    """Wrap an API handler: count the arrival, concurrency and status in :class:`SimStats`,
    and render a raised :class:`ApiError` or :class:`Answered`."""

    async def route(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE_KEY]
        stats = state.stats
        stats._arrive()
        call = Call(request, state)
        try:
            try:
                response = await handler(call)
            except ApiError as error:
                response = error.response(call.request_id)
            except Answered as answered:
                response = answered.response
        finally:
            stats.in_flight -= 1
        if not isinstance(response, NoAnswer):
            stats._count(stats.by_status, response.status)
        return response

    route.__name__ = getattr(handler, "__name__", "route")
    route.__doc__ = handler.__doc__
    return route


async def send_truncated(
    request: web.Request, payload: bytes, request_id: str, *, status: int = 200
) -> web.StreamResponse:
    """Promise the whole payload in Content-Length, send half, then close the connection."""
    response = web.StreamResponse(status=status, headers={"x-request-id": request_id})
    response.content_type = "application/json"
    response.content_length = len(payload)
    await response.prepare(request)
    await response.write(payload[: len(payload) // 2])
    if request.transport is not None:
        # close() (not abort()) flushes what was written before closing.
        request.transport.close()
    return response


async def read_json_object(request: web.Request) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    raw = await request.read()
    try:
        body: Any = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def admit_json(call: Call, *, unnamed: str | None = None) -> dict[str, Any]:
    """The gateway's first steps for a JSON route, in CometAPI's order: count the request
    (under its prompt, or ``unnamed`` when it has none), check the key, refuse a body that
    is not a JSON object, then the rpm window. Returns the body."""
    body = await read_json_object(call.request)
    prompt = body.get("prompt") if body is not None else None
    call.count_prompt(prompt if isinstance(prompt, str) and prompt else unnamed)
    call.check_key()
    if body is None:
        raise CometError(
            400,
            "invalid request body: expected a JSON object",
            type="comet_api_error",
            code="bad_request_body",
        )
    call.admit()
    return body


def moved() -> web.Response:
    """CometAPI's answer to a wrong path: 301 to ``/`` with an nginx HTML body."""
    return web.Response(
        status=301, text=MOVED_HTML, content_type="text/html", headers={"Location": "/"}
    )


@web.middleware
async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id, echo it in ``x-request-id``, and turn unknown routes into
    CometAPI's 301 HTML answer."""
    request_id = request.app[STATE_KEY].new_request_id()
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        response = moved()
    except web.HTTPException as exc:
        exc.headers["x-request-id"] = request_id
        raise
    if not response.prepared:
        response.headers["x-request-id"] = request_id
    return response


# --------------------------------------------------------------------------------------
# Content helpers


def contains_word(text: str, word: str | None) -> bool:
    """Whether *word* (when set) occurs in *text*, ignoring case."""
    return word is not None and word != "" and word.lower() in text.lower()


def sniff_image(data: bytes) -> ImageFormat | None:
    """The real encoding of *data* from its magic bytes (PNG, JPEG, WebP), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if data.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat.WEBP
    return None


def image_header(data: bytes) -> tuple[int, int, str] | None:
    """Width, height and Pillow mode of an encoded image, reading only its header; None
    when Pillow cannot identify it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            mode = str(image.mode)
            if mode == "P" and "transparency" in image.info:
                mode = "PA"
            return width, height, mode
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def decode_base64_image(text: str) -> bytes | None:
    """Decode raw base64 or a ``data:<mime>;base64,`` URI; None when it is not base64."""
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def corrupt_b64(b64: bytes) -> bytes:
    """Base64 text no decoder accepts: its length is 1 more than a multiple of 4."""
    return b64[: (len(b64) // 8) * 4 + 1]


def size_for_ratio(ratio: str, long_side: int, *, multiple: int = 16) -> tuple[int, int] | None:
    """``W:H`` scaled so its long side is *long_side*, the short side rounded to *multiple*;
    None when *ratio* is not two positive integers."""
    left, sep, right = ratio.partition(":")
    if not sep or not left.strip().isdigit() or not right.strip().isdigit():
        return None
    width, height = int(left), int(right)
    if width < 1 or height < 1:
        return None
    if width >= height:
        short = max(multiple, round(long_side * height / width / multiple) * multiple)
        return long_side, min(short, long_side)
    short = max(multiple, round(long_side * width / height / multiple) * multiple)
    return min(short, long_side), long_side
