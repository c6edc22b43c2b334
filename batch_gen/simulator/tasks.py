"""The generic task store behind every asynchronous API (Midjourney, Flux, Bria edits).

A task's progress is read off the clock, never advanced by a worker: a :class:`Schedule`
says when it was submitted, how long it waits queued and how long the work takes, and
each API maps that onto its own statuses. A :class:`TaskStore` keeps the tasks of one app
by id, forgets one past its time to live when it is next looked up, and answers None for
an id it never issued — the API decides how to say "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a task was submitted and how its work is timed, in clock seconds."""

    submitted_at: float
    duration: float
    """Seconds of work (always > 0)."""
    delay: float = 0.0
    """Seconds queued before the work starts (Midjourney's code 22)."""

    @property
    def started_at(self) -> float:
        """Clock time at which the work starts."""
        return self.submitted_at + self.delay

    @property
    def ready_at(self) -> float:
        """Clock time at which the work is done."""
        return self.started_at + self.duration

    def elapsed(self, now: float) -> float:
        """Seconds of work done at *now* (negative while still queued)."""
        return now - self.started_at

    def done(self, now: float) -> bool:
        """Whether the work is finished at *now*."""
        return now >= self.ready_at

    def fraction(self, now: float) -> float:
        """Share of the work done at *now* (unclamped)."""
        return self.elapsed(now) / self.duration


class Task(Protocol):
    """What the store needs of a task."""

    @property
    def id(self) -> str: ...

    @property
    def schedule(self) -> Schedule: ...


_T = TypeVar("_T", bound=Task)


class TaskStore(Generic[_T]):
    """The tasks of one app by id.

    *ttl* is the seconds after submit until a task is forgotten; None keeps tasks forever
    (Midjourney's ``/mj/image/{id}`` is stable).
    """

    def __init__(self, *, ttl: float | None) -> None:
        self._tasks: dict[str, _T] = {}
        self._ttl = ttl

    def clear(self) -> None:
        """Forget every task (``POST /_sim/reset``)."""
        self._tasks.clear()

    def add(self, task: _T) -> _T:
        """Store *task* under its id and return it."""
        self._tasks[task.id] = task
        return task

    def live(self, task_id: str, *, now: float) -> _T | None:
        """The task if it was issued and has not outlived the time to live at *now*."""
        task = self._tasks.get(task_id)
        if task is None or self._ttl is None or now - task.schedule.submitted_at < self._ttl:
            return task
        del self._tasks[task_id]
        return None
