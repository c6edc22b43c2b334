"""``make bench``: measure batch_gen against the simulator, and against what people would
use instead, in one invocation of a few minutes.

What is measured, and why:

- **throughput**: the same prompts, server and concurrency for batch_gen's real CLI, a
  hand-written aiohttp baseline, and (when installed) the ``openai`` SDK and LiteLLM. Each
  is a child process measured from outside (wall, CPU, peak RSS, start-up included), and
  its files are counted and spot-decoded so that no runner wins by skipping work;
- **latency sweep**: with 200 ms per request, batch_gen's wall time at several
  concurrencies against the ideal ``jobs x latency / concurrency`` (scheduling overhead);
- **rate limit**: ``--rpm`` against a server that enforces that rate over 5 s windows
  (no 429s, and no slower than the rate requires);
- **scale**: ``run --dry-run`` and ``status`` on a 100,000-job manifest, and the cost of one
  state update at 1,000 and 100,000 recorded jobs (constant, or resuming gets slower);
- **memory vs jobs**: peak RSS should follow concurrency, not the number of jobs.

Writes ``bench/results/latest.{json,md,png}``, prints the tables and one PASS/FAIL line per
target. Every number is measured in this run; the targets live in ``reporting.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import reporting
import runners
from harness import Measurement, ServedRun, SimulatorProcess, child_env, measure, rejected
from reporting import (
    BenchResults,
    MemoryPoint,
    PutCostResult,
    RateLimitResult,
    RunnerResult,
    ScaleOperation,
    SweepPoint,
)
from scale import build_recorded_state, measure_put_cost, provider_of, write_scale_manifest
from workload import MODEL, make_prompts, parse_size, verify_images, write_manifest

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
KEY = "sk-bench-local"  # the simulator's key; it guards nothing but loopback traffic
PEERS = ("openai", "litellm")

SMALL_SIZE = "256x256"  # for runs that measure scheduling, not bytes
SWEEP_LATENCY = 0.2
SWEEP_CONCURRENCIES = (8, 32, 128)
SWEEP_JOBS_PER_SLOT = 10  # jobs = concurrency x 10, so each ideal is 10 x latency = 2 s
RATE_RPM = 600
RATE_WINDOW = 5.0
RATE_JOBS = 100
MEMORY_JOBS = (500, 2_000)
PUT_RECORDED = (1_000, 100_000)
PUT_UPDATES = 2_000


@dataclass(frozen=True, slots=True)
class Settings:
    """The knobs of one benchmark run (command-line options)."""

    count: int
    concurrency: int
    size: str
    scale_jobs: int
    repeat: int
    work: Path
    results_dir: Path
    keep: bool


_STARTED = time.perf_counter()


def say(message: str) -> None:
    """A progress line on stderr (stdout is kept for the final tables)."""
    print(f"[bench {time.perf_counter() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# --- commands ------------------------------------------------------------------------------


def batch_gen_argv(manifest: Path, *options: str) -> list[str]:
    """``python -m batch_gen run MANIFEST --no-progress ...``, as a user runs it."""
    return [sys.executable, "-m", "batch_gen", "run", str(manifest), "--no-progress", *options]


def runner_argv(
    name: str, *, sim: SimulatorProcess, manifest: Path, out: Path, concurrency: int
) -> list[str]:
    """The command of a non-batch_gen runner (see ``runners.py``)."""
    return [
        sys.executable,
        str(BENCH_DIR / "runners.py"),
        name,
        "--url",
        sim.url,
        "--key",
        sim.key,
        "--manifest",
        str(manifest),
        "--out",
        str(out),
        "--concurrency",
        str(concurrency),
    ]


def sim_env(sim: SimulatorProcess) -> dict[str, str]:
    """Environment pointing batch_gen at *sim*."""
    return child_env(COMETAPI_BASE_URL=sim.url, COMETAPI_KEY=sim.key)


def run_batch_gen(
    sim: SimulatorProcess, manifest: Path, out: Path, log: Path, *options: str
) -> tuple[ServedRun, dict[str, Any]]:
    """Run batch_gen's CLI against *sim* with a JSON report; return the measured run and
    the report (empty if none was written)."""
    report_path = out.parent / f"{out.name}-report.json"
    argv = batch_gen_argv(manifest, "--output", str(out), "--report", str(report_path), *options)
    run = sim.measure(argv, env=sim_env(sim), log=log)
    try:
        report: dict[str, Any] = json.loads(report_path.read_text())
    except (OSError, ValueError):
        report = {}
    return run, report


def failure_note(measurement: Measurement) -> str:
    """Why a child failed, in a few words, with its log's tail echoed to stderr."""
    say(f"  FAILED: {' '.join(measurement.argv[:6])} ... exit {measurement.exit_code}")
    tail = measurement.log_tail()
    say("  " + tail.replace("\n", "\n  "))
    if measurement.timed_out:
        return "timed out"
    return f"exit {measurement.exit_code}: {_last_error(tail)}"


