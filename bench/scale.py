"""Scale fixtures and in-process measurements: a 100,000-job manifest, a state store that
records all of them, and the cost of one state update.

The state is built with batch_gen's own library (``load_manifest``, ``StateStore``,
``JobRecord``), so its keys are exactly those ``status`` and ``run --dry-run`` compute. No
image files are created: 100,000 of them would measure the file system, not batch_gen.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workload import make_prompts, write_manifest

from batch_gen.config import provider_identity
from batch_gen.manifest import load_manifest
from batch_gen.models import ImageRecord, JobRecord, JobStatus
from batch_gen.state.jobindex import write_job_index
from batch_gen.state.journal import StateStore
from batch_gen.state.runinfo import write_run_info

SCALE_SIZE = "1024x1024"


def write_scale_manifest(path: Path, jobs: int) -> Path:
    """Write a CSV manifest of *jobs* jobs (columns ``id,prompt,size``)."""
    return write_manifest(path, make_prompts(jobs, prefix="job"), size=SCALE_SIZE)


def realistic_record(job_id: str, key: str, *, updated_at: float) -> JobRecord:
    """A succeeded job with one saved 1024x1024 PNG and usage tokens, shaped like what a
    real run records (so journal lines have a realistic length)."""
    image = ImageRecord(
        number=1,
        file=f"{job_id}.png",
        sha256=hashlib.sha256(job_id.encode()).hexdigest(),
        bytes=1_572_864,
        format="png",
        width=1024,
        height=1024,
    )
    # The state keeps only token totals (the metadata file beside the images has the rest).
    usage: dict[str, Any] = {"input_tokens": 14, "output_tokens": 1056, "total_tokens": 1070}
    return JobRecord(
        id=job_id,
        key=key,
        status=JobStatus.SUCCEEDED,
        attempts=1,
        images=(image,),
        usage=usage,
        updated_at=updated_at,
    )


def provider_of(*, offline: bool, environ: Mapping[str, str]) -> str:
    """The provider identity batch_gen puts into keys for a run with *environ*, exactly as
    its CLI computes it (``--offline`` runs are keyed for the simulator)."""
    return provider_identity(offline=offline, base_url=None, environ=environ)


def build_recorded_state(manifest_path: Path, output_dir: Path, *, provider: str) -> int:
    """Record every job of the manifest as succeeded in *output_dir*'s state store, keyed
    for *provider*, and record *provider* as the last run's in ``run.json`` (``status``
    keys the manifest for it). Returns the number of records written."""
    manifest = load_manifest(manifest_path, provider=provider)
    now = time.time()
    with StateStore.open(output_dir) as store:
        for job in manifest.jobs:
            store.put(realistic_record(job.id, job.key, updated_at=now))
    # What a run leaves beside its state: who ran, and the ids and keys of the manifest it
    # ran (which lets status skip validating a byte-identical manifest).
    write_run_info(output_dir, {"provider": provider, "manifest": str(manifest_path)})
    write_job_index(
        output_dir, manifest_sha256=manifest.sha256, provider=provider, jobs=manifest.jobs
    )
    return len(manifest.jobs)


@dataclass(frozen=True, slots=True)
class PutCost:
    """Time of one ``StateStore.put`` into a store that already records *recorded* jobs."""

    recorded: int
    updates: int
    median_us: float
    p90_us: float


def measure_put_cost(directory: Path, *, recorded: int, updates: int, seed: int = 1) -> PutCost:
    """Pre-fill a fresh store with *recorded* jobs, then time *updates* single updates of
    randomly chosen jobs (one ``put`` each, records built outside the timed section).

    The median is reported because a few puts meet a page-cache flush or a GC pause; the
    90th percentile shows how heavy that tail is.
    """
    ids = [f"job-{index:06d}" for index in range(recorded)]
    keys = {job_id: hashlib.sha256(job_id.encode()).hexdigest() for job_id in ids}
    rng = random.Random(seed)
    timings: list[float] = []
    with StateStore.open(directory) as store:
        for job_id in ids:
            store.put(realistic_record(job_id, keys[job_id], updated_at=time.time()))
        for _ in range(updates):
            job_id = rng.choice(ids)
            record = realistic_record(job_id, keys[job_id], updated_at=time.time())
            started = time.perf_counter_ns()
            store.put(record)
            timings.append((time.perf_counter_ns() - started) / 1000)
    deciles = statistics.quantiles(timings, n=10)
    return PutCost(
        recorded=recorded,
        updates=updates,
        median_us=statistics.median(timings),
        p90_us=deciles[-1],
    )
