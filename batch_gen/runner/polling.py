"""When a task is polled, and how: one at a time, or with every waiting task of its API in
one bulk call.

A task API whose spec declares ``bulk_poll`` (Midjourney's ``list-by-condition``) is polled
by the run's :class:`BulkPoller`: each poll interval it asks, in calls of up to
``bulk_poll`` ids, how every task still waiting is doing, so that polling 500 tasks costs a
handful of calls an interval instead of 500. Each bulk call takes its own rate-limit slot,
like every call. A task is fetched singly instead (by its job, through the request loop)
when the bulk answers left it out :data:`MISSED_ROUNDS` times in a row (a gateway may not
list a task it just accepted, or one it lost: the single fetch tells which, and the request
loop's lost-task rules apply), and every task of an API is, for the rest of the run, once
its gateway refuses the bulk call itself (it lacks the route).

Other task APIs are polled one task per call, the job waiting :func:`poll_delay` first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

from ..errors import ConnectError, ProviderError
from ..providers.answers import redact
from ..providers.base import Answer, BulkPolling, Call, Poll, Provider, bulk_polling
from .gate import Admission, Stopped, Stopping

#: Bulk answers in a row that may leave a waiting task out before it is fetched singly.
MISSED_ROUNDS = 2

_log = logging.getLogger(__name__)


def poll_delay(polls: int, interval: float) -> float:
    """Seconds to wait before poll number ``polls`` (1-based) of one task polled singly:
    ``interval``, growing while the task runs long, up to five times it."""
    return float(min(interval * 1.5 ** max(polls - 1, 0), 5 * interval))


@dataclass(slots=True)
class _Waiting:
    """The tasks of one bulk-polled API waiting for the next round, by task id."""

    provider: BulkPolling
    limit: int
    futures: dict[str, list[asyncio.Future[Poll | None]]] = field(default_factory=dict)


class BulkPoller:
    """The run's poller of APIs that poll in bulk (see the module docstring). Created
    inside the running loop; :meth:`run` is its one task, for the run's whole length."""

    def __init__(
        self,
        *,
        admission: Admission,
        stopping: Stopping,
        transport: Callable[[Call], Awaitable[Answer]],
        interval: float,
        secret: str | None,
    ) -> None:
        self._admission = admission
        self._stopping = stopping
        self._transport = transport
        self._interval = interval
        self._secret = secret
        self._waiting: dict[str, _Waiting] = {}
        self._refused: set[str] = set()  # APIs whose gateway refused the bulk call
        self._missed: dict[str, int] = {}  # rounds in a row that left a task out
        self._wanted = asyncio.Event()  # some task waits for a round
        self.calls = 0  # bulk calls sent

    def takes(self, provider: Provider) -> bool:
        """Whether ``provider``'s tasks are polled here (else singly, by their jobs)."""
        return bulk_polling(provider) is not None and provider.spec.api not in self._refused

    async def poll(self, provider: Provider, task_id: str) -> Poll | None:
        """What the next bulk round says of task ``task_id``, or None when the job should
        fetch it singly: the bulk answers left it out :data:`MISSED_ROUNDS` times in a row,
        or the gateway refused the bulk call. Raises the ProviderError of a bulk call that
        failed (a poll is never billed: not ambiguous)."""
        api = provider.spec.api
        waiting = self._waiting.get(api)
        if waiting is None:
            poller = bulk_polling(provider)
            assert poller is not None, f"{api} does not poll in bulk"
            waiting = self._waiting[api] = _Waiting(poller, provider.spec.bulk_poll)
        future: asyncio.Future[Poll | None] = asyncio.get_running_loop().create_future()
        waiting.futures.setdefault(task_id, []).append(future)
        self._wanted.set()
        try:
            return await future
        finally:
            futures = waiting.futures.get(task_id)
            if futures is not None and future in futures:  # cancelled: no longer waiting
                futures.remove(future)
                if not futures:
                    del waiting.futures[task_id]

    async def run(self) -> None:
        """Poll the waiting tasks once an interval, until cancelled. Never raises: what a
        bulk call raised goes to the tasks it asked about."""
        while True:
            await self._wanted.wait()
            await asyncio.sleep(self._interval)
            self._wanted.clear()
            rounds = [self._round(api, ids) for api, ids in self._chunks()]
            await asyncio.gather(*rounds)

    def _chunks(self) -> Iterator[tuple[str, list[str]]]:
        for api, waiting in self._waiting.items():
            ids = list(waiting.futures)
            for start in range(0, len(ids), waiting.limit):
                yield api, ids[start : start + waiting.limit]

    async def _round(self, api: str, ids: Sequence[str]) -> None:
        """One bulk call for ``ids``; each waiting task gets what it says."""
        poller = self._waiting[api].provider
        try:
            answer = await self._send(poller.bulk_poll_call(ids))
            found = poller.read_bulk_poll(answer, ids, secret=self._secret)
        except Stopped:
            return  # the run stops: its jobs stop waiting on their own
        except ProviderError as error:
            error.ambiguous = False  # a poll is never billed
            for task_id in ids:
                self._settle(api, task_id, error)
            return
        except Exception as error:  # a bug: let the jobs fail loudly, not hang
            for task_id in ids:
                self._settle(api, task_id, error)
            return
        if found is None:
            _log.debug("%s refused the bulk poll: polling its tasks one by one", api)
            self._refused.add(api)
            for task_id in ids:
                self._settle(api, task_id, None)
            return
        for task_id in ids:
            result = found.get(task_id)
            if result is not None:
                self._missed.pop(task_id, None)
                self._settle(api, task_id, result)
                continue
            missed = self._missed[task_id] = self._missed.get(task_id, 0) + 1
            if missed >= MISSED_ROUNDS:
                del self._missed[task_id]
                self._settle(api, task_id, None)
            else:
                self._wanted.set()  # still waiting: ask again next round

    def _settle(self, api: str, task_id: str, result: Poll | BaseException | None) -> None:
        """Give ``result`` to every job waiting for ``task_id``."""
        for future in self._waiting[api].futures.pop(task_id, []):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _send(self, call: Call) -> Answer:
        """Send a bulk call in its own rate-limit slot (``--debug`` logs it)."""
        await self._admission.call_slot()
        self.calls += 1
        started = time.monotonic()
        try:
            answer = await self._transport(call)
        except ConnectError as error:
            if self._stopping.unreachable(error):
                raise Stopped from error
            raise
        except ProviderError:
            self._stopping.connected()
            raise
        self._stopping.connected()
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "bulk poll: %s %s: HTTP %d in %.3fs",
                call.method,
                redact(call.path, self._secret),
                answer.status,
                time.monotonic() - started,
            )
        return answer
