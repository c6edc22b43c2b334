"""Progress display: a tqdm bar on a terminal, a plain line every few seconds otherwise.

CI logs and pipes get :class:`LineProgress` (a bar redrawn with carriage returns makes a
log unreadable); ``--no-progress`` gets :class:`NullProgress`. All write to stderr so that
stdout stays for the summary and ``--json`` output.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO


@dataclass(slots=True)
class Counts:
    """Jobs of the run's whole manifest: ``total`` (those already done and those to run),
    ``done`` (the ``already`` done before this run started included), ``failed`` and
    ``retrying`` now. The rate counts only what this run finished."""

    total: int = 0
    done: int = 0
    failed: int = 0
    retrying: int = 0
    already: int = 0
    started_at: float = field(default_factory=time.monotonic)

    def rate(self, now: float) -> float:
        elapsed = now - self.started_at
        finished = self.done + self.failed - self.already
        return finished / elapsed if elapsed > 0 else 0.0

    def eta(self, now: float) -> float | None:
        rate = self.rate(now)
        left = self.total - self.done - self.failed
        return left / rate if rate > 0 else None


class Progress(Protocol):
    counts: Counts

    def start(self, total: int, *, done: int = 0) -> None:
        """Show ``total`` jobs, ``done`` of them already done (a resumed run starts at
        37/300, not at 0/263)."""
        ...

    def finished(self, *, ok: bool) -> None: ...
    def retrying(self, delta: int) -> None: ...
    def tick(self) -> None: ...
    def close(self) -> None: ...


class NullProgress:
    """Counts, shows nothing."""

    def __init__(self) -> None:
        self.counts = Counts()

    def start(self, total: int, *, done: int = 0) -> None:
        self.counts = Counts(total=total, done=done, already=done)

    def finished(self, *, ok: bool) -> None:
        if ok:
            self.counts.done += 1
        else:
            self.counts.failed += 1

    def retrying(self, delta: int) -> None:
        self.counts.retrying += delta

    def tick(self) -> None:
        pass

    def close(self) -> None:
        pass


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class LineProgress(NullProgress):
    """One line every ``interval`` seconds (and a last one at the end)."""

    def __init__(
        self,
        stream: TextIO = sys.stderr,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._stream = stream
        self._interval = interval
        self._clock = clock
        self._last = clock()

    def line(self) -> str:
        c, now = self.counts, self._clock()
        return (
            f"progress: {c.done + c.failed}/{c.total} jobs, {c.done} ok, {c.failed} failed, "
            f"{c.retrying} retrying, {c.rate(now):.1f} jobs/s, ETA {_clock(c.eta(now))}"
        )

    def tick(self) -> None:
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            print(self.line(), file=self._stream, flush=True)

    def close(self) -> None:
        if self.counts.total:
            print(self.line(), file=self._stream, flush=True)


class BarProgress(NullProgress):
    """A tqdm bar with ok / failed / retrying counts."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        super().__init__()
        self._stream = stream
        self._bar: Any = None

    def start(self, total: int, *, done: int = 0) -> None:
        from tqdm import tqdm

        super().start(total, done=done)
        self._bar = tqdm(
            total=total, initial=done, file=self._stream, unit="job", dynamic_ncols=True
        )
        self._refresh()

    def _refresh(self) -> None:
        if self._bar is not None:
            c = self.counts
            self._bar.set_postfix(ok=c.done, failed=c.failed, retrying=c.retrying, refresh=False)

    def finished(self, *, ok: bool) -> None:
        super().finished(ok=ok)
        self._refresh()
        if self._bar is not None:
            self._bar.update(1)

    def retrying(self, delta: int) -> None:
        super().retrying(delta)
        self._refresh()

    def tick(self) -> None:
        if self._bar is not None:
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def choose_progress(*, enabled: bool, stream: TextIO = sys.stderr) -> Progress:
    """A bar on a terminal, lines in CI or a pipe, nothing when disabled."""
    if not enabled:
        return NullProgress()
    import os

    if stream.isatty() and not os.environ.get("CI"):
        return BarProgress(stream)
    return LineProgress(stream)
