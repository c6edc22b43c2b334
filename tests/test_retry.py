"""Pure retry decisions: Retry-After parsing, backoff bounds, when to stop."""

from __future__ import annotations

import email.utils

import pytest

from batch_gen.errors import (
    ContentPolicyError,
    InvalidRequestError,
    RateLimitError,
    ServerError,
    TransportError,
)
from batch_gen.retry import RetryPolicy, backoff_delay, parse_retry_after, retry_delay

NOW = 1_800_000_000.0


def _http_date(offset: float) -> str:
    return email.utils.formatdate(NOW + offset, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"RETRY-AFTER": " 7 "}, 7.0),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "86400"}, 86400.0),
        ({"Retry-After": "1e9"}, 1e9),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": _http_date(30)}, 30.0),
        ({"Retry-After": _http_date(-30)}, 0.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00"}, None),  # no zone: not an HTTP date
        ({"Retry-After": "Mon, 99 Foo 2015 07:28:00 GMT"}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "-10"}, 0.0),
        ({"retry-after-ms": "abc", "Retry-After": "2"}, 2.0),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """Retry hints in every documented form, and garbage, parse to seconds or None."""
    result = parse_retry_after(headers, now=NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, abs=1.0 if "GMT" in str(headers) else 1e-9)


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 8, 20, 1000])
@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999999])
def test_backoff_is_full_jitter_within_bounds(attempt: int, draw: float) -> None:
    """Backoff lies in [0, min(max_delay, base * 2**(n-1))] and scales with the draw."""
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    bound = min(30.0, 2.0 ** (attempt - 1))
    delay = backoff_delay(attempt, policy, rand=lambda: draw)
    assert 0.0 <= delay <= bound
    assert delay == pytest.approx(draw * bound)


def test_backoff_scale_zero_never_sleeps() -> None:
    """The test switch (scale=0) makes every delay zero, hints included."""
    policy = RetryPolicy(scale=0.0)
    assert backoff_delay(4, policy, rand=lambda: 0.9) == 0.0
    error = RateLimitError("slow down", retry_after=10.0)
    assert retry_delay(error, 1, policy) == 0.0


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (RateLimitError("429"), True),
        (ServerError("503"), True),
        (TransportError("reset", ambiguous=True), True),
        (InvalidRequestError("400"), False),
        (ContentPolicyError("blocked"), False),
        (ServerError("500 invalid_request", retryable=False), False),
    ],
)
def test_retry_delay_follows_the_error(error: Exception, retryable: bool) -> None:
    """Whether to retry is a property of the error."""
    assert isinstance(error, RateLimitError | ServerError | TransportError | InvalidRequestError)
    delay = retry_delay(error, 1, RetryPolicy(), rand=lambda: 0.5)
    assert (delay is not None) is retryable


def test_retry_delay_stops_after_max_attempts() -> None:
    """The last allowed attempt gets no further retry."""
    policy = RetryPolicy(max_attempts=3)
    error = ServerError("boom")
    assert retry_delay(error, 2, policy, rand=lambda: 0.5) is not None
    assert retry_delay(error, 3, policy, rand=lambda: 0.5) is None


@pytest.mark.parametrize(
    ("hint", "expected"), [(0.0, 0.0), (2.5, 2.5), (120.0, 120.0), (3600.0, 120.0)]
)
def test_server_hint_wins_but_is_capped(hint: float, expected: float) -> None:
    """A Retry-After is honoured exactly, up to max_hint seconds."""
    error = RateLimitError("429", retry_after=hint)
    assert retry_delay(error, 1, RetryPolicy(max_hint=120.0), rand=lambda: 0.9) == expected


def test_policy_rejects_nonsense() -> None:
    """A policy with no attempts or negative delays cannot be built."""
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(base_delay=-1)
