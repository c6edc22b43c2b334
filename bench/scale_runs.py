"""Big manifests: ``run --dry-run`` and ``status`` on 100,000 jobs (and, with
``--million``, on a million), and the cost of one state update.

Each command is a child process measured from outside. The recorded states are built with
batch_gen's own library (see ``scale.py``); no image files are created.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from commands import batch_gen_argv, failure_note, say
from harness import child_env, measure
from results import PutCostResult, ScaleOperation
from scale import build_recorded_state, measure_put_cost, provider_of, write_scale_manifest
from targets import DRY_RUN_RECORDED_SECONDS, DRY_RUN_SECONDS, STATUS_SECONDS

from batch_gen.state.layout import INDEX_NAME, STATE_DIR_NAME

PUT_RECORDED = (1_000, 100_000)
PUT_UPDATES = 2_000
MILLION = 1_000_000

NOTE = (
    "The recorded states hold succeeded jobs with one image each, but no image files were "
    "created (that would measure the file system): `status` and the dry run count the "
    "jobs as pending ('files missing'). `status` reads the folder of a run against CometAPI "
    "(no re-keying); `no job index` is the same folder without `.batch_gen/jobs.index.json`, "
    "so the manifest is read and validated."
)


def measure_scale(folder: Path, jobs: int) -> tuple[list[ScaleOperation], list[PutCostResult]]:
    """The dry run with no state and with every job recorded, ``status`` with and without
    the job index; then the cost of one state update at 1,000 and 100,000 recorded jobs."""
    operations = _operations(folder / "scale", jobs, every=True)
    costs = []
    for size in PUT_RECORDED:
        cost = measure_put_cost(folder / f"put-{size}", recorded=size, updates=PUT_UPDATES)
        costs.append(PutCostResult(cost.recorded, cost.updates, cost.median_us, cost.p90_us))
        say(f"scale: put at {size:,} recorded: median {cost.median_us:.1f} us")
        shutil.rmtree(folder / f"put-{size}", ignore_errors=True)
    return operations, costs


def measure_million(folder: Path) -> list[ScaleOperation]:
    """The dry run and ``status`` (with the job index) over a million recorded jobs."""
    return _operations(folder / "million", MILLION, every=False)


def _operations(folder: Path, jobs: int, *, every: bool) -> list[ScaleOperation]:
    manifest = write_scale_manifest(folder / "scale.csv", jobs)
    operations = []
    if every:
        operations.append(_dry_run(manifest, folder / "fresh-out", jobs, state=None))
    say(f"scale: building two state stores of {jobs:,} records")
    offline, online = folder / "offline-out", folder / "online-out"
    build_recorded_state(manifest, offline, provider=provider_of(offline=True, environ=child_env()))
    build_recorded_state(manifest, online, provider=provider_of(offline=False, environ=child_env()))
    operations.append(_dry_run(manifest, offline, jobs, state=jobs))
    operations.append(_status(manifest, online, jobs, index=True))
    if every:
        (online / STATE_DIR_NAME / INDEX_NAME).unlink()
        operations.append(_status(manifest, online, jobs, index=False))
    shutil.rmtree(folder, ignore_errors=True)
    return operations


def _dry_run(manifest: Path, out: Path, jobs: int, *, state: int | None) -> ScaleOperation:
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
    name = "dry-run, recorded" if state else "dry-run, no state"
    say(f"scale: {jobs:,} jobs, {name}: {measurement.wall_seconds:.2f}s")
    return ScaleOperation(
        name=name,
        command=f"run {manifest.name} --dry-run --offline",
        state=f"{state:,} recorded" if state else "none",
        jobs=jobs,
        wall_seconds=measurement.wall_seconds,
        peak_rss_mib=measurement.peak_rss_mib,
        limit_seconds=DRY_RUN_RECORDED_SECONDS if state else DRY_RUN_SECONDS,
        ok=ok,
        note=note,
    )


def _status(manifest: Path, out: Path, jobs: int, *, index: bool) -> ScaleOperation:
    """``status --json``; checks that every job's recorded key matched (a job whose key
    did not match would show no attempts)."""
    stdout = out.parent / "status.json"
    argv = [sys.executable, "-m", "batch_gen", "status", str(manifest), "--output", str(out)]
    measurement = measure(
        [*argv, "--json"], env=child_env(), log=out.parent / "status.log", stdout=stdout
    )
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
    name = "status, job index" if index else "status, no job index"
    say(f"scale: {jobs:,} jobs, {name}: {measurement.wall_seconds:.2f}s")
    return ScaleOperation(
        name=name,
        command=f"status {manifest.name} --json",
        state=f"{jobs:,} recorded" + ("" if index else ", no job index"),
        jobs=jobs,
        wall_seconds=measurement.wall_seconds,
        peak_rss_mib=measurement.peak_rss_mib,
        limit_seconds=STATUS_SECONDS,
        ok=ok,
        note=note,
    )
