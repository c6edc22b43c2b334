"""Pacing: the AIMD concurrency arithmetic, the shared pause, the even rate limit."""

from __future__ import annotations

import asyncio
import time

import pytest

from batch_gen.pacing import AdaptiveSlots, ConcurrencyController, PoolPause, RateLimiter


def test_429s_of_requests_sent_before_a_cut_do_not_cut_again() -> None:
    """A burst of 429s for requests already in flight cuts the cap once, not once each."""
    controller = ConcurrencyController(maximum=16)
    assert controller.on_rate_limited(sent_at=9.0, now=10.0) == 8
    assert controller.on_rate_limited(sent_at=9.5, now=10.2) == 8  # sent before the cut
    assert controller.on_rate_limited(sent_at=10.1, now=10.3) == 4  # sent after it
    for now in (13.0, 15.0, 17.0, 19.0):
        controller.on_rate_limited(sent_at=now, now=now)
    assert controller.limit == 1


def test_successes_raise_the_cap_back_to_the_maximum() -> None:
    """After `limit` successes in a row the cap grows by one, never past the maximum."""
    controller = ConcurrencyController(maximum=4)
    controller.on_rate_limited(sent_at=0.0, now=0.0)
    controller.on_rate_limited(sent_at=1.0, now=1.0)
    assert controller.limit == 1
    controller.on_success()
    assert controller.limit == 2
    controller.on_success()
    assert controller.limit == 2
    controller.on_success()
    assert controller.limit == 3
    for _ in range(20):
        controller.on_success()
    assert controller.limit == 4


def test_pause_only_grows() -> None:
    """A shorter pause requested during a longer one does not shorten it."""
    now = [100.0]
    pause = PoolPause(clock=lambda: now[0])
    pause.pause(5.0)
    pause.pause(1.0)
    assert pause.remaining() == 5.0
    now[0] = 103.0
    assert pause.remaining() == 2.0
    now[0] = 200.0
    assert pause.remaining() == 0.0


async def test_pause_holds_every_waiter() -> None:
    """Every worker waiting on the pool resumes only once the pause is over."""
    pause = PoolPause()
    pause.pause(0.05)
    started = time.monotonic()
    await asyncio.gather(*(pause.wait() for _ in range(5)))
    assert time.monotonic() - started >= 0.045


async def test_slots_cap_in_flight_work() -> None:
    """No more than the cap hold a slot at once, and a 429 lowers the cap for newcomers."""
    slots = AdaptiveSlots(3)
    peak = 0

    async def user() -> None:
        nonlocal peak
        taken = await slots.acquire()
        peak = max(peak, slots.in_use)
        await asyncio.sleep(0.01)
        await slots.release(taken, succeeded=True)

    await asyncio.gather(*(user() for _ in range(12)))
    assert peak == 3
    taken = await slots.acquire()
    await slots.release(taken, rate_limited=True)
    assert slots.limit == 1


async def test_rate_limiter_spreads_requests_without_a_burst() -> None:
    """At N per minute, k acquisitions take at least (k-1) * 60/N: no start-up burst."""
    limiter = RateLimiter(6000)  # one every 10 ms
    started = time.monotonic()
    for _ in range(11):
        await limiter.acquire()
    assert time.monotonic() - started >= 10 * 0.010 * 0.95


async def test_rate_zero_means_unlimited() -> None:
    """rpm 0 never waits: 1,000 acquisitions complete without sleeping at all."""
    limiter = RateLimiter(0)

    async def take_all() -> None:
        for _ in range(1000):
            await limiter.acquire()

    # Any wait at all would be 60/rpm seconds per acquisition; a second is generous.
    await asyncio.wait_for(take_all(), timeout=1.0)
    assert limiter.rpm == 0


def test_negative_rate_is_refused() -> None:
    """A negative rate is a programming error."""
    with pytest.raises(ValueError, match="rpm"):
        RateLimiter(-1)


async def test_a_slot_goes_to_the_first_waiter_and_a_cancelled_one_passes_it_on() -> None:
    """Waiters are served in order; one cancelled while waiting (or just after being handed
    a slot) leaves no slot taken for nothing."""
    slots = AdaptiveSlots(1)
    held = await slots.acquire()
    order: list[str] = []

    async def user(name: str) -> None:
        taken = await slots.acquire()
        order.append(name)
        slots.give_back(taken, succeeded=True)

    first = asyncio.create_task(user("first"))
    second = asyncio.create_task(user("second"))
    third = asyncio.create_task(user("third"))
    await asyncio.sleep(0)
    first.cancel()
    slots.give_back(held, succeeded=True)  # hands the slot to "first", already cancelled
    second.cancel()
    await asyncio.gather(first, second, third, return_exceptions=True)
    assert order == ["third"]
    assert slots.in_use == 0
