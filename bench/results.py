"""What one ``make bench`` measured, as values: one dataclass per part. Nothing here
measures (``bench.py`` and its parts do) or judges (``targets.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RunnerResult:
    """One runner of the throughput comparison. ``status`` is ok, skipped, failed (bad
    exit) or invalid (it exited 0 but its files did not check out)."""

    name: str
    status: str
    note: str = ""
    images: int = 0
    wall_seconds: float | None = None
    images_per_second: float | None = None
    cpu_seconds_per_image: float | None = None
    peak_rss_mib: float | None = None
    vs_baseline: float | None = None
    requests: int | None = None
    server_cpu_seconds: float | None = None
    """CPU the simulator spent serving this runner (it shares the machine's cores)."""


@dataclass(frozen=True, slots=True)
class Startup:
    """What a runner costs for a single request, start-up included: subtracted from a
    sweep run's CPU to leave the cost per request (the smallest of a few tries)."""

    batch_gen_cpu_seconds: float
    baseline_cpu_seconds: float


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """batch_gen and the hand-written loop at one concurrency, against a server with a
    fixed latency per request."""

    concurrency: int
    jobs: int
    latency: float
    ideal_seconds: float
    run_wall_seconds: float | None
    """batch_gen's own wall time (its report's ``wall_seconds``: planning included)."""
    process_wall_seconds: float
    client_cpu_seconds: float
    server_max_concurrent: int
    server_cpu_seconds: float
    ok: bool
    note: str = ""
    baseline_wall_seconds: float | None = None
    """The hand-written loop's process wall time on the same jobs."""
    baseline_work_seconds: float | None = None
    """The loop's own wall time from its first request's set-up to its last file, as
    it reports it: what compares with batch_gen's run wall."""
    baseline_cpu_seconds: float | None = None
    startup: Startup | None = None

    @property
    def ratio(self) -> float | None:
        """batch_gen's run wall over the ideal (1.0 is perfect scheduling)."""
        if self.run_wall_seconds is None:
            return None
        return self.run_wall_seconds / self.ideal_seconds

    @property
    def baseline_ratio(self) -> float | None:
        if self.baseline_work_seconds is None:
            return None
        return self.baseline_work_seconds / self.ideal_seconds

    @property
    def cpu_ms_per_request(self) -> float | None:
        """batch_gen's CPU per request, start-up excluded (see :class:`Startup`)."""
        if self.startup is None or self.jobs < 2:
            return None
        spent = self.client_cpu_seconds - self.startup.batch_gen_cpu_seconds
        return 1000 * spent / (self.jobs - 1)

    @property
    def baseline_cpu_ms_per_request(self) -> float | None:
        if self.startup is None or self.baseline_cpu_seconds is None or self.jobs < 2:
            return None
        spent = self.baseline_cpu_seconds - self.startup.baseline_cpu_seconds
        return 1000 * spent / (self.jobs - 1)


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """batch_gen's ``--rpm`` against a server that enforces the same rate over short windows."""

    rpm: int
    window_seconds: float
    jobs: int
    ideal_seconds: float
    run_wall_seconds: float | None
    process_wall_seconds: float
    rejected: int
    """429 answers the server sent (its rpm window's plus any others)."""
    requests: int
    ok: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class ScaleOperation:
    """One command on a big manifest, measured as a child process. ``name`` says what
    it is and on what (``dry-run, recorded``): the same for 100,000 and a million jobs."""

    name: str
    command: str
    state: str
    """What the output folder's state held: "none" or how many jobs were recorded."""
    jobs: int
    wall_seconds: float
    peak_rss_mib: float
    limit_seconds: float
    ok: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class PutCostResult:
    recorded: int
    updates: int
    median_us: float
    p90_us: float


@dataclass(frozen=True, slots=True)
class MemoryPoint:
    """batch_gen's peak RSS for a number of small jobs at a fixed concurrency."""

    jobs: int
    concurrency: int
    peak_rss_mib: float
    wall_seconds: float
    ok: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class PollsRun:
    """batch_gen polling Midjourney tasks, counted from its ``--debug`` request log."""

    mode: str
    """``per task`` (bulk polls switched off, as before they existed) or ``bulk``."""
    tasks: int
    submits: int
    single_polls: int
    bulk_polls: int
    downloads: int
    wall_seconds: float
    ok: bool
    note: str = ""

    @property
    def polls_per_task(self) -> float:
        return (self.single_polls + self.bulk_polls) / self.tasks if self.tasks else 0.0


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    passed: bool
    detail: str


@dataclass(slots=True)
class BenchResults:
    """Everything one ``make bench`` measured."""

    environment: dict[str, Any]
    workload: dict[str, Any]
    runners: list[RunnerResult] = field(default_factory=list)
    sweep: list[SweepPoint] = field(default_factory=list)
    rate_limit: RateLimitResult | None = None
    scale: list[ScaleOperation] = field(default_factory=list)
    scale_note: str = ""
    million: list[ScaleOperation] = field(default_factory=list)
    put_costs: list[PutCostResult] = field(default_factory=list)
    memory: list[MemoryPoint] = field(default_factory=list)
    polls: list[PollsRun] = field(default_factory=list)
    total_seconds: float = 0.0

    def runner(self, name: str) -> RunnerResult | None:
        return next((result for result in self.runners if result.name == name), None)
