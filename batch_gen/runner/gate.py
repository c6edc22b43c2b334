"""Stopping and admission: when the run stops dispatching, and when a request may go.

Stopping has three causes, handled alike, by no longer dispatching and letting what is in
flight finish: an interrupt (Ctrl-C, SIGTERM, SIGHUP: in-flight requests get ``grace``
seconds, then are cancelled, and a second interrupt cancels them at once), a fatal error
(401/403, an unknown model, an unwritable output folder, a host no call could reach: the
run aborts, exit 3) and a stop the run asks for itself (``--fail-fast``, ``--max-cost``).

Admission is the pool's shared pause (a 429's Retry-After holds every worker), the
adaptive concurrency slots (repeated 429s lower the limit) and the rate limit, which every
HTTP call takes on its own: submissions, polls and pre-action fetches alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from ..errors import ConnectError
from ..interrupts import interrupting_signals
from ..pacing import AdaptiveSlots, PoolPause, RateLimiter

T = TypeVar("T")


class Stopped(Exception):
    """The run is stopping: the job gives up without recording a failure."""


class Stopping:
    """The run's stop signal, and why it was given. Created inside the running loop."""

    def __init__(self, *, grace: float) -> None:
        self.event = asyncio.Event()
        self.grace = grace
        self.interrupts = 0
        self.aborted: str | None = None  # the message of the error that stopped the run
        self.reached = False  # whether any call of this run has connected to the API
        self._cancel: Callable[[], None] = lambda: None
        self._announce: Callable[[int], None] = lambda interrupts: None

    def is_set(self) -> bool:
        return self.event.is_set()

    def on_cancel(self, cancel: Callable[[], None]) -> None:
        """What cancels the work in flight (the workers): called when the grace is over."""
        self._cancel = cancel

    def on_interrupt(self, announce: Callable[[int], None]) -> None:
        """What tells the user, at once, what an interrupt does (given the count so far)."""
        self._announce = announce

    def interrupt(self) -> None:
        """Ctrl-C, SIGTERM or SIGHUP: the first stops dispatching, the second cancels in-flight
        work."""
        self.interrupts += 1
        self.event.set()
        self._announce(self.interrupts)
        if self.interrupts > 1:
            self._cancel()

    def abort(self, reason: str) -> None:
        """Stop for a reason that would fail every other job too (exit 3); the first wins."""
        if self.aborted is None:
            self.aborted = reason
        self.event.set()

    def connected(self) -> None:
        """A call connected (whatever came of it): the API's host can be reached."""
        self.reached = True

    def unreachable(self, error: ConnectError) -> bool:
        """A call could not connect. Before any call of this run connected, the host cannot
        be reached at all and every job would fail alike: abort (exit 3) with one line that
        names it, and return True. Once a call has connected, it is passing trouble, for
        the retry loop: return False."""
        if self.reached:
            return False
        if error.through_proxy:
            advice = "check HTTPS_PROXY / HTTP_PROXY, or NO_PROXY"
        else:
            advice = "check --base-url / COMETAPI_BASE_URL, or your network and proxy settings"
        self.abort(f"cannot reach {error.host}: {error.reason}; {advice}")
        return True

    def stop(self) -> None:
        """Stop dispatching, letting what is in flight finish (fail-fast, budget)."""
        self.event.set()

    async def watchdog(self) -> None:
        """After an interrupt, give in-flight requests ``grace`` seconds, then cancel them."""
        await self.event.wait()
        if self.interrupts:
            await asyncio.sleep(self.grace)
            self._cancel()

    async def unless_stopped(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` unless the run starts stopping first (then raise Stopped)."""
        if self.event.is_set():
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise Stopped
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self.event.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
                # asyncio.wait never raises the task's CancelledError, so a cancellation of
                # *this* coroutine is not swallowed here.
                await asyncio.wait({task})
        if task.cancelled():
            raise Stopped
        return task.result()


class Admission:
    """The pool's pause, concurrency slots and rate limit. Created inside the running loop
    (aiolimiter binds to it)."""

    def __init__(self, stopping: Stopping, *, concurrency: int, rpm: int) -> None:
        self.stopping = stopping
        self.pause = PoolPause()
        self.slots = AdaptiveSlots(concurrency)
        self.rate = RateLimiter(rpm)

    async def slot(self) -> float:
        """Wait out a pool pause, then take a slot, unless the run stops first; the time it
        was taken, for :meth:`release`.

        The fast path awaits nothing when no pause is on and a slot is free: this runs once
        per request, and wrapping idle waits in tasks would cost for nothing.
        """
        if self.pause.remaining() > 0:
            await self.stopping.unless_stopped(self.pause.wait())
        if self.stopping.is_set():
            raise Stopped
        taken_at = self.slots.try_acquire()
        if taken_at is not None:
            return taken_at
        return await self.stopping.unless_stopped(self.slots.acquire())

    async def release(self, taken_at: float, *, rate_limited: bool, succeeded: bool) -> None:
        """Give the slot back, telling the concurrency controller how the request went.
        Never suspends, so a cancellation cannot cut it short."""
        self.slots.give_back(taken_at, rate_limited=rate_limited, succeeded=succeeded)

    async def call_slot(self) -> None:
        """Before each HTTP call: the rate limit (its own slot for every call), then any
        pause that began meanwhile."""
        if self.rate.rpm:
            await self.stopping.unless_stopped(self.rate.acquire())
        if self.pause.remaining() > 0:
            await self.stopping.unless_stopped(self.pause.wait())

    async def sleep(self, seconds: float) -> None:
        """Sleep, unless the run stops first (then raise Stopped)."""
        await self.stopping.unless_stopped(asyncio.sleep(seconds))


@contextlib.contextmanager
def signals(stopping: Stopping, *, enabled: bool) -> Iterator[None]:
    """Route SIGINT, SIGTERM and SIGHUP to :meth:`Stopping.interrupt` while the block runs
    (see :func:`~batch_gen.interrupts.interrupting_signals`)."""
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    installed = []
    for sig in interrupting_signals():
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.interrupt)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
