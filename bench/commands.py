"""How the benchmark runs each client: batch_gen's CLI as a user runs it, the other
runners of ``runners.py``, and the checks that a run did its work. Shared by every part."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from harness import Measurement, ServedRun, SimulatorProcess, child_env
from workload import SMALL_SIZE, parse_size, verify_images

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
KEY = "sk-bench-local"  # the simulator's key; it guards nothing but loopback traffic

_STARTED = time.perf_counter()


def say(message: str) -> None:
    """A progress line on stderr (stdout is kept for the final tables)."""
    print(f"[bench {time.perf_counter() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def elapsed() -> float:
    """Seconds since the benchmark started."""
    return time.perf_counter() - _STARTED


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


def run_baseline(
    sim: SimulatorProcess, manifest: Path, out: Path, log: Path, *, concurrency: int
) -> tuple[ServedRun, float | None]:
    """Run the hand-written loop against *sim*; the measured run and the loop's own wall
    time from its set-up to its last file (None if it did not say)."""
    argv = runner_argv("baseline", sim=sim, manifest=manifest, out=out, concurrency=concurrency)
    said = log.with_suffix(".out")
    run = sim.measure(argv, env=child_env(), log=log, stdout=said)
    try:
        work = json.loads(said.read_text()).get("work_seconds")
    except (OSError, ValueError, AttributeError):
        work = None
    return run, float(work) if isinstance(work, int | float) else None


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


def check_run(measurement: Measurement, out: Path, jobs: int) -> tuple[bool, str]:
    """Whether a run exited 0 and left *jobs* decodable small PNGs."""
    if measurement.exit_code != 0:
        return False, failure_note(measurement)
    verification = verify_images(out, expected=jobs, size=parse_size(SMALL_SIZE))
    if not verification.ok:
        return False, "; ".join(verification.problems)
    return True, ""