def _last_error(log_tail: str) -> str:
    """The line of a log that says what went wrong: the last exception or batch_gen message
    (tracebacks of exception groups end in box-drawing lines, not in the error)."""
    lines = [line.strip(" |") for line in log_tail.splitlines() if line.strip(" |+-")]
    for line in reversed(lines):
        if line.startswith(("batch_gen:", "aborted:")) or re.match(
            r"^[\w.]+(Error|Exception|Group)\b", line
        ):
            return line[:120]
    return lines[-1][:120] if lines else "no output"


# --- throughput ----------------------------------------------------------------------------


def measure_throughput(settings: Settings) -> tuple[list[RunnerResult], float]:
    """Every runner on the same prompts and server; returns the results (best wall of
    ``--repeat`` rounds, rounds interleaved across runners) and the mean image size in kB."""
    prompts = make_prompts(settings.count)
    manifest = write_manifest(settings.work / "throughput.csv", prompts, size=settings.size)
    names = ["baseline", "batch_gen"]
    skipped: list[RunnerResult] = []
    for peer in PEERS:
        if runners.installed(peer):
            names.append(peer)
        else:
            say(f"peer {peer}: not installed, skipped (pip install -e '.[bench]')")
            skipped.append(
                RunnerResult(peer, "skipped", note="skipped: not installed (.[bench] extra)")
            )
    attempts: dict[str, list[RunnerResult]] = {name: [] for name in names}
    mean_kb = 0.0
    log = settings.work / "logs" / "sim-throughput.log"
    with SimulatorProcess("--image-mode", "photo", key=KEY, log=log) as sim:
        warmed = sim.warm(prompts, size=settings.size)
        say(f"throughput: simulator at {sim.url}; {warmed} images rendered before timing")
        for round_number in range(1, settings.repeat + 1):
            for name in names:
                result, kb = _throughput_once(name, sim, manifest, settings, round_number)
                attempts[name].append(result)
                mean_kb = mean_kb or kb
    results = [_best(attempts[name]) for name in names] + skipped
    return _with_ratios(results), mean_kb


def _throughput_once(
    name: str, sim: SimulatorProcess, manifest: Path, settings: Settings, round_number: int
) -> tuple[RunnerResult, float]:
    out = settings.work / "throughput" / f"{name}-{round_number}"
    log = settings.work / "logs" / f"throughput-{name}-{round_number}.log"
    if name == "batch_gen":
        argv = batch_gen_argv(
            manifest, "--concurrency", str(settings.concurrency), "--output", str(out)
        )
        env = sim_env(sim)
    else:
        argv = runner_argv(
            name, sim=sim, manifest=manifest, out=out, concurrency=settings.concurrency
        )
        env = child_env()
    run = sim.measure(argv, env=env, log=log)
    verification = verify_images(out, expected=settings.count, size=parse_size(settings.size))
    files = sorted(out.glob("*.png"))
    mean_kb = sum(path.stat().st_size for path in files) / len(files) / 1000 if files else 0.0
    shutil.rmtree(out, ignore_errors=True)  # 600 photos are ~0.5 GB; free them at once
    result = _runner_result(name, run, verification.ok, verification.problems, settings.count)
    say(
        f"throughput: {name} round {round_number}: {run.measurement.wall_seconds:.2f}s, "
        f"{verification.files} files ({verification.spot_checked} decoded), {result.status}"
    )
    return result, mean_kb


