"""What a run would do, computed without running it: the plan behind ``--dry-run``, its
cost estimate, and the forms ``--list`` and ``--json`` show it in.

Reads the state without taking the lock and sends nothing; imports nothing that sends
(aiohttp is not loaded), so a dry run of 100,000 jobs stays quick.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_gen.config import RunOptions
from batch_gen.models import Job, JobRecord, Manifest
from batch_gen.planning.on_disk import OnDisk
from batch_gen.planning.ownership import refusal
from batch_gen.planning.plan import Plan, PlannedJob
from batch_gen.planning.preflight import preflight
from batch_gen.planning.rejections import Rejections, Remake
from batch_gen.planning.resume import resume
from batch_gen.pricing.cost import Estimate, estimate_run, format_estimate
from batch_gen.providers import provider_for
from batch_gen.state.journal import read_state
from batch_gen.state.runinfo import last_provider


@dataclass(frozen=True, slots=True)
class Preview:
    """What a dry run found: the plan, and the state and files it was made from (read once,
    as a 100,000-job state takes a third of a second and 100 MB)."""

    plan: Plan
    records: Mapping[str, JobRecord]
    # For each job that runs: (job, requests it needs, images it still has to make).
    work: tuple[tuple[Job, int, int], ...]
    refusal: str | None = None  # why a run would stop before sending anything
    remake: Remake | None = None  # what ``--reject``'s file asked, if given


def plan_run(
    manifest: Manifest, options: RunOptions, *, rejections: Rejections | None = None
) -> Preview:
    """The plan a run would follow now, read without taking the lock (for ``--dry-run``);
    ``rejections`` as for :func:`~batch_gen.planning.resume.resume`."""
    found = resume(
        manifest,
        options,
        records=read_state(options.output_dir),
        last_provider=last_provider(options.output_dir),
        now=time.time(),
        rejections=rejections,
    )
    work = []
    disk = found.disk
    for item in found.plan.to_run:
        job = item.job
        missing = max(job.n - _saved_images(item, disk), 0)
        work.append((job, provider_for(job.api).spec.request_count(job, missing), missing))
    stop = None
    if found.foreign and not options.replace_foreign:
        stop = refusal(found.foreign, found.owner, root=options.output_dir, dry_run=True)
    return Preview(found.plan, found.disk.records, tuple(work), stop, found.remake)


def count_requests(preview: Preview) -> int:
    """How many API requests the jobs that run need, not counting images still on disk."""
    return sum(requests for _, requests, _ in preview.work)


def _saved_images(item: PlannedJob, disk: OnDisk[JobRecord]) -> int:
    """Images of the job's current version still in place (a forced job redoes them all)."""
    if item.record is None or item.reason.remade:
        return 0
    return disk.in_place(item.record)


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """What the jobs that run would cost: ``total_usd`` is None when no prices could be
    had (``unknown`` says why); per model, its number of jobs and summed estimate."""

    total_usd: float | None
    per_model: Mapping[str, tuple[int, Estimate]]
    prices: str | None = None  # where the prices come from (the catalog's source)
    unknown: str | None = None

    def line(self) -> str:
        """The dry run's cost line."""
        if self.total_usd is None:
            return f"estimated cost: unknown ({self.unknown})"
        return format_estimate(self.total_usd, self.per_model) + f" [prices: {self.prices}]"

    def to_json(self) -> dict[str, Any]:
        """For ``--dry-run --json``: ``usd`` is a lower bound when ``at_least``."""
        return {
            "usd": self.total_usd,
            "at_least": any(estimate.usd is None for _, estimate in self.per_model.values()),
            "prices": self.prices,
            "unknown": self.unknown,
            "models": {
                model: {"jobs": count, "usd": estimate.usd, "method": estimate.method}
                for model, (count, estimate) in self.per_model.items()
            },
        }


def estimate_cost(preview: Preview, manifest: Manifest, options: RunOptions) -> CostEstimate:
    """Check the models of the jobs that would run and estimate their cost.

    Raises ManifestError for unknown models; a catalog that cannot be had makes the cost
    unknown, not the dry run fail.
    """
    import asyncio

    checked = asyncio.run(
        preflight(
            manifest,
            options,
            to_run=[job for job, _, _ in preview.work],  # the jobs that run, in order
            records=preview.records,
            check_models=True,
            need_prices=False,
        )
    )
    if checked.catalog is None:
        return CostEstimate(None, {}, unknown=checked.unknown)
    total, per_model = estimate_run(
        ((job.model, job.request, requests, missing) for job, requests, missing in preview.work),
        catalog=checked.catalog,
        history=checked.history,
    )
    return CostEstimate(total, per_model, prices=checked.catalog.source)


_COLUMNS = ("ID", "ACTION", "REASON", "MODEL", "N", "API", "REQUESTS")
_NUMERIC = frozenset({"N", "REQUESTS"})


def plan_rows(preview: Preview) -> list[tuple[str, str, str, str, int, str, int]]:
    """One row per job of the manifest, in its order: id, ``run`` or ``skip``, why, model,
    images per job, API, and the requests it would send (0 when skipped)."""
    requests = {job.id: count for job, count, _ in preview.work}
    return [
        (
            item.job.id,
            item.reason.value[0],
            item.reason.text,
            item.job.model,
            item.job.n,
            item.job.api,
            requests.get(item.job.id, 0),
        )
        for item in preview.plan.items
    ]


def format_listing(preview: Preview) -> str:
    """``--dry-run --list``: a header and one row per job, in aligned columns."""
    rows = [tuple(str(cell) for cell in row) for row in plan_rows(preview)]
    widths = [max([len(title)] + [len(row[i]) for row in rows]) for i, title in enumerate(_COLUMNS)]

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            cell.rjust(width) if title in _NUMERIC else cell.ljust(width)
            for title, cell, width in zip(_COLUMNS, cells, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(_COLUMNS), *(line(row) for row in rows)])


def plan_document(
    preview: Preview, *, output_dir: Path, estimate: CostEstimate | None
) -> dict[str, Any]:
    """``--dry-run --json``: the counts, why a run would stop (``stop``, or null), the cost
    estimate (null when there is nothing to run or the catalog is skipped) and every job.
    ``reasons`` counts jobs by reason, named as each job's ``reason`` is."""
    rows = plan_rows(preview)
    running = sum(1 for row in rows if row[1] == "run")
    counts = preview.plan.counts()
    return {
        "output": os.path.abspath(output_dir),
        "total": len(rows),
        "run": running,
        "skip": len(rows) - running,
        "requests": count_requests(preview),
        "reasons": {reason.name.lower(): count for reason, count in counts.items()},
        "stop": preview.refusal,
        "estimated_cost": estimate.to_json() if estimate is not None else None,
        "jobs": [
            {
                "id": job_id,
                "action": action,
                "reason": item.reason.name.lower(),
                "why": why,
                "model": model,
                "n": n,
                "api": api,
                "requests": requests,
            }
            for (job_id, action, why, model, n, api, requests), item in zip(
                rows, preview.plan.items, strict=True
            )
        ],
    }
