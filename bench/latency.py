"""Scheduling: the latency sweep (batch_gen and the hand-written loop at several
concurrencies against a fixed latency, with their CPU per request), the rate limit, and
memory against the number of jobs."""

from __future__ import annotations

import shutil
from pathlib import Path

from commands import KEY, check_run, run_baseline, run_batch_gen, say
from harness import SimulatorProcess, rejected
from results import MemoryPoint, RateLimitResult, Startup, SweepPoint
from workload import SMALL_SIZE, make_prompts, write_manifest

SWEEP_LATENCY = 0.2
SWEEP_CONCURRENCIES = (8, 32, 128)
SWEEP_JOBS_PER_SLOT = 10  # jobs = concurrency x 10, so each ideal is 10 x latency = 2 s
STARTUP_TRIES = 3
RATE_RPM = 600
RATE_WINDOW = 5.0
RATE_JOBS = 100
MEMORY_JOBS = (500, 2_000)


def measure_sweep(work: Path) -> list[SweepPoint]:
    """batch_gen at each concurrency against a fixed latency per request, next to the
    hand-written loop on the same jobs (what this server and machine allow), and the CPU
    of one request for each (start-up), to leave their CPU per request."""
    log = work / "logs" / "sim-sweep.log"
    options = ("--latency", str(SWEEP_LATENCY), "--image-mode", "simple")
    with SimulatorProcess(*options, key=KEY, log=log) as sim:
        sim.warm(make_prompts(SWEEP_CONCURRENCIES[-1] * SWEEP_JOBS_PER_SLOT), size=SMALL_SIZE)
        startup = _startup(sim, work)
        say(
            f"sweep: one request costs {startup.batch_gen_cpu_seconds:.2f} s of CPU for "
            f"batch_gen, {startup.baseline_cpu_seconds:.2f} s for the loop (start-up)"
        )
        return [
            _sweep_point(sim, work, concurrency, startup) for concurrency in SWEEP_CONCURRENCIES
        ]


def _startup(sim: SimulatorProcess, work: Path) -> Startup:
    """The least CPU of a few one-request runs of batch_gen and of the loop."""
    manifest = write_manifest(work / "startup.csv", make_prompts(1), size=SMALL_SIZE)
    ours, theirs = [], []
    for attempt in range(STARTUP_TRIES):
        out = work / f"startup-{attempt}"
        run, _ = run_batch_gen(sim, manifest, out, work / "logs" / f"startup-{attempt}.log")
        ours.append(run.measurement.cpu_seconds)
        shutil.rmtree(out, ignore_errors=True)
        loop, _ = run_baseline(
            sim, manifest, out, work / "logs" / f"startup-loop-{attempt}.log", concurrency=1
        )
        theirs.append(loop.measurement.cpu_seconds)
        shutil.rmtree(out, ignore_errors=True)
    return Startup(batch_gen_cpu_seconds=min(ours), baseline_cpu_seconds=min(theirs))


def _sweep_point(
    sim: SimulatorProcess, work: Path, concurrency: int, startup: Startup
) -> SweepPoint:
    jobs = concurrency * SWEEP_JOBS_PER_SLOT
    name = f"sweep-c{concurrency}"
    manifest = write_manifest(work / f"{name}.csv", make_prompts(jobs), size=SMALL_SIZE)
    out = work / name
    logs = work / "logs"
    run, report = run_batch_gen(
        sim, manifest, out, logs / f"{name}.log", "--concurrency", str(concurrency)
    )
    measurement = run.measurement
    ok, note = check_run(measurement, out, jobs)
    shutil.rmtree(out, ignore_errors=True)

    loop, loop_work = run_baseline(
        sim, manifest, out, logs / f"{name}-baseline.log", concurrency=concurrency
    )
    loop_ok, _ = check_run(loop.measurement, out, jobs)
    shutil.rmtree(out, ignore_errors=True)

    wall = report.get("wall_seconds")
    say(
        f"sweep: c={concurrency}: run {wall} s, process {measurement.wall_seconds:.2f} s; "
        f"loop {loop_work or 0:.2f} s, process {loop.measurement.wall_seconds:.2f} s"
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
        baseline_wall_seconds=loop.measurement.wall_seconds if loop_ok else None,
        baseline_work_seconds=loop_work if loop_ok else None,
        baseline_cpu_seconds=loop.measurement.cpu_seconds if loop_ok else None,
        startup=startup,
    )


def measure_rate_limit(work: Path, *, concurrency: int) -> RateLimitResult:
    """``--rpm 600`` for 100 jobs against a server enforcing 600/min over 5 s windows."""
    log = work / "logs" / "sim-rate.log"
    options = (
        "--rpm-limit",
        str(RATE_RPM),
        "--rpm-window",
        str(RATE_WINDOW),
        "--image-mode",
        "simple",
    )
    prompts = make_prompts(RATE_JOBS)
    manifest = write_manifest(work / "rate.csv", prompts, size=SMALL_SIZE)
    out = work / "rate"
    with SimulatorProcess(*options, key=KEY, log=log) as sim:
        sim.warm(prompts, size=SMALL_SIZE)  # resetting afterwards also empties the rpm window
        run, report = run_batch_gen(
            sim,
            manifest,
            out,
            work / "logs" / "rate.log",
            "--rpm",
            str(RATE_RPM),
            "--concurrency",
            str(concurrency),
        )
    measurement = run.measurement
    ok, note = check_run(measurement, out, RATE_JOBS)
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


def measure_memory(work: Path, *, concurrency: int) -> list[MemoryPoint]:
    """batch_gen's peak RSS for few and for many small jobs at the same concurrency."""
    points = []
    log = work / "logs" / "sim-memory.log"
    with SimulatorProcess("--image-mode", "simple", key=KEY, log=log) as sim:
        sim.warm(make_prompts(max(MEMORY_JOBS)), size=SMALL_SIZE)
        for jobs in MEMORY_JOBS:
            name = f"memory-{jobs}"
            manifest = write_manifest(work / f"{name}.csv", make_prompts(jobs), size=SMALL_SIZE)
            out = work / name
            run, _ = run_batch_gen(
                sim, manifest, out, work / "logs" / f"{name}.log", "--concurrency", str(concurrency)
            )
            measurement = run.measurement
            ok, note = check_run(measurement, out, jobs)
            points.append(
                MemoryPoint(
                    jobs=jobs,
                    concurrency=concurrency,
                    peak_rss_mib=measurement.peak_rss_mib,
                    wall_seconds=measurement.wall_seconds,
                    ok=ok,
                    note=note,
                )
            )
            say(f"memory: {jobs} jobs: {measurement.peak_rss_mib:.0f} MiB peak RSS")
            shutil.rmtree(out, ignore_errors=True)
    return points