def _runner_result(
    name: str, run: ServedRun, verified: bool, problems: Sequence[str], count: int
) -> RunnerResult:
    measurement, requests = run.measurement, run.requests
    if measurement.exit_code != 0:
        return RunnerResult(name, "failed", note=failure_note(measurement), requests=requests)
    if not verified:
        return RunnerResult(name, "invalid", note="; ".join(problems), requests=requests)
    note = "" if requests == count else f"{requests} requests for {count} images"
    return RunnerResult(
        name,
        "ok",
        note=note,
        images=count,
        wall_seconds=measurement.wall_seconds,
        images_per_second=count / measurement.wall_seconds,
        cpu_seconds_per_image=measurement.cpu_seconds / count,
        peak_rss_mib=measurement.peak_rss_mib,
        requests=requests,
        server_cpu_seconds=run.server_cpu_seconds,
    )


def _best(attempts: list[RunnerResult]) -> RunnerResult:
    """The fastest successful round (the one least disturbed by the machine), or the
    first failure."""
    good = [result for result in attempts if result.status == "ok"]
    if not good:
        return attempts[0]
    best = min(good, key=lambda result: result.wall_seconds or float("inf"))
    if len(attempts) > 1:
        walls = ", ".join(f"{result.wall_seconds:.2f}" for result in good)
        note = f"best of {len(attempts)} ({walls} s)"
        best = replace(best, note="; ".join(filter(None, [best.note, note])))
    return best


def _with_ratios(results: list[RunnerResult]) -> list[RunnerResult]:
    base = next((r for r in results if r.name == "baseline" and r.status == "ok"), None)
    if base is None or not base.images_per_second:
        return results
    return [
        replace(r, vs_baseline=r.images_per_second / base.images_per_second)
        if r.images_per_second
        else r
        for r in results
    ]


# --- latency sweep, rate limit, memory ------------------------------------------------------


def measure_sweep(settings: Settings) -> list[SweepPoint]:
    """batch_gen at each concurrency against a fixed latency per request, next to the
    hand-written baseline on the same jobs (what this server and machine allow)."""
    log = settings.work / "logs" / "sim-sweep.log"
    options = ("--latency", str(SWEEP_LATENCY), "--image-mode", "simple")
    with SimulatorProcess(*options, key=KEY, log=log) as sim:
        sim.warm(make_prompts(SWEEP_CONCURRENCIES[0] * SWEEP_JOBS_PER_SLOT), size=SMALL_SIZE)
        return [_sweep_point(sim, settings, concurrency) for concurrency in SWEEP_CONCURRENCIES]


