"""The plan of a run from the manifest, the recorded state and the output folder: the one
place where ``run`` and ``run --dry-run`` decide it, so that they agree.

It adopts jobs from their metadata files (:mod:`.on_disk`), tells jobs another provider
made apart from edited ones, applies the resume rules (:mod:`.plan`) and finds what the
jobs that run would replace that another provider or manifest made (:mod:`.ownership`).
Reads the output folder; writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from batch_gen.config import RunOptions
from batch_gen.files.sidecar import Owner, manifest_reference, read_metadata
from batch_gen.manifest import key_for
from batch_gen.models import Job, JobRecord, Manifest
from batch_gen.planning.on_disk import OnDisk, survey
from batch_gen.planning.ownership import AtRisk, Owners, at_risk, foreign, made_elsewhere
from batch_gen.planning.plan import Plan, PlannedJob, Reason, make_plan
from batch_gen.planning.rejections import Rejections, Remake, to_remake


@dataclass(frozen=True, slots=True)
class Resume:
    """A run's plan and what was found making it."""

    plan: Plan
    disk: OnDisk[JobRecord]
    owner: Owner  # who this run is: its provider and its manifest
    foreign: tuple[AtRisk, ...]  # files running would replace that others made
    remake: Remake | None = None  # what a rejection file asked (run --reject), if given

    def unlisted(self) -> list[PlannedJob]:
        """The done jobs whose metadata file is missing (a run writes it again)."""
        existing = self.disk.existing
        return [
            item
            for item in self.plan.items
            if item.reason is Reason.DONE and not existing(f"{item.job.id}.json")
        ]


def run_owner(manifest: Manifest, options: RunOptions) -> Owner:
    """Who a run is, as its metadata files record it."""
    return Owner(options.maker, manifest_reference(manifest.path, options.output_dir))


def resume(
    manifest: Manifest,
    options: RunOptions,
    *,
    records: Mapping[str, JobRecord],
    last_provider: str | None,
    now: float,
    rejections: Rejections | None = None,
) -> Resume:
    """Plan a run over ``records`` (the state). ``last_provider`` is the provider identity
    of the folder's last run (``run.json``), which tells who made images whose metadata is
    too old to say; ``now`` stamps adopted records. ``rejections`` (``run --reject``): the
    jobs whose key and images are still the ones rejected are made again (adopted records
    included: a lost state still knows its images)."""
    root = options.output_dir
    jobs = manifest.jobs
    pairs = ((job.id, job.key) for job in jobs)
    disk = survey(pairs, records, root=root, verify=options.verify, now=now)
    us = run_owner(manifest, options)
    remake = None
    if rejections is not None:
        remake = to_remake(rejections, jobs, disk.records, finished_at=_finished_at(root))
    owners = Owners(
        root,
        disk.existing,
        last_provider=None if last_provider == options.provider else last_provider,
        key_for=key_for,
    )
    plan = make_plan(
        jobs,
        disk.records,
        files_present=disk.present,
        only=options.only,
        force=options.force,
        retry_failed=options.retry_failed,
        made_elsewhere=_made_elsewhere(owners, made_by=options.maker),
        rejected=remake.jobs if remake is not None else (),
    )
    risky = at_risk(
        (item.job for item in plan.items if item.reason.runs),  # not read if no file is there
        records=disk.records,
        owners=owners,
        existing=disk.existing,
        template=options.filename,
    )
    return Resume(plan, disk, us, tuple(foreign(risky, us)), remake)


def _made_elsewhere(owners: Owners, *, made_by: str) -> Callable[[Job, JobRecord], bool]:
    """Whether another provider made the images ``record`` (under another key than the
    job's) holds, by :func:`~.ownership.made_elsewhere`'s rule, for the plan to ask."""

    def asked(job: Job, record: JobRecord) -> bool:
        return bool(made_elsewhere([job], {job.id: record}, owners=owners, made_by=made_by))

    return asked


def _finished_at(root: Path) -> Callable[[str], str | None]:
    """A job id → its metadata file's ``finished_at`` (None without one): read only for
    the few jobs a rejection file names."""

    def finished_at(job_id: str) -> str | None:
        sidecar = read_metadata(root, job_id)
        return sidecar.finished_at if sidecar is not None else None

    return finished_at
