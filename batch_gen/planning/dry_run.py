"""What a run would do, computed without running it: the plan behind ``--dry-run``.

Reads the state without taking the lock and sends nothing; imports nothing that sends
(aiohttp is not loaded), so a dry run of 100,000 jobs stays quick.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from batch_gen import __version__
from batch_gen.config import BASE_URL_VARIABLE, RunOptions
from batch_gen.errors import ConfigurationError, ManifestError, Problem
from batch_gen.files.atomic import ExistingFiles
from batch_gen.models import DEFAULT_BASE_URL, Job, JobRecord, Manifest
from batch_gen.planning.plan import Plan, PlannedJob, Reason, make_plan
from batch_gen.pricing.catalog import Catalog, unknown_model_message, unknown_models
from batch_gen.pricing.catalog_source import cached_or_built, default_cache_dir, load_catalog
from batch_gen.pricing.cost import estimate_run, format_estimate, history_from
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
        work.append((job, provider_for(job.api).request_count(job, missing), missing))
    return Preview(plan, records, tuple(work))


def count_requests(preview: Preview) -> int:
    """How many API requests the jobs that run need, not counting images still on disk."""
    return sum(requests for _, requests, _ in preview.work)


def _saved_images(item: PlannedJob, existing: ExistingFiles) -> int:
    """Images of the job's current version still on disk (a forced job redoes them all)."""
    if item.record is None or item.reason is Reason.FORCED:
        return 0
    return sum(1 for image in item.record.images if existing(image.file))


def model_problems(jobs: Sequence[Job], catalog: Catalog, manifest_path: Path) -> list[Problem]:
    """A problem per model the catalog does not know, at the first job that uses it."""
    first: dict[str, Job] = {}
    for job in jobs:
        first.setdefault(job.model, job)
    return [
        Problem(str(manifest_path), first[model].line, "model", unknown_model_message(model, hint))
        for model, hint in unknown_models(first, catalog)
    ]


async def catalog_for(*, offline: bool, base_url: str | None, refresh: bool = False) -> Catalog:
    """The model catalog: the built-in simulator's when offline, else CometAPI's (cached for
    a day). Raises ConfigurationError when it cannot be had."""
    if offline:  # the simulator's own table, cached: importing the simulator takes 0.2 s
        return cached_or_built(
            f"simulator://batch_gen-{__version__}",
            cache_dir=default_cache_dir(),
            build=_simulator_catalog,
        )
    url = base_url or os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
    return await load_catalog(base_url=url, cache_dir=default_cache_dir(), refresh=refresh)


def _simulator_catalog() -> dict[str, object]:
    from batch_gen.simulator.catalog import CATALOG

    return {"success": True, "data": [record.to_json() for record in CATALOG]}


def price_plan(preview: Preview, manifest: Manifest, options: RunOptions) -> str:
    """Check the models of the jobs that would run and estimate their cost (a line).

    Raises ManifestError for unknown models; a catalog that cannot be had makes the cost
    unknown, not the dry run fail.
    """
    import asyncio

    try:
        catalog = asyncio.run(catalog_for(offline=options.offline, base_url=options.base_url))
    except ConfigurationError as error:
        return f"estimated cost: unknown ({error})"
    if not catalog.models:
        return "estimated cost: unknown (the model catalog is empty)"
    jobs = [item.job for item in preview.plan.to_run]
    problems = model_problems(jobs, catalog, manifest.path)
    if problems:
        raise ManifestError(problems)
    history = history_from(manifest.jobs, preview.records)
    total, per_model = estimate_run(
        ((job.model, job.request, requests, missing) for job, requests, missing in preview.work),
        catalog=catalog,
        history=history,
    )
    return format_estimate(total, per_model) + f" [prices: {catalog.source}]"
