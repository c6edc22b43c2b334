"""``make bench``: measure batch_gen against the simulator, and against what people would
use instead, in one invocation of a few minutes.

What is measured, and why (each part in its own module):

- **throughput** (``throughput.py``): the same prompts, server and concurrency for
  batch_gen's real CLI, a hand-written aiohttp loop, and (when installed) the ``openai``
  SDK and LiteLLM. Each is a child process measured from outside (wall, CPU, peak RSS,
  start-up included), and its files are counted and spot-decoded so that no runner wins by
  skipping work;
- **latency sweep** (``latency.py``): with 200 ms per request, batch_gen and the loop at
  several concurrencies against the ideal ``jobs x latency / concurrency``, and the CPU
  each spends per request once start-up is left out; then the rate limit (``--rpm``
  against a server enforcing it over 5 s windows) and memory against the number of jobs;
- **scale** (``scale_runs.py``): ``run --dry-run`` and ``status`` on 100,000 jobs (and a
  million with ``--million``), and the cost of one state update;
- **polls** (``polls.py``): 200 Midjourney tasks in flight, polled one by one and in bulk.

Writes ``bench/results/latest.{json,md,png}``, prints the tables and one PASS/FAIL line per
target (``targets.py``). Every number is measured in this run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import latency
import polls
import reporting
import scale_runs
import targets
from commands import BENCH_DIR, KEY, ROOT, elapsed, say
from results import BenchResults, Target
from throughput import ThroughputSettings, measure_throughput
from workload import MODEL, SMALL_SIZE


@dataclass(frozen=True, slots=True)
class Settings:
    """The knobs of one benchmark run (command-line options)."""

    count: int
    concurrency: int
    size: str
    scale_jobs: int
    repeat: int
    million: bool
    work: Path
    results_dir: Path
    keep: bool


def environment(work: Path) -> dict[str, Any]:
    """Where and on what these numbers were measured."""

    def version(package: str) -> str | None:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    scratch = str(work.parent)
    if work.is_relative_to("/dev/shm"):
        scratch += f" ({_filesystem_of(Path('/dev/shm'))})"
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)),
        "scratch": scratch,
        "versions": {
            name: version(name) for name in ("batch_gen", "aiohttp", "openai", "litellm", "pillow")
        },
    }


def _default_scratch(*, args_results: Path) -> Path:
    """A tmpfs when the machine has one, else the results folder.

    Every runner writes the same files to the same scratch, so the comparison is fair
    either way; but ext4 on this kind of VM allocates inodes ever more slowly after mass
    deletes (perf: the kernel's time goes to ``recently_deleted``), and a benchmark that
    creates and deletes thousands of files per round would end up timing that instead of
    the runners. ``--scratch bench/results/tmp`` measures on disk.
    """
    shm = Path("/dev/shm")
    if _filesystem_of(shm) == "tmpfs" and os.access(shm, os.W_OK):
        return shm / "batch_gen-bench"
    return args_results / "tmp"


def _filesystem_of(path: Path) -> str:
    """The type of the file system mounted at ``path`` (from /proc/mounts), or ''."""
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 2 and Path(fields[1]) == path:
                    return fields[2]
    except OSError:
        pass
    return ""


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description="Benchmark batch_gen (see bench/README.md).")
    parser.add_argument("--count", type=int, default=600, help="images per throughput runner")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--size", default="512x512", help="throughput image size")
    parser.add_argument("--scale-jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="throughput rounds; best is kept")
    parser.add_argument(
        "--million",
        action="store_true",
        default=os.environ.get("BENCH_MILLION") == "1",
        help="also run --dry-run and status over a million jobs (about 3 more minutes; "
        "or BENCH_MILLION=1)",
    )
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--scratch",
        type=Path,
        default=_default_scratch(args_results=BENCH_DIR / "results"),
        help="where runners write their images (default: /dev/shm when it is a tmpfs)",
    )
    args = parser.parse_args(argv)
    scratch = args.scratch
    scratch.mkdir(parents=True, exist_ok=True)
    return Settings(
        count=args.count,
        concurrency=args.concurrency,
        size=args.size,
        scale_jobs=args.scale_jobs,
        repeat=max(1, args.repeat),
        million=args.million,
        work=Path(tempfile.mkdtemp(prefix="run-", dir=scratch)),
        results_dir=args.results,
        keep=args.keep,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    say(f"working in {settings.work}")
    try:
        results = run_all(settings)
    finally:
        if not settings.keep:
            shutil.rmtree(settings.work, ignore_errors=True)
            with contextlib.suppress(OSError):
                settings.work.parent.rmdir()  # only if no other run's folder is left there
    results.total_seconds = elapsed()
    judged = targets.judge(results)
    publish(results, judged, settings.results_dir)
    print(reporting.to_markdown(results, judged, with_targets=False))
    for line in reporting.target_lines(judged):
        print(line)
    for line in reporting.memory_lines(results.memory):
        print(f"INFO  {line}")
    print(f"total time: {elapsed():.1f} s")
    return 0


def run_all(settings: Settings) -> BenchResults:
    """Every measurement, in an order that keeps the heavy throughput runs first."""
    work = settings.work
    runners_results, mean_kb = measure_throughput(
        ThroughputSettings(
            count=settings.count,
            concurrency=settings.concurrency,
            size=settings.size,
            repeat=settings.repeat,
            work=work,
            key=KEY,
        )
    )
    results = BenchResults(
        environment=environment(work),
        workload={
            "count": settings.count,
            "concurrency": settings.concurrency,
            "size": settings.size,
            "model": MODEL,
            "image_mode": "photo",
            "mean_image_kb": mean_kb,
            "repeat": settings.repeat,
            "sweep_latency": latency.SWEEP_LATENCY,
            "small_size": SMALL_SIZE,
            "scale_jobs": settings.scale_jobs,
            "mj_task_seconds": polls.TASK_SECONDS,
            "poll_interval": polls.POLL_INTERVAL,
        },
        runners=runners_results,
    )
    results.sweep = latency.measure_sweep(work)
    results.rate_limit = latency.measure_rate_limit(work, concurrency=settings.concurrency)
    results.memory = latency.measure_memory(work, concurrency=settings.concurrency)
    results.polls = polls.measure_polls(work)
    results.scale, results.put_costs = scale_runs.measure_scale(work, settings.scale_jobs)
    results.scale_note = scale_runs.NOTE
    if settings.million:
        results.million = scale_runs.measure_million(work)
    return results


def publish(results: BenchResults, judged: Sequence[Target], directory: Path) -> None:
    """Write ``latest.json``, ``latest.md`` and ``latest.png`` into *directory*."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "latest.json").write_text(reporting.to_json(results, judged))
    (directory / "latest.md").write_text(reporting.to_markdown(results, judged))
    try:
        reporting.draw_chart(results, directory / "latest.png")
    except ImportError:
        say("matplotlib is not installed (the bench extra): no chart this time")
    else:
        say(f"wrote {directory / 'latest.png'}")
    say(f"wrote {directory / 'latest.json'} and latest.md")


if __name__ == "__main__":
    sys.exit(main())
