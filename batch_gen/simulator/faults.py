"""Injected faults: which one a request meets, what it answers, and how it is enacted.

A request that does upstream work (a generation, an edit, a task submit; never a poll or
a download) meets its prompt's script step, else a random draw from the configured
probabilities. 401 and 429 answer at once; every other outcome first waits the latency.
The error a fault answers is in the route's :class:`ErrorFamily` where that family has one:
401 and ``500 invalid_request`` always come from the gateway (CometAPI envelope), Gemini's
429/5xx pass through Google-style, Midjourney's 429 is new-api's code 30.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from typing import Final

from aiohttp import web

from batch_gen.simulator.config import Fault, SimulatorConfig
from batch_gen.simulator.errors import (
    Answered,
    ApiError,
    CometError,
    ErrorFamily,
    GoogleError,
    MjError,
    NoAnswer,
    invalid_token,
    rate_limit_error,
    retry_headers,
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
NOT_AN_IMAGE: Final = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>\n"
)
"""Served by url results with the bad_b64 fault: a 200 that is not an image at all."""

FAULT_ERRORS: Final[Mapping[Fault, tuple[int, str, str]]] = {
    Fault.SERVER_ERROR: (500, "Internal server error, please retry later", ""),
    Fault.INVALID_REQUEST_500: (500, "invalid request: upstream rejected it", "invalid_request"),
    Fault.UNAVAILABLE: (503, "upstream load is saturated, please retry later", ""),
    Fault.GATEWAY_TIMEOUT: (504, "upstream request timed out", ""),
}
"""The faults that answer a JSON error: (status, CometAPI message, code)."""
# new-api's description for MJ code 30 (its full-width comma included).
MJ_SATURATED: Final = "当前分组负载已饱和，请稍后再试"  # noqa: RUF001
GOOGLE_FAULT_MESSAGES: Final[Mapping[Fault, str]] = {
    Fault.RATE_LIMIT: "Resource has been exhausted (e.g. check quota).",
    Fault.SERVER_ERROR: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    Fault.UNAVAILABLE: "The model is overloaded. Please try again later.",
    Fault.GATEWAY_TIMEOUT: "The request timed out. Please try again.",
}


def fault_error(fault: Fault, family: ErrorFamily, config: SimulatorConfig) -> ApiError:
    """The error answer of an injected *fault* (401, 429 or one of :data:`FAULT_ERRORS`),
    in *family* where it has a shape for it."""
    if fault is Fault.UNAUTHORIZED:
        return invalid_token()
    wait = config.retry_after_seconds
    if family is ErrorFamily.GOOGLE and fault in GOOGLE_FAULT_MESSAGES:
        status = 429 if fault is Fault.RATE_LIMIT else FAULT_ERRORS[fault][0]
        headers = retry_headers(config.retry_after, wait) if status == 429 else None
        return GoogleError(status, GOOGLE_FAULT_MESSAGES[fault], headers=headers)
    if fault is Fault.RATE_LIMIT:
        if family is ErrorFamily.MJ:
            return MjError(
                MJ_SATURATED, code=30, status=429, headers=retry_headers(config.retry_after, wait)
            )
        return rate_limit_error(config, wait)
    status, message, code = FAULT_ERRORS[fault]
    return CometError(status, message, type="comet_api_error", code=code)


def corrupt_b64(b64: bytes) -> bytes:
    """Base64 text no decoder accepts: its length is 1 more than a multiple of 4."""
    return b64[: (len(b64) // 8) * 4 + 1]


class FaultScripts:
    """Chooses each request's fault: its prompt's script first, else a random draw.

    Script positions are per prompt (the k-th request of a prompt meets the k-th step).
    """

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._positions: dict[str, int] = {}

    def clear(self) -> None:
        """Start every script over."""
        self._positions.clear()

    def next(self, prompt: str, rng: random.Random) -> Fault:
        """The fault for this request of *prompt* (draws from *rng* only without a script)."""
        for key, steps in self._config.scripts.items():
            if key in prompt:
                position = self._positions.get(prompt, 0)
                self._positions[prompt] = position + 1
                return Fault(steps[position]) if position < len(steps) else Fault.OK
        probabilities = self._config.fault_probabilities()
        if not any(p for _, p in probabilities):
            return Fault.OK
        draw = rng.random()
        for fault, probability in probabilities:
            if draw < probability:
                return fault
            draw -= probability
        return Fault.OK


def latency(config: SimulatorConfig, rng: random.Random) -> float:
    """Seconds to wait before answering one upstream request (latency plus jitter)."""
    jitter = rng.uniform(0.0, config.latency_jitter) if config.latency_jitter else 0.0
    return config.latency + jitter


async def enact(
    fault: Fault,
    *,
    family: ErrorFamily,
    config: SimulatorConfig,
    delay: Callable[[], float],
    bill: Callable[[], None],
    close: Callable[[], None],
) -> Fault:
    """Act on *fault*: raise its answer, or return OK, TRUNCATE or BAD_B64 for the route to
    finish (and bill) itself.

    401 and 429 raise at once; anything else first sleeps ``delay()`` (called only then,
    so an immediate fault draws no jitter). Error faults raise (a 504 after ``bill()``);
    524 and drop call ``bill()`` and raise :class:`Answered` (drop after ``close()``).
    Cancelled during that sleep (the client hung up, the handler was cancelled), a request
    whose work would be charged (OK and the ambiguous faults) calls ``bill()`` first: an
    abandoned request is paid for all the same.
    """
    if fault in (Fault.UNAUTHORIZED, Fault.RATE_LIMIT):
        raise fault_error(fault, family, config)
    if seconds := delay():
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            # The client went away (or the server is stopping) while the work was under
            # way upstream: a gateway still finishes that work and charges for it.
            if fault.billed:
                bill()
            raise
    if fault in FAULT_ERRORS:
        if fault.billed:
            bill()
        raise fault_error(fault, family, config)
    if fault is Fault.CLOUDFLARE_TIMEOUT:
        # Cloudflare gave up waiting; the origin finished the (billed) work anyway.
        bill()
        raise Answered(web.Response(status=524, text=CLOUDFLARE_524_HTML, content_type="text/html"))
    if fault is Fault.DROP:
        bill()
        close()
        raise Answered(NoAnswer())
    return fault
