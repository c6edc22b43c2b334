"""What a run would do, computed without running it: the plan behind ``--dry-run``.

Reads the state without taking the lock and sends nothing; imports nothing that sends
(aiohttp is not loaded), so a dry run of 100,000 jobs stays quick.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from batch_gen.config import RunOptions
from batch_gen.files.atomic import ExistingFiles
from batch_gen.models import Job, JobRecord, Manifest
from batch_gen.planning.plan import Plan, PlannedJob, Reason, make_plan
from batch_gen.planning.preflight import preflight
from batch_gen.pricing.cost import estimate_run, format_estimate
from batch_gen.providers import provider_for
from batch_gen.state.journal import read_state


def files_present(existing: ExistingFiles, record: JobRecord) -> bool:
    """Whether every file of a succeeded record still exists."""
    return bool(record.images) and all(existing(image.file) for image in record.images)


@dataclass(frozen=True, slots=True)
class Preview:
    """What a dry run found: the plan, and the state and files it was made from (read once,
    as a 100,000-job state takes a third of a second and 100 MB)."""

    plan: Plan
    records: Mapping[str, JobRecord]
    # For each job that runs: (job, requests it needs, images it still has to make).
    work: tuple[tuple[Job, int, int], ...]


def plan_run(manifest: Manifest, options: RunOptions) -> Preview:
    """The plan a run would follow now, read without taking the lock (for ``--dry-run``)."""
    records = read_state(options.output_dir)
    existing = ExistingFiles(options.output_dir)
    plan = make_plan(
        manifest.jobs,
        records,
        files_present=lambda record: files_present(existing, record),
        only=options.only,
        force=options.force,
        retry_failed=options.retry_failed,
    )
    work = []
    for item in plan.to_run:
        job = item.job
        missing = max(job.n - _saved_images(item, existing), 0)
        work.append((job, provider_for(job.api).spec.request_count(job, missing), missing))
    return Preview(plan, records, tuple(work))


def count_requests(preview: Preview) -> int:
    """How many API requests the jobs that run need, not counting images still on disk."""
    return sum(requests for _, requests, _ in preview.work)


def _saved_images(item: PlannedJob, existing: ExistingFiles) -> int:
    """Images of the job's current version still on disk (a forced job redoes them all)."""
    if item.record is None or item.reason is Reason.FORCED:
        return 0
    return sum(1 for image in item.record.images if existing(image.file))


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
