"""``status``: where each job of a manifest stands, from the recorded state (read-only)."""

from __future__ import annotations

import operator
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import msgspec

from batch_gen.config import provider_identity
from batch_gen.manifest import load_manifest, with_provider
from batch_gen.models import ImageRecord, JobRecord, JobStatus, Manifest
from batch_gen.planning.on_disk import OnDisk, Recorded, survey
from batch_gen.state.loading import read_records, read_state
from batch_gen.state.runinfo import last_provider


class StatusFacts(Recorded, Protocol):
    """What ``status`` shows of a job's record: a :class:`JobRecord`, or the
    :class:`RecordSummary` the command reads."""

    @property
    def status(self) -> JobStatus: ...

    @property
    def attempts(self) -> int: ...

    @property
    def error(self) -> str | None: ...

    @property
    def retryable(self) -> bool | None: ...


S = TypeVar("S", bound=StatusFacts)


class RecordSummary(msgspec.Struct, frozen=True, gc=False):
    """A :class:`JobRecord` as ``status`` reads it from the journal: every field, with the
    same name, type and default, so that a line is valid here exactly when it is a valid
    record; but the usage is only checked to be an object (or null), never built. A
    100,000-job state loads in a sixth less time, and at a million jobs in 250 MB less."""

    id: str
    key: str
    status: JobStatus
    attempts: int = 0
    images: tuple[ImageRecord, ...] = ()
    error: str | None = None
    retryable: bool | None = None
    ambiguous_retries: int = 0
    usage: _AnyObject | None = None
    updated_at: float = 0.0
    tasks: dict[str, str] | None = None
    in_flight: int = 0
    tries: int = 0


class _AnyObject(msgspec.Struct, gc=False):
    """Any JSON object, its fields skipped (a Struct ignores the fields it does not name)."""


def read_summaries(output_dir: Path) -> dict[str, RecordSummary]:
    """The recorded state of ``output_dir`` as :func:`~batch_gen.state.loading.read_state`
    reads it, each record as a :class:`RecordSummary`."""
    return read_records(output_dir, RecordSummary)


class JobStatusRow(msgspec.Struct, Generic[S], frozen=True, gc=False):
    """One job's status. A Struct, not a NamedTuple: built 100,000 times for a large
    manifest, in a third less time; ``gc=False``: it holds no cycles, and the collector
    need never look at it."""

    id: str
    key: str
    status: JobStatus
    record: S | None  # only when it belongs to the job's current key
    note: str  # why, when the status is not simply the recorded one


class JobJson(msgspec.Struct, gc=False):
    """One job of ``status --json``, its fields in the documented order (a Struct msgspec
    encodes as an object: 100,000 of them build and encode in half the time of dicts)."""

    id: str
    key: str
    status: JobStatus  # encoded as its value
    attempts: int
    files: list[str]
    error: str | None


_STATUS_ORDER = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.PENDING, JobStatus.RUNNING)


@dataclass(frozen=True, slots=True)
class StatusReport(Generic[S]):
    rows: tuple[JobStatusRow[S], ...]
    # Counted once: the text or JSON and the exit status all ask.
    _counts: Counter[JobStatus] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        counted = Counter(map(_status_of_row, self.rows))  # no Python frame per row
        object.__setattr__(self, "_counts", counted)

    def counts(self) -> dict[str, int]:
        """How many jobs have each status, every status named (succeeded, failed, pending,
        running)."""
        return {status.value: self._counts[status] for status in _STATUS_ORDER}

    def all_done(self) -> bool:
        """Whether every job succeeded (and its files are in place): ``status``'s exit 0."""
        return self._counts[JobStatus.SUCCEEDED] == len(self.rows)

    def json_pieces(self) -> Iterator[bytes]:
        """``status --json``, ``{"total": N, "counts": {...}, "jobs": [{"id", "key",
        "status", "attempts", "files", "error"}, ...]}``, as pieces of bytes to write in
        turn, one job per line.

        Encoded a slice of jobs at a time, each slice in one call, its lines cut where one
        job's object ends and the next begins (``},{"id":`` occurs nowhere else: a ``"``
        inside a string is escaped): at a million jobs the whole document at once would
        be 200 MB more, and indenting it by msgspec's formatter another 300 MB and a pass.
        """
        rows = self.rows
        counts = msgspec.json.format(_ENCODER.encode(self.counts()), indent=0)  # one line
        yield b'{\n  "total": %d,\n  "counts": %s,\n  "jobs": [' % (len(rows), counts)
        separator = b"\n    "
        for start in range(0, len(rows), _JSON_SLICE):
            jobs = _ENCODER.encode(_as_json(rows[start : start + _JSON_SLICE]))
            yield separator + jobs[1:-1].replace(b'},{"id":', b'},\n    {"id":')
            separator = b",\n    "
        yield b"\n  ]\n}\n" if rows else b"]\n}\n"


