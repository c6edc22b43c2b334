"""The run's workers and the jobs finished beside them, in one TaskGroup.

A worker runs one job after another. A job that succeeded is finished (files renamed into
place, sidecar written, success recorded) beside the workers, so that its worker sends its
next request first: small files at the event loop's next turn (:meth:`Pool.defer`, a
callback: it runs once per job), large ones in a task of their own that awaits the file
threads (:meth:`Pool.spawn`; a worker waits while ``4 x concurrency`` of those wait).
A second interrupt cancels every worker and finishing task at once (:meth:`Pool.cancel`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class Pool:
    """Workers and finishing, for one run. Created inside the running loop."""

    def __init__(self, *, concurrency: int) -> None:
        self.concurrency = concurrency
        # Cancellable tasks; each leaves the set when done, so that memory follows
        # concurrency, not jobs.
        self._tasks: set[asyncio.Task[None]] = set()
        self._finishing = asyncio.Semaphore(4 * concurrency)
        self._group: asyncio.TaskGroup | None = None

    async def run(self, worker: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``concurrency`` workers and what they finish until all are done. Workers
        cancelled on purpose (second Ctrl-C, grace expired) end quietly: a TaskGroup does
        not treat a child's cancellation as an error."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            for _ in range(self.concurrency):
                self._track(group.create_task(worker()))

    async def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Finish a job in a task beside the workers (see the module docstring)."""
        try:
            await self._finishing.acquire()
        except BaseException:
            coroutine.close()
            raise
        assert self._group is not None
        self._track(self._group.create_task(self._finish(coroutine)))

    def defer(self, finish: Callable[[], None]) -> None:
        """Finish a job at the event loop's next turn, after the requests that are ready
        to go."""
        asyncio.get_running_loop().call_soon(self._finish_now, finish)

    @property
    def running(self) -> int:
        """Workers and finishing tasks not yet done."""
        return len(self._tasks)

    def cancel(self) -> None:
        """Cancel every worker and finishing task."""
        for task in list(self._tasks):
            task.cancel()

    def _finish_now(self, finish: Callable[[], None]) -> None:
        try:
            finish()
        except Exception as error:
            # A bug (file system errors abort the run on their own): fail the run as a
            # finishing task would, not only in the event loop's log.
            if self._group is None:
                raise
            self._group.create_task(_reraise(error))

    async def _finish(self, coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            await coroutine
        finally:
            self._finishing.release()

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _reraise(error: Exception) -> None:
    raise error