def _sweep_point(sim: SimulatorProcess, settings: Settings, concurrency: int) -> SweepPoint:
    jobs = concurrency * SWEEP_JOBS_PER_SLOT
    name = f"sweep-c{concurrency}"
    manifest = write_manifest(settings.work / f"{name}.csv", make_prompts(jobs), size=SMALL_SIZE)
    out = settings.work / name
    logs = settings.work / "logs"
    run, report = run_batch_gen(
        sim, manifest, out, logs / f"{name}.log", "--concurrency", str(concurrency)
    )
    measurement = run.measurement
    ok, note = _check_run(measurement, out, jobs)
    shutil.rmtree(out, ignore_errors=True)

    argv = runner_argv("baseline", sim=sim, manifest=manifest, out=out, concurrency=concurrency)
    reference = sim.measure(argv, env=child_env(), log=logs / f"{name}-baseline.log")
    reference_ok, _ = _check_run(reference.measurement, out, jobs)
    shutil.rmtree(out, ignore_errors=True)

    wall = report.get("wall_seconds")
    say(
        f"sweep: c={concurrency}: run {wall} s, process {measurement.wall_seconds:.2f} s, "
        f"baseline {reference.measurement.wall_seconds:.2f} s"
    )
    return SweepPoint(
        concurrency=concurrency,
        jobs=jobs,
        latency=SWEEP_LATENCY,
        ideal_seconds=jobs * SWEEP_LATENCY / concurrency,
        run_wall_seconds=float(wall) if wall is not None else None,
        process_wall_seconds=measurement.wall_seconds,
        client_cpu_seconds=measurement.cpu_seconds,
        server_max_concurrent=int(run.stats.get("max_concurrent", 0)),
        server_cpu_seconds=run.server_cpu_seconds,
        ok=ok,
        note=note,
        baseline_wall_seconds=reference.measurement.wall_seconds if reference_ok else None,
    )


def _check_run(measurement: Measurement, out: Path, jobs: int) -> tuple[bool, str]:
    """Whether a batch_gen run exited 0 and left *jobs* decodable small PNGs."""
    if measurement.exit_code != 0:
        return False, failure_note(measurement)
    verification = verify_images(out, expected=jobs, size=parse_size(SMALL_SIZE))
    if not verification.ok:
        return False, "; ".join(verification.problems)
    return True, ""


def measure_rate_limit(settings: Settings) -> RateLimitResult:
    """``--rpm 600`` for 100 jobs against a server enforcing 600/min over 5 s windows."""
    log = settings.work / "logs" / "sim-rate.log"
    options = (
        "--rpm-limit",
        str(RATE_RPM),
        "--rpm-window",
        str(RATE_WINDOW),
        "--image-mode",
        "simple",
    )
    prompts = make_prompts(RATE_JOBS)
    manifest = write_manifest(settings.work / "rate.csv", prompts, size=SMALL_SIZE)
    out = settings.work / "rate"
    with SimulatorProcess(*options, key=KEY, log=log) as sim:
        sim.warm(prompts, size=SMALL_SIZE)  # resetting afterwards also empties the rpm window
        run, report = run_batch_gen(
            sim,
            manifest,
            out,
            settings.work / "logs" / "rate.log",
            "--rpm",
            str(RATE_RPM),
            "--concurrency",
            str(settings.concurrency),
        )
    measurement = run.measurement
    ok, note = _check_run(measurement, out, RATE_JOBS)
    wall = report.get("wall_seconds")
    result = RateLimitResult(
        rpm=RATE_RPM,
        window_seconds=RATE_WINDOW,
        jobs=RATE_JOBS,
        ideal_seconds=RATE_JOBS * 60 / RATE_RPM,
        run_wall_seconds=float(wall) if wall is not None else None,
        process_wall_seconds=measurement.wall_seconds,
        rejected=rejected(run.stats),
        requests=run.requests,
        ok=ok,
        note=note,
    )
    say(f"rate limit: run {wall} s, {measurement.wall_seconds:.2f} s, {result.rejected} rejected")
    shutil.rmtree(out, ignore_errors=True)
    return result