def _as_json(rows: Sequence[JobStatusRow[S]]) -> list[JobJson]:
    """The rows as ``status --json`` shows them (plain code: once per job)."""
    jobs: list[JobJson] = []
    append, failed = jobs.append, JobStatus.FAILED
    for row in rows:
        record = row.record
        if record is None:
            append(JobJson(row.id, row.key, row.status, 0, [], None))
            continue
        images = record.images  # one image, the usual: no comprehension's call for it
        files = [images[0].file] if len(images) == 1 else [image.file for image in images]
        error = record.error if row.status is failed else None
        append(JobJson(row.id, row.key, row.status, record.attempts, files, error))
    return jobs


_status_of_row = operator.attrgetter("status")
_ENCODER = msgspec.json.Encoder()
_JSON_SLICE = 10_000

_NEVER_RUN = "never run"
_CHANGED = "prompt or fields changed"
_FILES_MISSING = "files missing or damaged"
_INTERRUPTED = "interrupted or in progress"


def status_of(
    jobs: Iterable[tuple[str, str]], output_dir: Path, records: Mapping[str, S]
) -> StatusReport[S | JobRecord]:
    """Each job's status, given ``(id, key)`` pairs in manifest order and the recorded
    state (``read_state``'s records, or :func:`read_summaries`').

    The recorded status counts only for the job's current key, else the job is pending;
    a succeeded job whose files are gone or changed in size is pending too, and a job the
    state lost but whose metadata file and images are intact is succeeded: as ``run`` sees
    them (:mod:`.on_disk`).
    """
    pairs = jobs if isinstance(jobs, list) else list(jobs)
    disk = survey(pairs, records, root=output_dir, now=time.time())
    return StatusReport(_rows(pairs, disk))


def _rows(
    pairs: Iterable[tuple[str, str]], disk: OnDisk[S]
) -> tuple[JobStatusRow[S | JobRecord], ...]:
    """The row of each job ``(id, key)``, from the state and the files as ``disk`` found
    them (plain code, locals bound once: it runs once per job)."""
    found = disk.records.get
    present = disk.present
    row = JobStatusRow
    succeeded, running, pending = JobStatus.SUCCEEDED, JobStatus.RUNNING, JobStatus.PENDING
    rows: list[JobStatusRow[S | JobRecord]] = []
    append = rows.append
    for job_id, key in pairs:
        record = found(job_id)
        if record is None:
            append(row(job_id, key, pending, None, _NEVER_RUN))
        elif record.key != key:
            append(row(job_id, key, pending, None, _CHANGED))
        elif record.status is succeeded:
            if present(record):
                append(row(job_id, key, succeeded, record, ""))
            else:
                append(row(job_id, key, pending, record, _FILES_MISSING))
        elif record.status is running:
            append(row(job_id, key, running, record, _INTERRUPTED))
        else:
            append(row(job_id, key, record.status, record, ""))
    return tuple(rows)


def read_status(manifest: Manifest, output_dir: Path) -> StatusReport[JobRecord]:
    """:func:`status_of` for every job of a loaded manifest, from its whole records."""
    return status_of(
        ((job.id, job.key) for job in manifest.jobs), output_dir, read_state(output_dir)
    )


# Unfinished jobs ``status`` lists unless asked for all: a screenful.
LISTED = 20


def runs_in_progress_line(runs: Sequence[str]) -> str:
    """``a run is in progress (pid 7 on vm)``, or for several (shards) ``3 runs are in
    progress (shard 1/4: pid 7 ...; shard 2/4: ...)``; ``runs`` describes each."""
    if len(runs) == 1:
        return f"a run is in progress ({runs[0]})"
    return f"{len(runs)} runs are in progress ({'; '.join(runs)})"


def format_status(
    report: StatusReport[S],
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
    last = last_provider(output_dir)
    if last is not None and last != default_provider:
        manifest = with_provider(manifest, last)  # e.g. the last run was --offline
    return manifest, output_dir
