"""The generic task store and the clock-driven schedule every task API shares."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from batch_gen.simulator.tasks import Schedule, TaskStore


@dataclass
class _Task:
    id: str
    schedule: Schedule


def test_schedule_reads_progress_off_the_clock() -> None:
    schedule = Schedule(submitted_at=100.0, duration=2.0, delay=1.0)
    assert (schedule.started_at, schedule.ready_at) == (101.0, 103.0)
    assert schedule.elapsed(100.5) == -0.5  # still queued
    assert schedule.fraction(102.0) == 0.5
    assert not schedule.done(102.999)
    assert schedule.done(103.0)


@pytest.mark.parametrize(
    ("ttl", "looked_up_at", "found"),
    [(10.0, 109.9, True), (10.0, 110.0, False), (None, 1e9, True)],
    ids=["inside-ttl", "at-ttl", "never-expires"],
)
def test_a_task_lives_until_its_ttl(ttl: float | None, looked_up_at: float, found: bool) -> None:
    store: TaskStore[_Task] = TaskStore(ttl=ttl)
    task = store.add(_Task("a", Schedule(submitted_at=100.0, duration=1.0)))
    assert (store.live("a", now=looked_up_at) is task) is found
    if not found:  # forgotten for good, even if the clock went backwards
        assert store.live("a", now=100.0) is None


def test_unknown_ids_and_reset() -> None:
    store: TaskStore[_Task] = TaskStore(ttl=None)
    store.add(_Task("a", Schedule(submitted_at=0.0, duration=1.0)))
    assert store.live("b", now=0.0) is None
    store.clear()
    assert store.live("a", now=0.0) is None
