"""Every error answer the simulator gives, by family, and the non-JSON answers.

Clients of CometAPI meet several error shapes, so each route answers in its API's family
(see ``docs/protocols/common.md``):

- :class:`CometError` — the gateway's OpenAI-style envelope
  ``{"error":{"message","type","param","code"}}``, message suffixed with the request id.
  Every route uses it for auth (401) and the rpm window (429); the OpenAI, Flux and Bria
  routes for everything else (Flux's validation wrapped as 422, Bria's as 400/422).
- :class:`GoogleError` — ``{"error":{"code","message","status"}}`` on ``/v1beta`` for
  validation errors and for injected 429/500/503/504 (they pass through from "Google").
- :class:`MjError` — new-api's Midjourney relay error ``{"description","type","code"}``
  (HTTP 400, or 429 with ``code`` 30 for an injected rate limit).

:class:`ErrorFamily` names the family a route answers in; the gateway and the fault
injector pick constructors here by it, so a route states its family once, as data.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from email.utils import formatdate
from enum import Enum
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.config import RetryAfterMode, SimulatorConfig


class ErrorFamily(Enum):
    """Which error shape a route answers in (beyond the gateway's own 401/429)."""

    COMET = "comet"
    GOOGLE = "google"
    MJ = "mj"


class ApiError(Exception):
    """An error answer; raised by validation, rendered by the gateway."""

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


GOOGLE_STATUS: Final[Mapping[int, str]] = {
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
                "status": GOOGLE_STATUS.get(self.status, "UNKNOWN"),
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


# --------------------------------------------------------------------------------------
# The gateway's own answers (every family)


def no_token() -> CometError:
    """401 for a request that presents no key."""
    return CometError(401, "no token provided", type="comet_api_error")


def invalid_token() -> CometError:
    """401 for a wrong key (the message never repeats it)."""
    return CometError(401, "invalid token", type="comet_api_error")


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


def model_not_found(model: str) -> CometError:
    """The gateway's answer to a model it has no channel for: 503, yet clients must treat
    code ``model_not_found`` as fatal."""
    return CometError(
        503,
        f"No available channel for model {model} under group default",
        type="comet_api_error",
        code="model_not_found",
    )


def bad_json_body(family: ErrorFamily) -> ApiError:
    """The family's 400 for a body that is not a JSON object."""
    if family is ErrorFamily.GOOGLE:
        return GoogleError(400, "Invalid JSON payload received. Expected a JSON object.")
    if family is ErrorFamily.MJ:
        return MjError("bind_request_body_failed")
    return CometError(
        400,
        "invalid request body: expected a JSON object",
        type="comet_api_error",
        code="bad_request_body",
    )


def bad_form_body(content_type: str) -> CometError:
    """400 for an edits body that is not multipart/form-data."""
    return CometError(
        400,
        f"Invalid Content-Type header ({content_type}), expected multipart/form-data.",
        type="comet_api_error",
        code="bad_request_body",
    )


MOVED_HTML: Final = (
    "<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n"
    "<center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def moved() -> web.Response:
    """CometAPI's answer to a wrong path: 301 to ``/`` with an nginx HTML body."""
    return web.Response(
        status=301, text=MOVED_HTML, content_type="text/html", headers={"Location": "/"}
    )


# --------------------------------------------------------------------------------------
# Per-API validation shapes


def invalid_value(param: str, value: object, allowed: Sequence[str]) -> CometError:
    """OpenAI's 400 for a value outside *allowed*."""
    choices = ", ".join(f"'{choice}'" for choice in allowed)
    return CometError(
        400,
        f"Invalid value: {json.dumps(value)}. Supported values are: {choices}.",
        param=param,
        code="invalid_value",
    )


def moderation_blocked() -> CometError:
    """OpenAI's 400 for a prompt its safety system refuses (not billed)."""
    return CometError(
        400,
        "Your request was rejected by the safety system. safety_violations=[sexual]",
        type="image_generation_user_error",
        code="moderation_blocked",
    )


def flux_invalid(field: str, message: str) -> CometError:
    """BFL's 422 validation error, as CometAPI wraps it."""
    return CometError(422, f"{field}: {message}", param=field, code="invalid_value")


def bria_invalid(param: str, message: str) -> CometError:
    """Bria's 400 for a missing or bad field."""
    return CometError(400, message, param=param, code="invalid_value")


def bria_moderated() -> CometError:
    """Bria's 422 for a prompt its content moderation refuses (not billed)."""
    return CometError(
        422,
        "Request blocked by content moderation: the prompt violates the usage policy.",
        type="upstream_error",
        code="content_moderation",
    )
