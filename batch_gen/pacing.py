"""How fast requests go out: a rate limit, a shared pause, and an adaptive concurrency cap.

Three mechanisms, each with one job:

- :class:`RateLimiter` — never more than ``rpm`` requests in any 60-second window, spread
  evenly (one every ``60/rpm`` seconds) because providers also police windows of a few
  seconds and a start-up burst of a full minute's quota would trip them.
- :class:`PoolPause` — a 429 or a ``Retry-After`` stops the whole pool, not just the worker
  that heard it: every worker waits until the pause ends before sending again.
- :class:`AdaptiveSlots` — in-flight requests are capped; repeated 429s halve the cap and a
  run of successes raises it again (additive increase, multiplicative decrease). The
  arithmetic lives in the pure :class:`ConcurrencyController`.

All of them must be created inside the running event loop (aiolimiter binds to it).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter


class RateLimiter:
    """At most ``rpm`` acquisitions per minute, evenly spaced; ``rpm == 0`` means no limit."""

    def __init__(self, rpm: int) -> None:
        if rpm < 0:
            raise ValueError("rpm must be >= 0")
        self.rpm = rpm
        # A bucket of size 1 that drains one request every 60/rpm seconds: no burst, ever.
        # AsyncLimiter(rpm, 60) would let a whole minute's quota through at start-up.
        self._limiter = AsyncLimiter(1, 60.0 / rpm) if rpm else None

    async def acquire(self) -> None:
        if self._limiter is not None:
            await self._limiter.acquire()


class PoolPause:
    """A pause shared by every worker, extended (never shortened) by each new request."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every worker for at least ``seconds`` from now."""
        self._until = max(self._until, self._clock() + max(seconds, 0.0))

    def remaining(self) -> float:
        return max(self._until - self._clock(), 0.0)

    async def wait(self) -> None:
        """Return once no pause is in force (re-checking: a pause may grow while we sleep)."""
        # A loop, not an Event: the pause may be extended while we sleep.
        while (left := self.remaining()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(left)


@dataclass(slots=True)
class ConcurrencyController:
    """AIMD arithmetic for the in-flight cap; pure and synchronous.

    A 429 halves the cap (not below 1), but only if the rejected request was sent after
    the last cut: 429s for requests that were already in flight when the cap was cut
    describe the old cap, not the new one (TCP reacts once per window for the same reason).
    After ``limit`` successes in a row the cap grows by one, back up to ``maximum``.
    """

    maximum: int
    limit: int = 0
    _streak: int = 0
    _last_cut: float = float("-inf")

    def __post_init__(self) -> None:
        if self.maximum < 1:
            raise ValueError("maximum must be >= 1")
        if not self.limit:
            self.limit = self.maximum

    def on_rate_limited(self, *, sent_at: float, now: float) -> int:
        """A request sent at ``sent_at`` was rejected with 429 at ``now``."""
        self._streak = 0
        if sent_at >= self._last_cut:
            self.limit = max(1, self.limit // 2)
            self._last_cut = now
        return self.limit

    def on_success(self) -> int:
        if self.limit < self.maximum:
            self._streak += 1
            if self._streak >= self.limit:
                self.limit += 1
                self._streak = 0
        return self.limit


class AdaptiveSlots:
    """A semaphore whose size follows a :class:`ConcurrencyController`.

    Giving a slot back never waits (:meth:`give_back`): it runs once per request, and a
    lock and a task for it would cost more than the rest of the bookkeeping. Waiters are
    served first come, first served.
    """

    def __init__(self, maximum: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.controller = ConcurrencyController(maximum=maximum)
        self._clock = clock
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def limit(self) -> int:
        return self.controller.limit

    @property
    def in_use(self) -> int:
        return self._in_use

    def free(self) -> bool:
        return self._in_use < self.controller.limit

    def try_acquire(self) -> float | None:
        """Take a free slot without waiting; None when none is free (or others wait)."""
        if self._in_use < self.controller.limit and not self._waiters:
            self._in_use += 1
            return self._clock()
        return None

    async def acquire(self) -> float:
        """Take a slot; return the time it was taken (pass it back to :meth:`release`)."""
        taken_at = self.try_acquire()
        if taken_at is not None:
            return taken_at
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # resolved with the slot already counted as ours
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.give_back(0.0)  # handed a slot, then cancelled: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        return self._clock()

    def give_back(
        self, taken_at: float, *, rate_limited: bool = False, succeeded: bool = False
    ) -> None:
        """Give the slot back, telling the controller how the request went."""
        self._in_use -= 1
        if rate_limited:
            self.controller.on_rate_limited(sent_at=taken_at, now=self._clock())
        elif succeeded:
            self.controller.on_success()
        while self._waiters and self._in_use < self.controller.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)

    async def release(
        self, taken_at: float, *, rate_limited: bool = False, succeeded: bool = False
    ) -> None:
        """:meth:`give_back`, for callers that await it."""
        self.give_back(taken_at, rate_limited=rate_limited, succeeded=succeeded)
