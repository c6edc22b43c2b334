"""``status``: where each job of a manifest stands, from the recorded state (read-only)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .models import Job, JobRecord, JobStatus, Manifest
from .state import read_state


@dataclass(frozen=True, slots=True)
class JobStatusRow:
    job: Job
    status: JobStatus
    record: JobRecord | None
    note: str  # why, when the status is not the recorded one

    def to_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "id": self.job.id,
            "key": self.job.key,
            "status": self.status.value,
            "attempts": record.attempts if record else 0,
            "files": list(record.files) if record else [],
            "error": (record.error if record and self.status is JobStatus.FAILED else None),
        }


@dataclass(frozen=True, slots=True)
class StatusReport:
    rows: tuple[JobStatusRow, ...]

    def counts(self) -> dict[str, int]:
        counter = Counter(row.status for row in self.rows)
        order = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.PENDING, JobStatus.RUNNING)
        return {status.value: counter[status] for status in order}

    def to_json(self) -> dict[str, Any]:
        return {
            "total": len(self.rows),
            "counts": self.counts(),
            "jobs": [row.to_json() for row in self.rows],
        }


def _row(job: Job, record: JobRecord | None, root: Path) -> JobStatusRow:
    if record is None:
        return JobStatusRow(job, JobStatus.PENDING, None, "never run")
    if record.key != job.key:
        return JobStatusRow(job, JobStatus.PENDING, None, "prompt or fields changed")
    if record.status is JobStatus.SUCCEEDED and not all(
        (root / name).is_file() for name in record.files
    ):
        return JobStatusRow(job, JobStatus.PENDING, record, "files missing")
    if record.status is JobStatus.RUNNING:
        return JobStatusRow(job, JobStatus.RUNNING, record, "interrupted or in progress")
    return JobStatusRow(job, record.status, record, "")


def read_status(manifest: Manifest, output_dir: Path) -> StatusReport:
    """Each job's status: the recorded one if it is for the job's current key, else pending.

    A succeeded job whose files are gone counts as pending, as ``run`` would redo it.
    """
    records = read_state(output_dir)
    return StatusReport(tuple(_row(job, records.get(job.id), output_dir) for job in manifest.jobs))


def format_status(report: StatusReport, *, output_dir: Path) -> str:
    counts = report.counts()
    lines = [
        f"{len(report.rows)} jobs in {output_dir}: "
        + ", ".join(f"{count} {name}" for name, count in counts.items())
    ]
    for row in report.rows:
        if row.status is JobStatus.SUCCEEDED:
            continue
        detail = row.note
        if row.status is JobStatus.FAILED and row.record is not None:
            kind = "retryable" if row.record.retryable else "permanent"
            detail = f"{kind}: {row.record.error}"
        attempts = row.record.attempts if row.record else 0
        lines.append(f"  {row.status.value:9} {row.job.id}  attempts={attempts}  {detail}")
    return "\n".join(lines)
