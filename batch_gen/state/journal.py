"""The resumable state store: what every job of an output folder has done so far.

The store is a journal of JSON lines at ``<output>/.batch_gen/state.jsonl`` (a run of
``--shard K/N``: ``state-KofN.jsonl``, see :mod:`.layout`). Each line is a full snapshot of
one :class:`~batch_gen.models.JobRecord` plus a format field ``"v": 1``; the last line for
a job id wins. Recording a change therefore appends one line, whatever the number of jobs.
When it is opened or closed and has grown to more than twice its live size, the journal is
compacted: rewritten with one line per job, then swapped in with ``os.replace``.

Shards: every reader merges all the journals of the folder (:func:`read_state`, from
:mod:`.loading`, which reads journals for readers and the store alike): for a job
that several hold, the record updated last wins. A store opened for a shard first takes
into its own journal the records of its jobs that another journal holds newer (the shard
count changed, or an unsharded run came before), so changing N loses nothing: not a
failure, not a task id, not a possibly billed request.

Crash safety: each line is appended with one ``os.write`` on an ``O_APPEND`` descriptor, so
a killed process leaves at most one torn last line. Loading ignores it (and any line that
is not valid JSON or lacks required fields), and opening for writing truncates the journal
back to its last complete line so the next record starts on a fresh line. Nothing is
fsynced per update: a killed process loses nothing the kernel has accepted; ``close()``
fsyncs once for power cuts.

Exclusivity: an open store holds its shard's lock of the output folder, and no run that
may make the same jobs runs beside it (:mod:`batch_gen.state.folder`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Self

import msgspec

from batch_gen.models import JobRecord
from batch_gen.shards import Shard
from batch_gen.state.folder import hold_folder, state_files
from batch_gen.state.layout import STATE_DIR_NAME, journal_name, replace_with
from batch_gen.state.loading import (
    Loaded,
    merge_records,
    read_journal,
    read_shard_states,
    read_state,
)
from batch_gen.state.lock import release_lock

# The readers live in .loading; these names stay importable from here.
__all__ = [
    "FORMAT_VERSION",
    "StateStore",
    "merge_records",
    "read_shard_states",
    "read_state",
    "record_from_json",
    "record_to_json",
]

FORMAT_VERSION = 1

# Compact when the journal holds more lines than this factor times the live records plus
# the slack; the slack keeps small runs from compacting on every open.
COMPACT_FACTOR = 2
COMPACT_SLACK = 1000


# --- serialisation ----------------------------------------------------------------------
# A journal line is ``"v"`` (the line format, for people and future readers) followed by a
# JobRecord as msgspec encodes it (see models.py), fields at their defaults left out.
# Readers ignore ``v`` and any field they do not know, so that a newer writer's journal
# still resumes: refusing it would run, and pay for, every job again.


def record_to_json(record: JobRecord) -> dict[str, Any]:
    """Return ``record`` as the JSON-ready dict a journal line holds."""
    document: dict[str, Any] = {"v": FORMAT_VERSION}
    document.update(msgspec.to_builtins(record))
    return document


def record_from_json(data: Any) -> JobRecord:
    """Build a :class:`JobRecord` from a decoded journal line.

    ``id``, ``key`` and ``status`` are required, other fields default; unknown fields are
    ignored so that newer writers stay readable, and a line without ``v`` is accepted.

    Raises:
        ValueError: a required field is missing or a field has the wrong type.
    """
    try:
        return msgspec.convert(data, JobRecord)
    except msgspec.ValidationError as exc:
        raise ValueError(f"malformed job record: {exc}") from exc


def _encode(record: JobRecord) -> bytes:
    return _LINE_START + _ENCODER.encode(record)[1:] + b"\n"  # '{"v":1,' + '"id":...}'


_LINE_START = b'{"v":%d,' % FORMAT_VERSION


_ENCODER = msgspec.json.Encoder()


def _newer_elsewhere(
    output_dir: Path, shard: Shard | None, own: Path, records: Mapping[str, JobRecord]
) -> list[JobRecord]:
    """The records of ``shard``'s jobs (None: every job) that another journal of the
    folder holds updated later than ``records`` (the store's own) do."""
    found: dict[str, JobRecord] = {}
    for _, path in state_files(output_dir):
        if path == own:
            continue
        for job_id, record in read_journal(path, JobRecord).records.items():
            best = found.get(job_id) or records.get(job_id)
            if best is not None and record.updated_at <= best.updated_at:
                continue
            if shard is None or shard.holds(job_id):
                found[job_id] = record
    return list(found.values())


# --- the store --------------------------------------------------------------------------


class StateStore:
    """The state of one output folder, open for writing by this process alone.

    Use :meth:`open` (not the constructor), preferably as a context manager. Not
    thread-safe: one writer (the runner's event loop) records every change.
    """

    def __init__(
        self,
        *,
        path: Path,
        lock_fd: int,
        journal_fd: int,
        journal: Loaded[JobRecord],
        alone: bool = True,
    ) -> None:
        self._path = path
        self._lock_fd: int | None = lock_fd
        self._journal_fd: int | None = journal_fd
        self._records = journal.records
        self._lines = journal.lines
        self.opened_at = time.time()
        # Whether no other run held the folder (another shard's) when this one opened:
        # only then is every temp file older than this store nobody's in flight.
        self.alone = alone

    @classmethod
    def open(cls, output_dir: Path, *, shard: Shard | None = None) -> StateStore:
        """Lock ``output_dir``'s state for ``shard``'s runs (None: unsharded runs), load
        its journal, take over what other journals hold newer of its jobs, and compact
        the journal if it is bloated.

        Creates ``<output_dir>/.batch_gen`` if needed.

        Raises:
            OutputLockedError: another open store (in any process) holds the same shard, or
                a run that may make the same jobs holds the folder (see
                :func:`~batch_gen.state.folder.hold_folder`).
            OSError: the state folder cannot be created, read or written.
        """
        directory = output_dir / STATE_DIR_NAME
        directory.mkdir(parents=True, exist_ok=True)
        lock_fd, others = hold_folder(output_dir, shard)
        journal_fd = None
        try:
            path = directory / journal_name(shard)
            journal = read_journal(path, JobRecord)
            taken = _newer_elsewhere(output_dir, shard, path, journal.records)
            if _bloated(journal.lines, len(journal.records)):
                journal = _compact(path, journal.records)
            journal_fd = _open_for_append(path, journal.complete_size)
            store = cls(
                path=path, lock_fd=lock_fd, journal_fd=journal_fd, journal=journal, alone=not others
            )
            for record in taken:
                store.put(record)
        except BaseException:
            if journal_fd is not None:
                os.close(journal_fd)
            release_lock(lock_fd)
            raise
        return store

    @property
    def path(self) -> Path:
        """The journal file."""
        return self._path

    def get(self, job_id: str) -> JobRecord | None:
        """Return the latest record of ``job_id``, or None if it was never recorded."""
        return self._records.get(job_id)

    def records(self) -> Mapping[str, JobRecord]:
        """Return a read-only live view of every job's latest record, by job id."""
        return MappingProxyType(self._records)

    def put(self, record: JobRecord) -> None:
        """Record ``record`` as the latest state of its job: one appended line, no fsync.

        Raises:
            ValueError: the store is closed.
            TypeError: ``record.usage`` holds a value JSON cannot represent.
            OSError: the write failed; the journal is left as it was before the call.
        """
        if self._journal_fd is None:
            raise ValueError("the state store is closed")
        line = _encode(record)
        written = os.write(self._journal_fd, line)  # an OSError here means nothing was written
        if written != len(line):
            # Cut off the part of the line that reached the file, so the next line starts
            # clean. We are the only writer (we hold the lock), so the end is ours.
            with contextlib.suppress(OSError):
                end = os.fstat(self._journal_fd).st_size
                os.ftruncate(self._journal_fd, end - written)
            raise OSError(f"short write to {self.path}: {written} of {len(line)} bytes")
        self._records[record.id] = record
        self._lines += 1

    def close(self) -> None:
        """Flush the journal to disk (one fsync), compact it if it has grown to more than
        twice its live size, and release the lock. Idempotent.

        Compacting here too keeps ``status`` after a long run fast: a run typically writes
        three snapshots per job (pending, running, done).
        """
        journal_fd, self._journal_fd = self._journal_fd, None
        lock_fd, self._lock_fd = self._lock_fd, None
        try:
            if journal_fd is not None:
                try:
                    os.fsync(journal_fd)
                finally:
                    os.close(journal_fd)
                if _bloated(self._lines, len(self._records)):
                    # Only an optimisation: on failure the journal is intact, and the next
                    # open tries again.
                    with contextlib.suppress(OSError):
                        _compact(self.path, self._records)
                        self._lines = len(self._records)
        finally:
            if lock_fd is not None:
                release_lock(lock_fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _open_for_append(path: Path, complete_size: int) -> int:
    """Open the journal for appending, first dropping a torn last line so the next record
    does not glue onto it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        if os.fstat(fd).st_size != complete_size:
            os.ftruncate(fd, complete_size)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _bloated(lines: int, records: int) -> bool:
    return lines > COMPACT_FACTOR * records + COMPACT_SLACK


def _compact(path: Path, records: dict[str, JobRecord]) -> Loaded[JobRecord]:
    """Rewrite the journal with one line per live record, atomically and durably.

    Durable because, unlike an append, a lost rename here could lose the whole store.
    """
    data = b"".join(_encode(record) for record in records.values())
    replace_with(path, data, temp=path.with_name(f".{path.name}.compact"), durable=True)
    return Loaded(records=records, lines=len(records), complete_size=len(data))
