"""Pure retry decisions: how long to wait, whether to try again, what the server asked for.

Nothing here sleeps or reads a clock on its own: the caller passes ``now`` and a random
source, so every decision is a table-testable function (stamina and openai-python's
``_base_client`` are the models).
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import ProviderError

Random = Callable[[], float]  # returns a float in [0, 1)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failed request is retried.

    ``max_attempts`` counts every try of one request, the first included. Delays grow as
    ``base_delay * 2**(attempt-1)``, capped at ``max_delay``, with full jitter (a uniform
    draw between 0 and that bound), unless the server named a delay, which is honoured up
    to ``max_hint`` seconds. ``scale`` multiplies every delay: tests set it near 0 so that
    retries run without sleeping.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_hint: float = 120.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_hint, self.scale) < 0:
            raise ValueError("delays must not be negative")


def backoff_delay(attempt: int, policy: RetryPolicy, rand: Random = random.random) -> float:
    """Full-jitter exponential backoff after failed try number ``attempt`` (1-based).

    The result lies in ``[0, min(max_delay, base_delay * 2**(attempt-1))] * scale``.
    Full jitter spreads a crowd of workers that failed together (AWS architecture blog,
    "Exponential Backoff And Jitter"), which matters when a 429 hits the whole pool at once.
    """
    exponent = min(max(attempt, 1) - 1, 62)  # keep 2**n finite for absurd attempt counts
    bound = min(policy.max_delay, policy.base_delay * math.pow(2.0, exponent))
    return rand() * bound * policy.scale


def parse_retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """The delay, in seconds, that a response asks for; ``None`` if it names none.

    Looks at ``retry-after-ms`` first (milliseconds, OpenAI's precise form), then
    ``retry-after`` as seconds or as an HTTP date (RFC 9110), measured from ``now`` (a POSIX
    timestamp). Garbage, NaN and infinities give ``None``; negative values and dates in the
    past give ``0.0``. Header names are matched case-insensitively. Huge values are returned
    as they are: capping them is the policy's business (:func:`retry_delay`).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    millis = _parse_number(lowered.get("retry-after-ms"))
    if millis is not None:
        return max(millis / 1000.0, 0.0)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    seconds = _parse_number(raw)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means "no zone given"
        return None
    return max(when.timestamp() - now, 0.0)


def _parse_number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def retry_delay(
    error: ProviderError,
    attempt: int,
    policy: RetryPolicy,
    rand: Random = random.random,
) -> float | None:
    """Seconds to wait before trying again after ``error`` on try ``attempt``; ``None``: stop.

    Stops when the error is not retryable or the attempts are used up. A server hint
    (``error.retry_after``) wins over backoff, but never beyond ``policy.max_hint``: a
    provider that asks for an hour is answered with ``max_hint`` and another try, which
    either succeeds or asks again.
    """
    if not (error.retryable and error.retry_in_run) or attempt >= policy.max_attempts:
        return None
    if error.retry_after is not None:
        return min(error.retry_after, policy.max_hint) * policy.scale
    return backoff_delay(attempt, policy, rand)
