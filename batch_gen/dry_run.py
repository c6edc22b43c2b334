"""What a run would do, computed without running it: the plan behind ``--dry-run``.

Reads the state without taking the lock and sends nothing; imports nothing that sends
(aiohttp is not loaded), so a dry run of 100,000 jobs stays quick.
"""

from __future__ import annotations

from pathlib import Path

from .config import RunOptions
from .models import JobRecord, Manifest
from .output import ExistingFiles
from .plan import Plan, Reason, make_plan
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
        saved = 0
        if item.record is not None and item.reason is not Reason.FORCED:
            saved = sum(1 for image in item.record.images if existing(image.file))
        job = item.job
        total += provider_for(job.api).request_count(job, max(job.n - saved, 0))
    return total
