"""The benchmark's results rendered: JSON (every figure), Markdown tables with the
targets, and a PNG chart. Nothing here measures or judges."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import targets
from results import BenchResults, MemoryPoint, Target


def to_json(results: BenchResults, judged: Sequence[Target]) -> str:
    """The whole result as JSON (``bench/results/latest.json``), with each derived
    figure (ratios, CPU per request, polls per task) beside what it comes from."""
    document = asdict(results)
    for point, raw in zip(results.sweep, document["sweep"], strict=True):
        raw["ratio"] = point.ratio
        raw["baseline_ratio"] = point.baseline_ratio
        raw["cpu_ms_per_request"] = point.cpu_ms_per_request
        raw["baseline_cpu_ms_per_request"] = point.baseline_cpu_ms_per_request
    for run, raw in zip(results.polls, document["polls"], strict=True):
        raw["polls_per_task"] = run.polls_per_task
    document["targets"] = [asdict(target) for target in judged]
    return json.dumps(document, indent=2) + "\n"


def _number(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def to_markdown(
    results: BenchResults, judged: Sequence[Target], *, with_targets: bool = True
) -> str:
    """Every table of the run, then (*with_targets*) the targets as a list."""
    env = results.environment
    lines = [
        "# batch_gen benchmark",
        "",
        f"{env['date']} · {env['commit']} · Python {env['python']} · {env['cpus']} CPUs · "
        f"images written to {env.get('scratch', '?')} · total {results.total_seconds:.0f} s",
    ]
    lines += _throughput(results)
    lines += _sweep(results)
    lines += _rate(results)
    lines += _scale(results)
    lines += _polls(results)
    lines += _memory(results)
    if not with_targets:
        return "\n".join(lines) + "\n"
    lines += ["", "## Targets", ""]
    lines += [
        f"- **{'PASS' if target.passed else 'FAIL'}** {target.name}: {target.detail}"
        for target in judged
    ]
    lines += [f"- INFO {line}" for line in memory_lines(results.memory)]
    return "\n".join(lines) + "\n"


def _throughput(results: BenchResults) -> list[str]:
    load = results.workload
    rounds = f"best of {load['repeat']} rounds" if load["repeat"] > 1 else "one round"
    lines = [
        "",
        f"## Throughput: {load['count']} images {load['size']} ({load['image_mode']} mode, "
        f"{load['mean_image_kb']:.0f} kB each), concurrency {load['concurrency']}, "
        f"no added latency, {rounds}",
        "",
    ]
    header = ["runner", "wall s", "images/s", "CPU s/image", "peak RSS MiB", "vs baseline"]
    return lines + _table(
        [*header, "server CPU s", "note"],
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


def _sweep(results: BenchResults) -> list[str]:
    load = results.workload
    lines = [
        "",
        f"## Latency sweep: {load['sweep_latency'] * 1000:.0f} ms simulated latency, "
        f'{load["small_size"]}: batch_gen and the hand-written loop ("loop")',
        "",
        "Run wall: batch_gen's report (`wall_seconds`, planning included) and the loop's own "
        "(from its first request's set-up); process wall includes start-up. CPU per request "
        "leaves out start-up: the CPU of a one-request run of each is subtracted.",
        "",
    ]
    header = ["concurrency", "jobs", "ideal s", "run wall s", "run/ideal", "loop run wall s"]
    header += ["loop run/ideal", "process wall s", "loop process wall s", "CPU ms/request"]
    header += ["loop CPU ms/request", "client CPU s", "server CPU s", "max in flight"]
    return lines + _table(
        header,
        [
            [
                str(point.concurrency),
                str(point.jobs),
                f"{point.ideal_seconds:.2f}",
                _number(point.run_wall_seconds, ".2f"),
                _number(point.ratio, ".3f"),
                _number(point.baseline_work_seconds, ".2f"),
                _number(point.baseline_ratio, ".3f"),
                f"{point.process_wall_seconds:.2f}",
                _number(point.baseline_wall_seconds, ".2f"),
                _number(point.cpu_ms_per_request, ".2f"),
                _number(point.baseline_cpu_ms_per_request, ".2f"),
                f"{point.client_cpu_seconds:.2f}",
                f"{point.server_cpu_seconds:.2f}",
                str(point.server_max_concurrent),
            ]
            for point in results.sweep
        ],
    )


def _rate(results: BenchResults) -> list[str]:
    rate = results.rate_limit
    if rate is None:
        return []
    lines = [
        "",
        f"## Rate limit: --rpm {rate.rpm} against a server enforcing {rate.rpm}/min "
        f"over {rate.window_seconds:g} s windows",
        "",
    ]
    return lines + _table(
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


def _scale(results: BenchResults) -> list[str]:
    lines = ["", "## Scale: big CSV manifests", ""]
    lines += _table(
        ["jobs", "command", "state", "wall s", "peak RSS MiB", "limit s", "note"],
        [
            [
                f"{op.jobs:,}",
                f"`{op.command}`",
                op.state,
                f"{op.wall_seconds:.2f}",
                f"{op.peak_rss_mib:.0f}",
                f"{op.limit_seconds:g}" if op.jobs == results.workload["scale_jobs"] else "—",
                op.note,
            ]
            for op in [*results.scale, *results.million]
        ],
    )
    if not results.million:
        lines += ["", "A million jobs: not measured this time (`make bench BENCH_ARGS=--million`)."]
    if results.scale_note:
        lines += ["", results.scale_note]
    lines += ["", "### State update cost (`StateStore.put`, in-process)", ""]
    return lines + _table(
        ["recorded jobs", "updates timed", "median µs", "p90 µs"],
        [
            [f"{c.recorded:,}", f"{c.updates:,}", f"{c.median_us:.1f}", f"{c.p90_us:.1f}"]
            for c in results.put_costs
        ],
    )


def _polls(results: BenchResults) -> list[str]:
    if not results.polls:
        return []
    first = results.polls[0]
    lines = [
        "",
        f"## Midjourney: {first.tasks} tasks in flight at once, polled one by one and in bulk",
        "",
        "Calls counted from batch_gen's `--debug` request log; every task ran "
        f"{results.workload.get('mj_task_seconds', '?')} s, polls every "
        f"{results.workload.get('poll_interval', '?')} s.",
        "",
    ]
    return lines + _table(
        ["polled", "tasks", "submits", "single fetches", "bulk calls", "polls per task", "wall s"],
        [
            [
                run.mode,
                str(run.tasks),
                str(run.submits),
                str(run.single_polls),
                str(run.bulk_polls),
                f"{run.polls_per_task:.3f}",
                f"{run.wall_seconds:.1f}",
            ]
            for run in results.polls
        ],
    )


def _memory(results: BenchResults) -> list[str]:
    lines = ["", f"## Memory vs jobs: batch_gen, {results.workload['small_size']}, no latency", ""]
    return lines + _table(
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


def target_lines(judged: Sequence[Target]) -> list[str]:
    """One ``PASS``/``FAIL`` line per target, for the end of the console output."""
    return [
        f"{'PASS' if target.passed else 'FAIL'}  {target.name}: {target.detail}"
        for target in judged
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
            targets.THROUGHPUT_RATIO * base.images_per_second,
            linestyle="--",
            color="#c44e52",
            label=f"target: {targets.THROUGHPUT_RATIO:g}x baseline",
        )
        left.legend(fontsize=8)
    load = results.workload
    left.set_title(f"{load['count']} images {load['size']}, concurrency {load['concurrency']}")
    left.set_ylabel("images per second (higher is better)")
    left.margins(y=0.2)

    sweep = results.sweep
    positions = range(len(sweep))
    width = 0.16
    series = (
        ("ideal", [point.ideal_seconds for point in sweep], "#bbbbbb"),
        ("batch_gen run wall", [point.run_wall_seconds or 0.0 for point in sweep], "#4c72b0"),
        ("loop run wall", [point.baseline_work_seconds or 0.0 for point in sweep], "#55a868"),
        ("batch_gen process wall", [point.process_wall_seconds for point in sweep], "#8fa8d6"),
        ("loop process wall", [point.baseline_wall_seconds or 0.0 for point in sweep], "#a3d1ae"),
    )
    for offset, (label, values, colour) in enumerate(series):
        right.bar(
            [p + (offset - 2) * width for p in positions],
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
    tallest = max((max(values, default=0.0) for _, values, _ in series), default=1.0)
    right.set_ylim(0, tallest * 1.35)  # room for the legend above the bars
    right.legend(fontsize=8, ncol=3, loc="upper center")
    figure.suptitle(f"batch_gen benchmark · {results.environment['commit']}")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
