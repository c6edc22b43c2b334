"""Translating an API's unsuccessful answers into the error tree (pure: no I/O).

- :func:`error_from_response` classifies a status, the OpenAI/CometAPI error envelope
  ``{"error": {"message", "type", "param", "code"}}`` and the retry headers;
- :func:`redact` keeps the API key out of every message, even if a server echoes it.

Transport failures (no answer at all) are translated in :mod:`.http`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from ..errors import (
    AuthenticationError,
    BadResponseError,
    ContentPolicyError,
    FatalProviderError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
)
from ..retry import parse_retry_after

# Gateway timeouts: the upstream may have done (and billed) the work before giving up.
_AMBIGUOUS_STATUSES = frozenset({504, 524})
_PERMANENT_4XX = frozenset({400, 404, 405, 413, 415, 422})
_POLICY_CODES = frozenset(
    {"moderation_blocked", "content_policy_violation", "content_filter", "content_moderation"}
)
_QUOTA_CODES = frozenset({"insufficient_quota", "insufficient_user_quota", "quota_exceeded"})
_MAX_MESSAGE = 500
# Gateways do not always set code "model_not_found"; these messages mean the same thing
# (new-api's "no available channel for model X", upstream "model ... does not exist").
_UNKNOWN_MODEL = re.compile(
    r"no available channel for model"
    r"|models?\b.{0,80}\b(does not exist|is not found|not found|not supported)"
    r"|无可用渠道",
    re.IGNORECASE,
)


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (and of long token-like runs) masked."""
    if secret:
        text = text.replace(secret, "***")
    # Belt and braces: anything shaped like an API key ("sk-" + 20 or more characters).
    return re.sub(r"sk-[A-Za-z0-9_\-]{16,}", "sk-***", text)


def base_url_advice(base_url: str | None) -> str:
    """What to change when the API redirects (a wrong path): a base URL ending in ``/v1``
    (as OpenAI's SDK takes it) doubles it, since every route the providers send starts
    with its own ``/v1`` or other prefix."""
    trimmed = (base_url or "").rstrip("/")
    if trimmed.endswith("/v1"):
        return (
            f"the base URL {trimmed} ends in /v1, which batch_gen adds itself: use"
            f" {trimmed.removesuffix('/v1')} (--base-url / COMETAPI_BASE_URL)"
        )
    return "check --base-url / COMETAPI_BASE_URL"


def json_object(body: bytes) -> dict[str, Any] | None:
    """``body`` as a JSON object, or None when it is not one."""
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None


def billed_json(body: bytes, request_id: str | None = None) -> Any:
    """``body`` of a successful (billed) answer, decoded; raises a retryable
    BadResponseError, marked ambiguous, when it is not JSON (a truncated body)."""
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BadResponseError(
            "the answer is not valid JSON (truncated?)", ambiguous=True, request_id=request_id
        ) from exc


def parse_error_body(body: bytes) -> tuple[str, str | None, str | None]:
    """(message, type, code) from an error body: the JSON envelope, Google's, or raw text."""
    try:
        document: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        document = None
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or "").strip()
            kind = error.get("type") or error.get("status")
            code = error.get("code")
            return (
                message or json.dumps(error)[:_MAX_MESSAGE],
                str(kind) if kind else None,
                str(code) if code not in (None, "") else None,
            )
        if isinstance(error, str):
            return error, None, None
        for field in ("message", "description", "detail"):
            if isinstance(document.get(field), str):
                return document[field], None, None
    text = body.decode("utf-8", "replace")
    text = re.sub(r"<[^>]+>", " ", text)  # HTML error pages (Cloudflare 524, 301 pages)
    text = " ".join(text.split())
    return (text[:_MAX_MESSAGE] or "(empty body)"), None, None


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: str | None,
    now: float | None = None,
    base_url: str | None = None,
) -> ProviderError:
    """The ProviderError that an unsuccessful answer stands for (the classification table).

    401/403 and an unknown model abort the run; 429 is a rate limit (or exhausted quota);
    408/409/5xx are retryable, except a 500 whose code says the request itself is bad;
    400/404/413/422 and safety refusals are permanent; a redirect means the base URL is
    wrong (``base_url``, when the caller knows it, lets the message say what to change:
    see :func:`base_url_advice`). ``x-should-retry: true|false`` from the server overrides
    retryability.
    """
    message, kind, code = parse_error_body(body)
    message = redact(message, secret)
    request_id = headers.get("x-request-id") or headers.get("X-Request-Id")
    retry_after = parse_retry_after(headers, now=time.time() if now is None else now)
    common: dict[str, Any] = {
        "status": status,
        "code": code,
        "request_id": request_id,
        "retry_after": retry_after,
    }
    error: ProviderError
    if code == "model_not_found" or (status in (400, 404, 503) and _UNKNOWN_MODEL.search(message)):
        error = ModelNotFoundError(message, **common)
    elif status in (401, 403):
        error = AuthenticationError(message, **common)
    elif 300 <= status < 400:
        where = headers.get("Location", "elsewhere")
        advice = redact(base_url_advice(base_url), secret)
        error = FatalProviderError(
            f"the API answered with a redirect to {where}; {advice}", **common
        )
    elif status == 402 or (status == 429 and code in _QUOTA_CODES):
        error = QuotaExhaustedError(message, **common)  # 402: no credits (BFL, gateways)
    elif status == 429:
        error = RateLimitError(message, **common)
    elif code in _POLICY_CODES or kind == "image_generation_user_error":
        error = ContentPolicyError(message, **common)
    elif status in (408, 409):
        error = ServerError(message, **common)
    elif status >= 500 and code == "invalid_request":
        error = InvalidRequestError(message, **common)
    elif status >= 500:
        error = ServerError(message, ambiguous=status in _AMBIGUOUS_STATUSES, **common)
    elif status in _PERMANENT_4XX or 400 <= status < 500:
        error = InvalidRequestError(message, **common)
    else:
        error = BadResponseError(f"unexpected HTTP status {status}: {message}", **common)
    should_retry = headers.get("x-should-retry", "").lower()
    if should_retry in ("true", "false") and not isinstance(error, FatalProviderError):
        error.retryable = should_retry == "true"
    return error
