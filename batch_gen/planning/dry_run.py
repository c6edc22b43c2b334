"""What a run would do, computed without running it: the plan behind ``--dry-run``.

Reads the state without taking the lock and sends nothing; imports nothing that sends
(aiohttp is not loaded), so a dry run of 100,000 jobs stays quick.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from batch_gen.config import RunOptions
from batch_gen.models import Job, JobRecord, Manifest
from batch_gen.planning.on_disk import OnDisk
from batch_gen.planning.ownership import refusal
from batch_gen.planning.plan import Plan, PlannedJob, Reason
from batch_gen.planning.preflight import preflight
from batch_gen.planning.resume import resume
from batch_gen.pricing.cost import estimate_run, format_estimate
from batch_gen.providers import provider_for
from batch_gen.state.journal import read_state
from batch_gen.state.runinfo import read_run_info


@dataclass(frozen=True, slots=True)
class Preview:
    """What a dry run found: the plan, and the state and files it was made from (read once,
    as a 100,000-job state takes a third of a second and 100 MB)."""

    plan: Plan
    records: Mapping[str, JobRecord]
    # For each job that runs: (job, requests it needs, images it still has to make).
    work: tuple[tuple[Job, int, int], ...]
    refusal: str | None = None  # why a run would stop before sending anything


def plan_run(manifest: Manifest, options: RunOptions) -> Preview:
    """The plan a run would follow now, read without taking the lock (for ``--dry-run``)."""
    found = resume(
        manifest,
        options,
        records=read_state(options.output_dir),
        last_provider=read_run_info(options.output_dir).get("provider"),
        now=time.time(),
    )
    work = []
    for item in found.plan.to_run:
        job = item.job
        missing = max(job.n - _saved_images(item, found.disk), 0)
        work.append((job, provider_for(job.api).spec.request_count(job, missing), missing))
    stop = None
    if found.foreign and not options.replace_foreign:
        stop = refusal(found.foreign, found.owner, root=options.output_dir, dry_run=True)
    return Preview(found.plan, found.disk.records, tuple(work), stop)


def count_requests(preview: Preview) -> int:
    """How many API requests the jobs that run need, not counting images still on disk."""
    return sum(requests for _, requests, _ in preview.work)


def _saved_images(item: PlannedJob, disk: OnDisk) -> int:
    """Images of the job's current version still in place (a forced job redoes them all)."""
    if item.record is None or item.reason is Reason.FORCED:
        return 0
    return disk.in_place(item.record)


def price_plan(preview: Preview, manifest: Manifest, options: RunOptions) -> str:
    """Check the models of the jobs that would run and estimate their cost (a line).

    Raises ManifestError for unknown models; a catalog that cannot be had makes the cost
    unknown, not the dry run fail.
    """
    import asyncio

    checked = asyncio.run(
        preflight(
            manifest,
            options,
            to_run=[item.job for item in preview.plan.to_run],
            records=preview.records,
            check_models=True,
            need_prices=False,
        )
    )
    if checked.catalog is None:
        return f"estimated cost: unknown ({checked.unknown})"
    total, per_model = estimate_run(
        ((job.model, job.request, requests, missing) for job, requests, missing in preview.work),
        catalog=checked.catalog,
        history=checked.history,
    )
    return format_estimate(total, per_model) + f" [prices: {checked.catalog.source}]"
