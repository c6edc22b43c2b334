"""Polling Midjourney tasks: 200 tasks in flight at once, polled one task per call (bulk
polls switched off, as before they existed) and then in bulk, counted from batch_gen's own
``--debug`` request log."""

from __future__ import annotations

import csv
import re
import shutil
import sys
from pathlib import Path

from commands import BENCH_DIR, KEY, failure_note, say, sim_env
from harness import SimulatorProcess
from results import PollsRun

TASKS = 200
TASK_SECONDS = 6.0  # fast mode; each task runs this long in the simulator
POLL_INTERVAL = 1.0
MODEL = "mj_fast_imagine"

_SUBMIT = re.compile(r": POST \S*/mj/submit/imagine: HTTP")
_SINGLE = re.compile(r": GET /mj/task/\S+/fetch: HTTP")
_BULK = re.compile(r"bulk poll: POST /mj/task/list-by-condition: HTTP")


def measure_polls(work: Path) -> list[PollsRun]:
    """The same 200 Midjourney jobs, per task and in bulk, against one simulator."""
    manifest = _manifest(work / "polls.csv")
    log = work / "logs" / "sim-polls.log"
    options = ("--mj-task-seconds", str(TASK_SECONDS), "--image-mode", "simple")
    with SimulatorProcess(*options, key=KEY, log=log) as sim:
        return [
            _run(sim, manifest, work, mode="per task"),
            _run(sim, manifest, work, mode="bulk"),
        ]


def _manifest(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prompt", "model"])
        writer.writerows(
            [f"kite-{number:03d}", f"a kite over the dunes, number {number}", MODEL]
            for number in range(1, TASKS + 1)
        )
    return path


def _run(sim: SimulatorProcess, manifest: Path, work: Path, *, mode: str) -> PollsRun:
    out = work / f"polls-{mode.replace(' ', '-')}"
    log = work / "logs" / f"polls-{mode.replace(' ', '-')}.log"
    program = [str(BENCH_DIR / "per_task_polls.py")] if mode == "per task" else ["-m", "batch_gen"]
    argv = [sys.executable, *program, "run", str(manifest), "--output", str(out)]
    argv += ["--concurrency", str(TASKS), "--poll-interval", str(POLL_INTERVAL)]
    argv += ["--no-progress", "--debug"]
    run = sim.measure(argv, env=sim_env(sim), log=log)
    measurement = run.measurement
    text = log.read_text(errors="replace")
    images = len(list(out.glob("kite-*.png")))
    ok = measurement.exit_code == 0 and images == TASKS
    note = "" if ok else failure_note(measurement) + f"; {images} images"
    result = PollsRun(
        mode=mode,
        tasks=TASKS,
        submits=len(_SUBMIT.findall(text)),
        single_polls=len(_SINGLE.findall(text)),
        bulk_polls=len(_BULK.findall(text)),
        downloads=images,
        wall_seconds=measurement.wall_seconds,
        ok=ok,
        note=note,
    )
    say(
        f"polls: {mode}: {result.single_polls} single, {result.bulk_polls} bulk calls for "
        f"{TASKS} tasks ({result.polls_per_task:.2f} per task), {measurement.wall_seconds:.1f}s"
    )
    shutil.rmtree(out, ignore_errors=True)
    return result
