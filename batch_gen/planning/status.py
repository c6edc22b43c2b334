"""``status``: where each job of a manifest stands, from the recorded state (read-only)."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from batch_gen.config import provider_identity
from batch_gen.manifest import load_manifest, with_provider
from batch_gen.models import JobRecord, JobStatus, Manifest
from batch_gen.planning.on_disk import OnDisk, survey
from batch_gen.state.journal import read_state
from batch_gen.state.runinfo import read_run_info


class JobStatusRow(NamedTuple):  # built 100,000 times for a large manifest: a fast tuple
    id: str
    key: str
    status: JobStatus
    record: JobRecord | None  # only when it belongs to the job's current key
    note: str  # why, when the status is not simply the recorded one

    def to_json(self) -> JobJson:
        """The row as ``status --json`` shows it (a Struct msgspec encodes as an object:
        100,000 of them build and encode in half the time of dicts)."""
        record = self.record
        if record is None:
            return JobJson(self.id, self.key, self.status.value, 0, [], None)
        error = record.error if self.status is JobStatus.FAILED else None
        return JobJson(
            self.id, self.key, self.status.value, record.attempts, list(record.files), error
        )


class JobJson(msgspec.Struct):
    """One job of ``status --json``, its fields in the documented order."""

    id: str
    key: str
    status: str
    attempts: int
    files: list[str]
    error: str | None


@dataclass(frozen=True, slots=True)
class StatusReport:
    rows: tuple[JobStatusRow, ...]

    def counts(self) -> dict[str, int]:
        counter = Counter(row.status for row in self.rows)
        order = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.PENDING, JobStatus.RUNNING)
        return {status.value: counter[status] for status in order}

    def all_done(self) -> bool:
        """Whether every job succeeded (and its files are in place): ``status``'s exit 0."""
        return all(row.status is JobStatus.SUCCEEDED for row in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": len(self.rows),
            "counts": self.counts(),
            "jobs": [row.to_json() for row in self.rows],
        }


def _row(job_id: str, key: str, record: JobRecord | None, disk: OnDisk) -> JobStatusRow:
    if record is None:
        return JobStatusRow(job_id, key, JobStatus.PENDING, None, "never run")
    if record.key != key:
        return JobStatusRow(job_id, key, JobStatus.PENDING, None, "prompt or fields changed")
    if record.status is JobStatus.SUCCEEDED and not disk.present(record):
        return JobStatusRow(job_id, key, JobStatus.PENDING, record, "files missing or damaged")
    if record.status is JobStatus.RUNNING:
        return JobStatusRow(job_id, key, JobStatus.RUNNING, record, "interrupted or in progress")
    return JobStatusRow(job_id, key, record.status, record, "")


def status_of(
    jobs: Iterable[tuple[str, str]],
    output_dir: Path,
    records: Mapping[str, JobRecord] | None = None,
) -> StatusReport:
    """Each job's status, given ``(id, key)`` pairs in manifest order.

    The recorded status counts only for the job's current key, else the job is pending;
    a succeeded job whose files are gone or changed in size is pending too, and a job the
    state lost but whose metadata file and images are intact is succeeded: as ``run`` sees
    them (:mod:`.on_disk`).
    """
    if records is None:
        records = read_state(output_dir)
    pairs = list(jobs)
    disk = survey(pairs, records, root=output_dir, now=time.time())
    found = disk.records
    return StatusReport(tuple(_row(job_id, key, found.get(job_id), disk) for job_id, key in pairs))


def read_status(manifest: Manifest, output_dir: Path) -> StatusReport:
    """:func:`status_of` for every job of a loaded manifest."""
    return status_of(((job.id, job.key) for job in manifest.jobs), output_dir)


# Unfinished jobs ``status`` lists unless asked for all: a screenful.
LISTED = 20


def runs_in_progress_line(runs: Sequence[str]) -> str:
    """``a run is in progress (pid 7 on vm)``, or for several (shards) ``3 runs are in
    progress (shard 1/4: pid 7 ...; shard 2/4: ...)``; ``runs`` describes each."""
    if len(runs) == 1:
        return f"a run is in progress ({runs[0]})"
    return f"{len(runs)} runs are in progress ({'; '.join(runs)})"


def format_status(
    report: StatusReport,
    *,
    output_dir: Path,
    in_progress: Sequence[str] = (),
    limit: int | None = LISTED,
) -> str:
    """The text of ``status``: the counts; that runs are in progress (``in_progress``
    describes each), if any are; then one aligned row per unfinished job, the first
    ``limit`` of them (None: all) and how many more there are."""
    counts = report.counts()
    lines = [
        f"{len(report.rows)} jobs in {output_dir}: "
        + ", ".join(f"{count} {name}" for name, count in counts.items())
    ]
    if in_progress:
        lines.append(f"{runs_in_progress_line(in_progress)}: these counts are changing")
    unfinished = [row for row in report.rows if row.status is not JobStatus.SUCCEEDED]
    shown = unfinished if limit is None else unfinished[:limit]
    width = max((len(row.id) for row in shown), default=0)
    tries = max((len(str(row.record.attempts)) for row in shown if row.record), default=1)
    for row in shown:
        detail = row.note
        if row.status is JobStatus.FAILED and row.record is not None:
            kind = "retryable" if row.record.retryable else "permanent"
            detail = f"{kind}: {row.record.error}"
        attempts = row.record.attempts if row.record else 0
        line = f"  {row.status.value:9} {row.id:{width}}  attempts={attempts:<{tries}}  {detail}"
        lines.append(line.rstrip())
    if len(unfinished) > len(shown):
        lines.append(f"  ... and {len(unfinished) - len(shown)} more; --all to list them")
    return "\n".join(lines)


def manifest_as_last_run(
    path: Path, output: Path | None = None, *, environ: Mapping[str, str] = os.environ
) -> tuple[Manifest, Path]:
    """The manifest at ``path`` with its jobs keyed for the provider the output folder's
    last run used (an offline run keys every job for the simulator), and that folder
    (``output``, else the manifest's): what ``status`` and ``gallery`` show.

    Raises:
        ManifestError: the manifest cannot be read or is invalid.
    """
    default_provider = provider_identity(offline=False, base_url=None, environ=environ)
    manifest = load_manifest(path, provider=default_provider)
    output_dir = output or manifest.output.dir
    last = read_run_info(output_dir).get("provider")
    if isinstance(last, str) and last != default_provider:
        manifest = with_provider(manifest, last)  # e.g. the last run was --offline
    return manifest, output_dir
