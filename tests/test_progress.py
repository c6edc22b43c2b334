"""The progress display counts the run's whole manifest: a resumed run starts at what is
already done (37/300, not 0/263), and its rate and ETA count only what this run does."""

from __future__ import annotations

import io

from batch_gen.progress import BarProgress, LineProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_resumed_run_starts_at_what_is_already_done() -> None:
    clock = Clock()
    progress = LineProgress(io.StringIO(), clock=clock)
    progress.start(300, done=37)
    progress.counts.started_at = clock.now
    assert progress.line() == (
        "progress: 37/300 jobs, 37 ok, 0 failed, 0 retrying, 0.0 jobs/s, ETA ?"
    )
    clock.now += 2.0
    progress.finished(ok=True)
    progress.finished(ok=False)
    # 2 jobs in 2 s: 1 job/s, and 261 jobs left.
    assert progress.line() == (
        "progress: 39/300 jobs, 38 ok, 1 failed, 0 retrying, 1.0 jobs/s, ETA 0:04:21"
    )


def test_a_fresh_run_starts_at_zero() -> None:
    progress = LineProgress(io.StringIO())
    progress.start(12)
    assert progress.line().startswith("progress: 0/12 jobs, 0 ok, 0 failed")


def test_the_bar_starts_at_what_is_already_done() -> None:
    stream = io.StringIO()
    progress = BarProgress(stream)
    progress.start(300, done=37)
    progress.finished(ok=True)
    progress.close()
    assert "38/300" in stream.getvalue()


def test_a_run_that_shows_nothing_prints_nothing() -> None:
    stream = io.StringIO()
    progress = LineProgress(stream)
    progress.close()  # never started: nothing ran
    assert stream.getvalue() == ""
