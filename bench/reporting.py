"""The benchmark's results: the values measured, the targets they are judged by, and their
rendering as JSON, Markdown tables and a PNG chart.

Nothing here measures; every number comes from ``bench.py``'s run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Targets (the lead's goals for batch_gen, not measurements).
THROUGHPUT_RATIO = 2.0
LATENCY_TOLERANCE = 0.10
RATE_TOLERANCE = 0.10
DRY_RUN_SECONDS = 3.0
STATUS_SECONDS = 1.0
SCALE_RSS_MIB = 300.0
PUT_RATIO = 1.5
PUT_SLACK_US = 50.0


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
class SweepPoint:
    """batch_gen at one concurrency against a server with fixed latency."""

    concurrency: int
    jobs: int
    latency: float
    ideal_seconds: float
    run_wall_seconds: float | None
    process_wall_seconds: float
    client_cpu_seconds: float
    server_max_concurrent: int
    server_cpu_seconds: float
    ok: bool
    note: str = ""
    baseline_wall_seconds: float | None = None
    """The hand-written baseline's process wall time on the same jobs: how close to the
    ideal this server and machine allow a client with no bookkeeping to get."""

    @property
    def ratio(self) -> float | None:
        """The run's own wall time over the ideal (1.0 is perfect scheduling)."""
        if self.run_wall_seconds is None:
            return None
        return self.run_wall_seconds / self.ideal_seconds


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
    """One command on the 100,000-job manifest, measured as a child process."""

    name: str
    command: str
    state: str
    """What the output folder's state held: "none" or how many jobs were recorded."""
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
    put_costs: list[PutCostResult] = field(default_factory=list)
    memory: list[MemoryPoint] = field(default_factory=list)
    total_seconds: float = 0.0

    def runner(self, name: str) -> RunnerResult | None:
        return next((result for result in self.runners if result.name == name), None)


# --- targets -----------------------------------------------------------------------------


def judge(results: BenchResults) -> list[Target]:
    """PASS/FAIL of each target; a target whose measurement failed does not pass."""
    return [
        _throughput_target(results),
        _latency_target(results.sweep),
        _rate_target(results.rate_limit),
        _scale_target(results.scale, results.workload["scale_jobs"]),
        _put_target(results.put_costs),
    ]


def _throughput_target(results: BenchResults) -> Target:
    name = f"throughput >= {THROUGHPUT_RATIO:g}x baseline"
    ours, base = results.runner("batch_gen"), results.runner("baseline")
    if not (ours and base and ours.status == "ok" and base.status == "ok"):
        return Target(name, False, "batch_gen or the baseline did not complete")
    ratio = ours.vs_baseline or 0.0
    return Target(
        name,
        ratio >= THROUGHPUT_RATIO,
        f"batch_gen {ours.images_per_second:.1f} images/s vs baseline "
        f"{base.images_per_second:.1f} = {ratio:.2f}x",
    )


def _latency_target(sweep: Sequence[SweepPoint]) -> Target:
    name = f"latency sweep within {LATENCY_TOLERANCE:.0%} of ideal"
    if not sweep or not all(point.ok and point.ratio is not None for point in sweep):
        return Target(name, False, "a sweep run did not complete")
    passed = all(abs((point.ratio or 0.0) - 1) <= LATENCY_TOLERANCE for point in sweep)
    detail = ", ".join(
        f"c={point.concurrency}: {point.run_wall_seconds:.2f}s/{point.ideal_seconds:.2f}s"
        for point in sweep
    )
    return Target(name, passed, detail)


def _rate_target(result: RateLimitResult | None) -> Target:
    name = f"rate limit: 0 rejections, wall within {RATE_TOLERANCE:.0%} of ideal"
    if result is None or not result.ok or result.run_wall_seconds is None:
        return Target(name, False, "the rate-limited run did not complete")
    walls = (result.run_wall_seconds, result.process_wall_seconds)
    on_time = all(abs(wall / result.ideal_seconds - 1) <= RATE_TOLERANCE for wall in walls)
    return Target(
        name,
        result.rejected == 0 and on_time,
        f"{result.rejected} rejected; run {walls[0]:.2f}s, process {walls[1]:.2f}s, "
        f"ideal {result.ideal_seconds:.2f}s",
    )


def _scale_target(operations: Sequence[ScaleOperation], jobs: int) -> Target:
    name = (
        f"{jobs:,} jobs: dry-run < {DRY_RUN_SECONDS:g}s, status < {STATUS_SECONDS:g}s, "
        f"RSS < {SCALE_RSS_MIB:g} MiB"
    )
    if not operations or not all(op.ok for op in operations):
        return Target(name, False, "a scale command failed")
    passed = all(
        op.wall_seconds < op.limit_seconds and op.peak_rss_mib < SCALE_RSS_MIB for op in operations
    )
    detail = "; ".join(
        f"{op.name} ({op.state}) {op.wall_seconds:.2f}s {op.peak_rss_mib:.0f} MiB"
        for op in operations
    )
    return Target(name, passed, detail)