def measure_memory(settings: Settings) -> list[MemoryPoint]:
    """batch_gen's peak RSS for few and for many small jobs at the same concurrency."""
    points = []
    log = settings.work / "logs" / "sim-memory.log"
    with SimulatorProcess("--image-mode", "simple", key=KEY, log=log) as sim:
        sim.warm(make_prompts(max(MEMORY_JOBS)), size=SMALL_SIZE)
        for jobs in MEMORY_JOBS:
            name = f"memory-{jobs}"
            manifest = write_manifest(
                settings.work / f"{name}.csv", make_prompts(jobs), size=SMALL_SIZE
            )
            out = settings.work / name
            run, _ = run_batch_gen(
                sim,
                manifest,
                out,
                settings.work / "logs" / f"{name}.log",
                "--concurrency",
                str(settings.concurrency),
            )
            measurement = run.measurement
            ok, note = _check_run(measurement, out, jobs)
            points.append(
                MemoryPoint(
                    jobs=jobs,
                    concurrency=settings.concurrency,
                    peak_rss_mib=measurement.peak_rss_mib,
                    wall_seconds=measurement.wall_seconds,
                    ok=ok,
                    note=note,
                )
            )
            say(f"memory: {jobs} jobs: {measurement.peak_rss_mib:.0f} MiB peak RSS")
            shutil.rmtree(out, ignore_errors=True)
    return points


# --- scale ----------------------------------------------------------------------------------


def measure_scale(settings: Settings) -> tuple[list[ScaleOperation], str, list[PutCostResult]]:
    """``run --dry-run --offline`` with no state and with every job recorded, and
    ``status --json`` with every job recorded, on the big manifest; then the cost of one
    state update.

    The two recorded folders differ only in the provider their keys are for: the dry run
    is ``--offline`` (simulator keys), while ``status`` is measured in the common case of a
    folder last run against CometAPI, so it needs no re-keying.
    """
    jobs = settings.scale_jobs
    folder = settings.work / "scale"
    manifest = write_scale_manifest(folder / "scale.csv", jobs)
    operations = [_dry_run(manifest, folder / "fresh-out", jobs, state="none")]
    say(f"scale: building two state stores of {jobs:,} records")
    offline, online = folder / "offline-out", folder / "online-out"
    records = build_recorded_state(
        manifest, offline, provider=provider_of(offline=True, environ=child_env())
    )
    build_recorded_state(manifest, online, provider=provider_of(offline=False, environ=child_env()))
    operations.append(_dry_run(manifest, offline, jobs, state=f"{records:,} recorded"))
    operations.append(_status(manifest, online, jobs, state=f"{records:,} recorded"))
    note = (
        f"The recorded states hold {records:,} succeeded jobs with one image each, but no "
        f"image files were created (that would measure the file system): `status` and the "
        "dry run stat each missing file and count the jobs as pending ('files missing')."
    )
    costs = []
    for size in PUT_RECORDED:
        cost = measure_put_cost(folder / f"put-{size}", recorded=size, updates=PUT_UPDATES)
        costs.append(PutCostResult(cost.recorded, cost.updates, cost.median_us, cost.p90_us))
        say(f"scale: put at {size:,} recorded: median {cost.median_us:.1f} us")
    shutil.rmtree(folder, ignore_errors=True)
    return operations, note, costs


def _dry_run(manifest: Path, out: Path, jobs: int, *, state: str) -> ScaleOperation:
    """``run --dry-run --offline``; checks that it planned every job."""
    stdout = out.parent / f"{out.name}-dry-run.txt"
    argv = batch_gen_argv(manifest, "--dry-run", "--offline", "--output", str(out))
    measurement = measure(
        argv, env=child_env(), log=out.parent / f"{out.name}-dry-run.log", stdout=stdout
    )
    # "dry run: N jobs; N would run (R requests), S skipped; output in DIR": keep the counts.
    first_line = next(iter(stdout.read_text().splitlines()), "")
    ok = measurement.exit_code == 0 and first_line.startswith(f"dry run: {jobs} jobs")
    counts = first_line.removeprefix("dry run: ").split("; output in")[0]
    note = counts if ok else failure_note(measurement) + f"; printed {first_line!r}"
    say(f"scale: dry-run, state {state}: {measurement.wall_seconds:.2f}s")
    return ScaleOperation(
        name="dry-run",
        command=f"run {manifest.name} --dry-run --offline",
        state=state,
        wall_seconds=measurement.wall_seconds,
        peak_rss_mib=measurement.peak_rss_mib,
        limit_seconds=reporting.DRY_RUN_SECONDS,
        ok=ok,
        note=note,
    )


