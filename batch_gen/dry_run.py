"""What a run would do, computed without running it: the plan behind ``--dry-run``.

Reads the state without taking the lock and sends nothing; imports nothing that sends
(aiohttp is not loaded), so a dry run of 100,000 jobs stays quick.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .catalog import (
    Catalog,
    default_cache_dir,
    load_catalog,
    unknown_model_message,
    unknown_models,
)
from .config import BASE_URL_VARIABLE, RunOptions
from .cost import estimate_run, format_estimate, history_from
from .errors import ConfigurationError, ManifestError, Problem
from .models import DEFAULT_BASE_URL, Job, JobRecord, Manifest
from .output import ExistingFiles
from .plan import Plan, PlannedJob, Reason, make_plan
from .providers import provider_for
from .state import read_state


def files_present(existing: ExistingFiles, record: JobRecord) -> bool:
    """Whether every file of a succeeded record still exists."""
    return bool(record.images) and all(existing(image.file) for image in record.images)


def plan_run(manifest: Manifest, options: RunOptions) -> Plan:
    """The plan a run would follow now, read without taking the lock (for ``--dry-run``)."""
    records = read_state(options.output_dir)
    existing = ExistingFiles(options.output_dir)
    return make_plan(
        manifest.jobs,
        records,
        files_present=lambda record: files_present(existing, record),
        only=options.only,
        force=options.force,
        retry_failed=options.retry_failed,
    )


def count_requests(plan: Plan, output_dir: Path) -> int:
    """How many API requests the jobs that run need, not counting images still on disk."""
    existing = ExistingFiles(output_dir)
    total = 0
    for item in plan.to_run:
        job = item.job
        missing = max(job.n - _saved_images(item, existing), 0)
        total += provider_for(job.api).request_count(job, missing)
    return total


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
    if offline:
        from .simulator import Simulator, SimulatorConfig

        async with Simulator(SimulatorConfig()) as simulator:
            return await load_catalog(
                base_url=simulator.base_url, cache_dir=default_cache_dir(), refresh=True
            )
    url = base_url or os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
    return await load_catalog(base_url=url, cache_dir=default_cache_dir(), refresh=refresh)


def price_plan(plan: Plan, manifest: Manifest, options: RunOptions) -> str:
    """Check the models of the jobs that would run and estimate their cost (a line).

    Raises ManifestError for unknown models; a catalog that cannot be had makes the cost
    unknown, not the dry run fail.
    """
    import asyncio

    try:
        catalog = asyncio.run(catalog_for(offline=options.offline, base_url=options.base_url))
    except ConfigurationError as error:
        return f"estimated cost: unknown ({error})"
    jobs = [item.job for item in plan.to_run]
    problems = model_problems(jobs, catalog, manifest.path)
    if problems:
        raise ManifestError(problems)
    records = read_state(options.output_dir)
    existing = ExistingFiles(options.output_dir)
    history = history_from(manifest.jobs, records)
    work = []
    for item in plan.to_run:
        job = item.job
        saved = _saved_images(item, existing)
        missing = max(job.n - saved, 0)
        work.append(
            (job.model, job.request, provider_for(job.api).request_count(job, missing), missing)
        )
    total, per_model = estimate_run(work, catalog=catalog, history=history)
    return format_estimate(total, per_model) + f" [prices: {catalog.source}]"
