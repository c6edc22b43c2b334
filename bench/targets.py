"""The targets batch_gen is judged by (the lead's goals, not measurements), and the PASS or
FAIL of each for one run's results. Where a hand-written loop ran beside batch_gen, the
target compares the two from the same run: ratios, not absolute times, which this shared
machine cannot hold steady."""

from __future__ import annotations

from collections.abc import Sequence

from results import (
    BenchResults,
    PollsRun,
    PutCostResult,
    RateLimitResult,
    ScaleOperation,
    SweepPoint,
    Target,
)

THROUGHPUT_RATIO = 2.0
LATENCY_TOLERANCE = 0.10
CPU_MS_PER_REQUEST = 1.0
CPU_CONCURRENCY = 128
RATE_TOLERANCE = 0.10
DRY_RUN_SECONDS = 3.0  # no state
DRY_RUN_RECORDED_SECONDS = 2.0
STATUS_SECONDS = 1.0
SCALE_RSS_MIB = 300.0
MILLION_FACTOR = 10.0  # a million jobs may take at most this many times 100,000
MILLION_RSS_MB = 2000.0  # 2 GB
PUT_RATIO = 1.5
PUT_SLACK_US = 50.0
BULK_POLLS_PER_TASK = 0.1


def judge(results: BenchResults) -> list[Target]:
    """PASS/FAIL of each target; a target whose measurement failed does not pass."""
    targets = [
        _throughput_target(results),
        _cpu_target(results.sweep),
        _latency_target(results.sweep),
        _rate_target(results.rate_limit),
        _scale_target(results.scale, results.workload["scale_jobs"]),
        _put_target(results.put_costs),
        _polls_target(results.polls),
    ]
    if results.million:
        targets.append(_million_target(results.million, results.scale))
    return targets


def _throughput_target(results: BenchResults) -> Target:
    name = f"throughput >= {THROUGHPUT_RATIO:g}x the hand-written loop"
    ours, base = results.runner("batch_gen"), results.runner("baseline")
    if not (ours and base and ours.status == "ok" and base.status == "ok"):
        return Target(name, False, "batch_gen or the baseline did not complete")
    ratio = ours.vs_baseline or 0.0
    return Target(
        name,
        ratio >= THROUGHPUT_RATIO,
        f"batch_gen {ours.images_per_second:.1f} images/s vs the loop "
        f"{base.images_per_second:.1f} = {ratio:.2f}x",
    )


def _point(sweep: Sequence[SweepPoint], concurrency: int) -> SweepPoint | None:
    return next((point for point in sweep if point.concurrency == concurrency), None)


def _cpu_target(sweep: Sequence[SweepPoint]) -> Target:
    name = (
        f"client CPU per request at concurrency {CPU_CONCURRENCY} <= {CPU_MS_PER_REQUEST:g} ms"
        " (start-up excluded)"
    )
    point = _point(sweep, CPU_CONCURRENCY)
    ours = point.cpu_ms_per_request if point is not None and point.ok else None
    if point is None or ours is None:
        return Target(name, False, "the sweep run did not complete")
    loop = point.baseline_cpu_ms_per_request
    beside = f"; the hand-written loop {loop:.2f} ms ({ours / loop:.2f}x)" if loop else ""
    return Target(name, ours <= CPU_MS_PER_REQUEST, f"batch_gen {ours:.2f} ms{beside}")


def _latency_target(sweep: Sequence[SweepPoint]) -> Target:
    name = (
        f"latency sweep: run wall <= {1 + LATENCY_TOLERANCE:.2f}x the ideal and no slower"
        " than the hand-written loop, at every concurrency"
    )
    if not sweep or not all(point.ok and point.ratio is not None for point in sweep):
        return Target(name, False, "a sweep run did not complete")
    passed = all(
        (point.ratio or 0.0) <= 1 + LATENCY_TOLERANCE
        and (point.baseline_work_seconds is None or _not_slower(point))
        for point in sweep
    )
    detail = ", ".join(
        f"c={point.concurrency}: {point.ratio:.3f}"
        + (f" (loop {point.baseline_ratio:.3f})" if point.baseline_ratio is not None else "")
        for point in sweep
    )
    return Target(name, passed, detail)


def _not_slower(point: SweepPoint) -> bool:
    return (point.run_wall_seconds or 0.0) <= (point.baseline_work_seconds or 0.0)


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
        f"{jobs:,} jobs: dry-run < {DRY_RUN_SECONDS:g}s without state, "
        f"< {DRY_RUN_RECORDED_SECONDS:g}s recorded; status < {STATUS_SECONDS:g}s with or "
        f"without the job index; RSS < {SCALE_RSS_MIB:g} MiB"
    )
    if not operations or not all(op.ok for op in operations):
        return Target(name, False, "a scale command failed")
    passed = all(
        op.wall_seconds < op.limit_seconds and op.peak_rss_mib < SCALE_RSS_MIB for op in operations
    )
    return Target(name, passed, _operations(operations))


def _operations(operations: Sequence[ScaleOperation]) -> str:
    return "; ".join(
        f"{op.name} {op.wall_seconds:.2f}s {op.peak_rss_mib:.0f} MiB" for op in operations
    )


def _million_target(million: Sequence[ScaleOperation], scale: Sequence[ScaleOperation]) -> Target:
    name = (
        f"1,000,000 jobs: dry-run and status <= {MILLION_FACTOR:g}x their 100,000-job "
        f"time, peak RSS < {MILLION_RSS_MB / 1000:g} GB"
    )
    if not million or not all(op.ok for op in million):
        return Target(name, False, "a million-job command failed")
    parts, passed = [], True
    for op in million:
        small = next((s for s in scale if s.name == op.name), None)
        factor = op.wall_seconds / small.wall_seconds if small and small.wall_seconds else None
        rss_mb = op.peak_rss_mib * 1.048576
        passed &= factor is not None and factor <= MILLION_FACTOR and rss_mb < MILLION_RSS_MB
        shown = f"{factor:.1f}x" if factor is not None else "no 100,000 figure"
        parts.append(f"{op.name} {op.wall_seconds:.1f}s = {shown}, {rss_mb:.0f} MB")
    return Target(name, passed, "; ".join(parts))


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


def _polls_target(polls: Sequence[PollsRun]) -> Target:
    name = (
        f"Midjourney: bulk polls <= {BULK_POLLS_PER_TASK:g} calls per task, no task fetched alone"
    )
    bulk = next((run for run in polls if run.mode == "bulk"), None)
    single = next((run for run in polls if run.mode == "per task"), None)
    if bulk is None or not bulk.ok:
        return Target(name, False, "the bulk run did not complete")
    detail = f"{bulk.tasks} tasks: {bulk.polls_per_task:.3f} calls per task in bulk"
    if single is not None and single.ok:
        detail += f", {single.polls_per_task:.2f} one task per call"
    passed = bulk.polls_per_task <= BULK_POLLS_PER_TASK and bulk.single_polls == 0
    return Target(name, passed, detail)