def _put_target(costs: Sequence[PutCostResult]) -> Target:
    if len(costs) < 2:
        return Target("state update cost", False, "not measured")
    small, large = costs[0], costs[-1]
    name = (
        f"state update at {large.recorded:,} recorded within {PUT_RATIO:g}x or "
        f"{PUT_SLACK_US:g} us of {small.recorded:,}"
    )
    passed = (
        large.median_us <= PUT_RATIO * small.median_us
        or large.median_us - small.median_us <= PUT_SLACK_US
    )
    return Target(
        name,
        passed,
        f"{small.median_us:.1f} us at {small.recorded:,}, {large.median_us:.1f} us at "
        f"{large.recorded:,}",
    )


# --- rendering ---------------------------------------------------------------------------


def to_json(results: BenchResults, targets: Sequence[Target]) -> str:
    """The whole result as JSON (``bench/results/latest.json``)."""
    document = asdict(results)
    for point, raw in zip(results.sweep, document["sweep"], strict=True):
        raw["ratio"] = point.ratio
    document["targets"] = [asdict(target) for target in targets]
    return json.dumps(document, indent=2) + "\n"


def _number(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def to_markdown(
    results: BenchResults, targets: Sequence[Target], *, with_targets: bool = True
) -> str:
    """Every table of the run, then (*with_targets*) the targets as a list."""
    load = results.workload
    env = results.environment
    lines = [
        "# batch_gen benchmark",
        "",
        f"{env['date']} · {env['commit']} · Python {env['python']} · {env['cpus']} CPUs · "
        f"images written to {env.get('scratch', '?')} · total {results.total_seconds:.0f} s",
        "",
        f"## Throughput: {load['count']} images {load['size']} ({load['image_mode']} mode, "
        f"{load['mean_image_kb']:.0f} kB each), concurrency {load['concurrency']}, "
        "no added latency, "
        + (f"best of {load['repeat']} rounds" if load["repeat"] > 1 else "one round"),
        "",
    ]
    lines += _table(
        [
            "runner",
            "wall s",
            "images/s",
            "CPU s/image",
            "peak RSS MiB",
            "vs baseline",
            "server CPU s",
            "note",
        ],
        [
            [
                result.name,
                _number(result.wall_seconds, ".2f"),
                _number(result.images_per_second, ".1f"),
                _number(result.cpu_seconds_per_image, ".4f"),
                _number(result.peak_rss_mib, ".0f"),
                _number(result.vs_baseline, ".2f") + ("x" if result.vs_baseline else ""),
                _number(result.server_cpu_seconds, ".2f"),
                result.note or result.status,
            ]
            for result in results.runners
        ],
    )
    lines += [
        "",
        f"## Latency sweep: batch_gen, {load['sweep_latency'] * 1000:.0f} ms simulated latency, "
        f"{load['small_size']}",
        "",
    ]
    lines += _table(
        [
            "concurrency",
            "jobs",
            "ideal s",
            "run wall s",
            "process wall s",
            "run/ideal",
            "max in flight",
            "client CPU s",
            "server CPU s",
            "baseline process wall s",
        ],
        [
            [
                str(point.concurrency),
                str(point.jobs),
                f"{point.ideal_seconds:.2f}",
                _number(point.run_wall_seconds, ".2f"),
                f"{point.process_wall_seconds:.2f}",
                _number(point.ratio, ".3f"),
                str(point.server_max_concurrent),
                f"{point.client_cpu_seconds:.2f}",
                f"{point.server_cpu_seconds:.2f}",
                _number(point.baseline_wall_seconds, ".2f"),
            ]
            for point in results.sweep
        ],
    )
    if results.rate_limit is not None:
        rate = results.rate_limit
        lines += [
            "",
            f"## Rate limit: --rpm {rate.rpm} against a server enforcing {rate.rpm}/min "
            f"over {rate.window_seconds:g} s windows",
            "",
        ]
        lines += _table(
            ["jobs", "ideal s", "run wall s", "process wall s", "429s", "requests"],
            [
                [
                    str(rate.jobs),
                    f"{rate.ideal_seconds:.2f}",
                    _number(rate.run_wall_seconds, ".2f"),
                    f"{rate.process_wall_seconds:.2f}",
                    str(rate.rejected),
                    str(rate.requests),
                ]
            ],
        )
    lines += ["", f"## Scale: {load['scale_jobs']:,}-job CSV manifest", ""]
    lines += _table(
        ["command", "state", "wall s", "peak RSS MiB", "limit s", "note"],
        [
            [
                f"`{op.command}`",
                op.state,
                f"{op.wall_seconds:.2f}",
                f"{op.peak_rss_mib:.0f}",
                f"{op.limit_seconds:g}",
                op.note,
            ]
            for op in results.scale
        ],
    )
    if results.scale_note:
        lines += ["", results.scale_note]
    lines += ["", "## State update cost (`StateStore.put`, in-process)", ""]
    lines += _table(
        ["recorded jobs", "updates timed", "median µs", "p90 µs"],
        [
            [
                f"{cost.recorded:,}",
                f"{cost.updates:,}",
                f"{cost.median_us:.1f}",
                f"{cost.p90_us:.1f}",
            ]
            for cost in results.put_costs
        ],
    )
    lines += ["", f"## Memory vs jobs: batch_gen, {load['small_size']}, no latency", ""]
    lines += _table(
        ["jobs", "concurrency", "peak RSS MiB", "wall s", "note"],
        [
            [
                str(point.jobs),
                str(point.concurrency),
                f"{point.peak_rss_mib:.0f}",
                f"{point.wall_seconds:.2f}",
                point.note or ("ok" if point.ok else "failed"),
            ]
            for point in results.memory
        ],
    )
    if not with_targets:
        return "\n".join(lines) + "\n"
    lines += ["", "## Targets", ""]
    lines += [
        f"- **{'PASS' if target.passed else 'FAIL'}** {target.name}: {target.detail}"
        for target in targets
    ]
    lines += [f"- INFO {line}" for line in memory_lines(results.memory)]
    return "\n".join(lines) + "\n"


def memory_lines(memory: Sequence[MemoryPoint]) -> list[str]:
    """How peak RSS grew with the number of jobs (informational, no target)."""
    if len(memory) < 2 or not all(point.ok for point in memory):
        return []
    small, large = memory[0], memory[-1]
    return [
        f"memory vs jobs: {small.peak_rss_mib:.0f} MiB for {small.jobs} jobs, "
        f"{large.peak_rss_mib:.0f} MiB for {large.jobs} jobs "
        f"({large.peak_rss_mib / small.peak_rss_mib:.2f}x for {large.jobs / small.jobs:g}x jobs)"
    ]


def target_lines(targets: Sequence[Target]) -> list[str]:
    """One ``PASS``/``FAIL`` line per target, for the end of the console output."""
    return [
        f"{'PASS' if target.passed else 'FAIL'}  {target.name}: {target.detail}"
        for target in targets
    ]


def draw_chart(results: BenchResults, path: Path) -> None:
    """Two panels: images per second per runner, and the latency sweep's wall times
    against the ideal. Written with matplotlib's Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    measured = [result for result in results.runners if result.images_per_second]
    names = [result.name for result in measured]
    rates = [result.images_per_second or 0.0 for result in measured]
    colours = ["#4c72b0" if name == "batch_gen" else "#999999" for name in names]
    bars = left.bar(names, rates, color=colours)
    for bar, result in zip(bars, measured, strict=True):
        label = f"{bar.get_height():.1f}" + (
            f"\n({result.vs_baseline:.2f}x)" if result.vs_baseline else ""
        )
        left.annotate(
            label,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    base = results.runner("baseline")
    if base is not None and base.images_per_second:
        left.axhline(
            THROUGHPUT_RATIO * base.images_per_second,
            linestyle="--",
            color="#c44e52",
            label=f"target: {THROUGHPUT_RATIO:g}x baseline",
        )
        left.legend(fontsize=8)
    load = results.workload
    left.set_title(f"{load['count']} images {load['size']}, concurrency {load['concurrency']}")
    left.set_ylabel("images per second (higher is better)")
    left.margins(y=0.2)

    sweep = results.sweep
    positions = range(len(sweep))
    width = 0.2
    series = (
        ("ideal", [point.ideal_seconds for point in sweep], "#bbbbbb"),
        ("run wall (report)", [point.run_wall_seconds or 0.0 for point in sweep], "#4c72b0"),
        ("process wall", [point.process_wall_seconds for point in sweep], "#dd8452"),
        (
            "baseline process wall",
            [point.baseline_wall_seconds or 0.0 for point in sweep],
            "#55a868",
        ),
    )
    for offset, (label, values, colour) in enumerate(series):
        right.bar(
            [p + (offset - 1.5) * width for p in positions],
            values,
            width,
            label=label,
            color=colour,
        )
    right.set_xticks(
        list(positions), [f"c={point.concurrency}\n{point.jobs} jobs" for point in sweep]
    )
    right.set_ylabel("seconds (lower is better)")
    right.set_title(f"latency sweep: {load['sweep_latency'] * 1000:.0f} ms per request")
    right.legend(fontsize=8)
    figure.suptitle(f"batch_gen benchmark · {results.environment['commit']}")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