def _status(manifest: Path, out: Path, jobs: int, *, state: str) -> ScaleOperation:
    """``status --json``; checks that every job's recorded key matched (a job whose key
    did not match would show no attempts)."""
    stdout = out.parent / "status.json"
    argv = [
        sys.executable,
        "-m",
        "batch_gen",
        "status",
        str(manifest),
        "--output",
        str(out),
        "--json",
    ]
    measurement = measure(argv, env=child_env(), log=out.parent / "status.log", stdout=stdout)
    try:
        document = json.loads(stdout.read_text())
        matched = sum(1 for job in document["jobs"] if job["attempts"] == 1 and job["files"])
        counts = ", ".join(f"{count:,} {name}" for name, count in document["counts"].items())
        # status exits 1 when not every job is done: the fixture records images it never
        # wrote, so its jobs are pending (files missing) whatever status reads.
        answered = measurement.exit_code in (0, 1)
        ok = answered and document["total"] == jobs and matched == jobs
        note = f"{matched:,} of {jobs:,} recorded keys matched; {counts}"
    except (OSError, ValueError, KeyError, TypeError):
        ok, note = False, failure_note(measurement)
    say(f"scale: status, state {state}: {measurement.wall_seconds:.2f}s")
    return ScaleOperation(
        name="status",
        command=f"status {manifest.name} --json",
        state=state,
        wall_seconds=measurement.wall_seconds,
        peak_rss_mib=measurement.peak_rss_mib,
        limit_seconds=reporting.STATUS_SECONDS,
        ok=ok,
        note=note,
    )


# --- the run ----------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
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
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)),
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
    results.total_seconds = time.perf_counter() - _STARTED
    targets = reporting.judge(results)
    publish(results, targets, settings.results_dir)
    print(reporting.to_markdown(results, targets, with_targets=False))
    for line in reporting.target_lines(targets):
        print(line)
    for line in reporting.memory_lines(results.memory):
        print(f"INFO  {line}")
    print(f"total time: {time.perf_counter() - _STARTED:.1f} s")
    return 0


def run_all(settings: Settings) -> BenchResults:
    """Every measurement, in an order that keeps the heavy throughput runs first."""
    runners_results, mean_kb = measure_throughput(settings)
    results = BenchResults(
        environment={
            **environment(),
            "scratch": f"{settings.work.parent} ({_filesystem_of(Path('/dev/shm'))})"
            if settings.work.is_relative_to("/dev/shm")
            else str(settings.work.parent),
        },
        workload={
            "count": settings.count,
            "concurrency": settings.concurrency,
            "size": settings.size,
            "model": MODEL,
            "image_mode": "photo",
            "mean_image_kb": mean_kb,
            "repeat": settings.repeat,
            "sweep_latency": SWEEP_LATENCY,
            "small_size": SMALL_SIZE,
            "scale_jobs": settings.scale_jobs,
        },
        runners=runners_results,
    )
    results.sweep = measure_sweep(settings)
    results.rate_limit = measure_rate_limit(settings)
    results.memory = measure_memory(settings)
    results.scale, results.scale_note, results.put_costs = measure_scale(settings)
    return results


def publish(results: BenchResults, targets: Sequence[reporting.Target], directory: Path) -> None:
    """Write ``latest.json``, ``latest.md`` and ``latest.png`` into *directory*."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "latest.json").write_text(reporting.to_json(results, targets))
    (directory / "latest.md").write_text(reporting.to_markdown(results, targets))
    try:
        reporting.draw_chart(results, directory / "latest.png")
    except ImportError:
        say("matplotlib is not installed (the bench extra): no chart this time")
    else:
        say(f"wrote {directory / 'latest.png'}")
    say(f"wrote {directory / 'latest.json'} and latest.md")


if __name__ == "__main__":
    sys.exit(main())
