"""The one retry loop, in stamina's shape: attempts come from an iterator, and the body of
each is a ``with`` block that hands its failure to the loop::

    async for attempt in Attempts(job, policy=..., admission=..., events=..., failed=...):
        with attempt:
            ...  # one try; a ProviderError ends the block

The loop decides (with the pure :func:`batch_gen.retry.retry_delay`) whether and when to
try again: it reports the failure to ``failed`` (the job records it and its fate), pauses
the whole pool on a 429, emits ``Retrying``, waits (unless the run stops) and yields the
next attempt; when no try may follow, it raises the last error. A block that ends without
an error ends the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from ..errors import FatalProviderError, ProviderError, RateLimitError
from ..models import Job
from ..retry import RetryPolicy, retry_delay
from .events import Events, Resumed, Retrying
from .gate import Admission

Failed = Callable[[ProviderError, bool], None]  # (error, will it be retried?)


@dataclass(slots=True)
class Attempt:
    """One try: ``number`` counts from 1; ``error`` is what ended its block, if anything."""

    number: int
    error: ProviderError | None = None

    def __enter__(self) -> Attempt:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if isinstance(error, ProviderError):
            self.error = error
            return True  # the loop decides what follows
        return False


class Attempts:
    """Attempts at one request (or download) of ``job``; see the module docstring."""

    def __init__(
        self,
        job: Job,
        *,
        policy: RetryPolicy,
        admission: Admission,
        events: Events,
        failed: Failed,
        what: str = "request",
    ) -> None:
        self._job = job
        self._policy = policy
        self._admission = admission
        self._events = events
        self._failed = failed
        self._what = what
        self._last: Attempt | None = None

    def __aiter__(self) -> Attempts:
        return self

    async def __anext__(self) -> Attempt:
        last = self._last
        if last is None:
            self._last = Attempt(1)
            return self._last
        error = last.error
        if error is None:
            raise StopAsyncIteration
        delay = retry_delay(error, last.number, self._policy)
        if isinstance(error, RateLimitError):
            self._admission.pause.pause(delay if delay is not None else 1.0)
        retrying = delay is not None and not isinstance(error, FatalProviderError)
        self._failed(error, retrying)
        if delay is None or not retrying:
            raise error
        self._events.emit(Retrying(self._job, error, delay, self._what))
        try:
            await self._admission.sleep(delay)
        finally:
            self._events.emit(Resumed(self._job))
        self._last = Attempt(last.number + 1)
        return self._last
