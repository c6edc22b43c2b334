"""Reading state journals (the format is in :mod:`batch_gen.state.journal`): each alone,
or every journal of a folder merged, without taking any lock.

Safe while runs hold the folder: a line one is writing (a torn last line, with no newline
yet) is not part of the journal until it is complete, and a line that is not valid JSON
or not a valid record is skipped, an earlier snapshot of that job winning.

A reader that needs less than the whole record names a narrower Struct (``kind``): the
lines decode straight into it, and the fields it leaves out are skipped, never built
(``status`` reads a 100,000-job state in two thirds of the time, and a third of the memory).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import GenericAlias
from typing import BinaryIO, Generic, Protocol, TypeVar

import msgspec

from batch_gen.gcpause import gc_paused
from batch_gen.models import JobRecord
from batch_gen.shards import Shard
from batch_gen.state.folder import state_files


class Stamped(Protocol):
    """What reading and merging journals need of a record: its job and when it was made."""

    @property
    def id(self) -> str: ...

    @property
    def updated_at(self) -> float: ...


R = TypeVar("R", bound=Stamped)


@dataclass(slots=True)
class Loaded(Generic[R]):
    """A loaded journal: live records, its line count and the length of its whole lines."""

    records: dict[str, R]
    lines: int
    complete_size: int


def read_journal(path: Path, kind: type[R]) -> Loaded[R]:
    """Load the journal at ``path`` (empty if there is none) as records of ``kind`` (a
    msgspec Struct with fields of :class:`~batch_gen.models.JobRecord`), a few megabytes at
    a time: the file is never held whole, which at a million jobs would be 400 MB more."""
    slices, lines = _decoders(kind)
    try:
        with path.open("rb") as file, gc_paused():
            journal = _load_fast(file, slices)
            if journal is None:
                file.seek(0)
                journal = _load_exact(file, lines)
    except FileNotFoundError:
        return Loaded(records={}, lines=0, complete_size=0)
    return journal


@functools.cache
def _decoders(kind: type[R]) -> tuple[msgspec.json.Decoder[list[R]], msgspec.json.Decoder[R]]:
    """Decoders of a slice of lines (joined into one JSON array) and of one line: straight
    into typed records (see models.py for why)."""
    slices: msgspec.json.Decoder[list[R]] = msgspec.json.Decoder(GenericAlias(list, (kind,)))
    return slices, msgspec.json.Decoder(kind)


def _load_fast(file: BinaryIO, decoder: msgspec.json.Decoder[list[R]]) -> Loaded[R] | None:
    """Load a healthy journal quickly, or return None if any line needs :func:`_load_exact`.

    The journal is decoded a few megabytes at a time, each slice of whole lines turned
    into one JSON array and decoded into typed structs: no per-line bytes objects, and the
    decoded lines of a 100,000-job journal never all live at once. A line that is not one
    JSON value (two on a line, a blank line, a value across lines) breaks the array, or
    its count. A later line for the same job replaces an earlier one; decoding superseded
    lines too is cheaper than finding them first, and compaction keeps them fewer than the
    live ones. (Decoding the lines in place with ``decode_lines`` measured no faster: it
    needs its own check that each line holds one value.)
    """
    records: dict[str, R] = {}
    lines = complete_size = 0
    tail = b""
    try:
        while chunk := file.read(_SLICE):
            data = tail + chunk if tail else chunk
            cut = data.rfind(b"\n") + 1
            piece, tail = data[:cut], data[cut:]
            if not piece:
                continue  # a line longer than a slice: read on
            expected = piece.count(b"\n")
            decoded = decoder.decode(b"[" + piece[:-1].replace(b"\n", b",") + b"]")
            if len(decoded) != expected:
                return None  # some line held more or less than one JSON value
            for record in decoded:
                records[record.id] = record
            lines += expected
            complete_size += cut
    except msgspec.DecodeError:
        return None  # a corrupt or malformed line: let the exact path decide what survives
    return Loaded(records=records, lines=lines, complete_size=complete_size)


_SLICE = 4 * 1024 * 1024


def _load_exact(file: BinaryIO, decoder: msgspec.json.Decoder[R]) -> Loaded[R]:
    """The last valid record of each job id, skipping lines that are not valid JSON or not
    a valid record (so an earlier valid snapshot of that job wins), line by line."""
    records: dict[str, R] = {}
    lines = complete_size = 0
    for line in file:
        if not line.endswith(b"\n"):
            break  # torn: not part of the journal
        lines += 1
        complete_size += len(line)
        try:
            record = decoder.decode(line)
        except msgspec.DecodeError:
            continue  # unparsable or malformed lines are skipped, never fatal
        records[record.id] = record
    return Loaded(records=records, lines=lines, complete_size=complete_size)


def read_state(output_dir: Path) -> dict[str, JobRecord]:
    """Return the recorded state of ``output_dir`` by job id, every shard's journal merged
    (see :func:`merge_records`), without taking any lock.

    Returns ``{}`` when the folder has no state store. Every reader of a folder's state
    (``status``, ``--dry-run``, the gallery) reads it here or with :func:`read_records`.
    """
    return read_records(output_dir, JobRecord)


def read_records(output_dir: Path, kind: type[R]) -> dict[str, R]:
    """:func:`read_state` as records of ``kind``, which holds the fields it names."""
    states = [read_journal(path, kind).records for _, path in state_files(output_dir)]
    if len(states) == 1:
        return states[0]
    return merge_records(states)


def read_shard_states(output_dir: Path) -> list[tuple[Shard | None, dict[str, JobRecord]]]:
    """Each journal of ``output_dir`` on its own, with its shard (None: unsharded runs'),
    unsharded first, then by N and K; without taking any lock."""
    return [
        (shard, read_journal(path, JobRecord).records) for shard, path in state_files(output_dir)
    ]


def merge_records(states: Iterable[Mapping[str, R]]) -> dict[str, R]:
    """Several journals' records as one: for a job that more than one holds, the record
    updated last (``updated_at``) wins; on a tie, the earlier journal's. Pure.

    Shards of one N hold disjoint jobs, so only the ids two journals share are compared
    one by one (found with set operations); the rest are taken whole.
    """
    merged: dict[str, R] = {}
    for records in states:
        shared = merged.keys() & records.keys()
        if not shared:
            merged.update(records)
            continue
        newer = {i: records[i] for i in shared if records[i].updated_at > merged[i].updated_at}
        merged.update({i: r for i, r in records.items() if i not in shared})
        merged.update(newer)
    return merged
