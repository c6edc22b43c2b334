"""Throughput: batch_gen's CLI, the hand-written loop and the peers on the same prompts,
server and concurrency, in interleaved rounds; the fastest round of each is kept."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import runners
from commands import batch_gen_argv, failure_note, runner_argv, say, sim_env
from harness import ServedRun, SimulatorProcess, child_env
from results import RunnerResult
from workload import make_prompts, parse_size, verify_images, write_manifest

PEERS = ("openai", "litellm")


@dataclass(frozen=True, slots=True)
class ThroughputSettings:
    count: int
    concurrency: int
    size: str
    repeat: int
    work: Path
    key: str


def measure_throughput(settings: ThroughputSettings) -> tuple[list[RunnerResult], float]:
    """Every runner on the same prompts and server; returns the results (best wall of
    ``repeat`` rounds, rounds interleaved across runners) and the mean image size in kB."""
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
    with SimulatorProcess("--image-mode", "photo", key=settings.key, log=log) as sim:
        warmed = sim.warm(prompts, size=settings.size)
        say(f"throughput: simulator at {sim.url}; {warmed} images rendered before timing")
        for round_number in range(1, settings.repeat + 1):
            for name in names:
                result, kb = _once(name, sim, manifest, settings, round_number)
                attempts[name].append(result)
                mean_kb = mean_kb or kb
    results = [_best(attempts[name]) for name in names] + skipped
    return _with_ratios(results), mean_kb


def _once(
    name: str,
    sim: SimulatorProcess,
    manifest: Path,
    settings: ThroughputSettings,
    round_number: int,
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
