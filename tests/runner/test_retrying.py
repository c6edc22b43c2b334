"""The one retry loop: attempts from an iterator, failures reported, waits bounded."""

from __future__ import annotations

import pytest

from batch_gen.errors import (
    AuthenticationError,
    ContentPolicyError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from batch_gen.models import Job
from batch_gen.retry import RetryPolicy
from batch_gen.runner.events import Event, Events, Resumed, Retrying
from batch_gen.runner.gate import Admission, Stopping
from batch_gen.runner.retrying import Attempts

JOB = Job(id="a", index=1, prompt="p", request={}, api="openai.generations", key="k")


async def _attempt(
    outcomes: list[ProviderError | None], *, max_attempts: int = 3
) -> tuple[list[int], list[tuple[str, bool]], list[Event], Admission]:
    """Run the loop over ``outcomes`` (None: the try succeeds); what it did."""
    events: list[Event] = []
    failures: list[tuple[str, bool]] = []
    admission = Admission(Stopping(grace=0), concurrency=1, rpm=0)
    attempts = Attempts(
        JOB,
        policy=RetryPolicy(max_attempts=max_attempts, scale=0.0),
        admission=admission,
        events=Events(events.append),
        failed=lambda error, retrying: failures.append((error.message, retrying)),
    )
    tries: list[int] = []
    script = iter(outcomes)
    async for attempt in attempts:
        with attempt:
            tries.append(attempt.number)
            outcome = next(script)
            if outcome is not None:
                raise outcome
    return tries, failures, events, admission


async def test_a_success_ends_the_loop_at_once() -> None:
    tries, failures, events, _ = await _attempt([None])
    assert tries == [1]
    assert failures == []
    assert events == []


async def test_failures_are_reported_then_retried_until_a_success() -> None:
    tries, failures, events, _ = await _attempt([ServerError("a"), ServerError("b"), None])
    assert tries == [1, 2, 3]
    assert failures == [("a", True), ("b", True)]
    assert [type(event) for event in events] == [Retrying, Resumed, Retrying, Resumed]


@pytest.mark.parametrize(
    "error", [ContentPolicyError("no"), AuthenticationError("key", status=401)]
)
async def test_errors_that_are_not_retried_are_raised_after_reporting(
    error: ProviderError,
) -> None:
    with pytest.raises(type(error)):
        await _attempt([error])


async def test_the_last_error_is_raised_when_attempts_run_out() -> None:
    with pytest.raises(ServerError, match="c"):
        await _attempt([ServerError("a"), ServerError("b"), ServerError("c")])


async def test_a_429_pauses_the_whole_pool_for_the_servers_hint() -> None:
    admission = Admission(Stopping(grace=0), concurrency=1, rpm=0)
    paused: list[float] = []
    attempts = Attempts(
        JOB,
        policy=RetryPolicy(max_attempts=2, scale=0.01),  # waits 1% of the hint
        admission=admission,
        events=Events(),
        failed=lambda error, retrying: paused.append(admission.pause.remaining()),
    )
    async for attempt in attempts:
        with attempt:
            if attempt.number == 1:
                raise RateLimitError("slow down", retry_after=20.0)
    assert len(paused) == 1
    assert 0.1 < paused[0] <= 0.2


async def test_a_stop_during_the_wait_ends_the_loop() -> None:
    from batch_gen.runner.gate import Stopped

    stopping = Stopping(grace=0)
    admission = Admission(stopping, concurrency=1, rpm=0)
    attempts = Attempts(
        JOB,
        policy=RetryPolicy(max_attempts=3, base_delay=10.0, max_delay=10.0),
        admission=admission,
        events=Events(),
        failed=lambda error, retrying: stopping.stop(),
    )

    async def always_busy() -> None:
        async for attempt in attempts:
            with attempt:
                raise ServerError("busy")

    with pytest.raises(Stopped):
        await always_busy()
