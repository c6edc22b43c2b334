"""What the gallery reads from an output folder besides the images: the recorded state of
every shard, merged, and the jobs' metadata files as documents.

:func:`read_states` is the gallery's one way to the job records: each journal of the
folder on its own (:func:`batch_gen.state.journal.read_shard_states`), so that the page
can say which shard recorded which job; :func:`merge_states` merges them as every reader
of the state does (:func:`batch_gen.state.journal.merge_records`: the newest record wins).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from batch_gen.files.naming import UnsafePathError
from batch_gen.files.sidecar import metadata_path
from batch_gen.models import JobRecord
from batch_gen.state.journal import merge_records, read_shard_states


@dataclass(frozen=True, slots=True)
class ShardState:
    """The job records one journal holds: ``name`` is its shard (``"2/4"``), or None for
    the journal of unsharded runs."""

    name: str | None
    records: Mapping[str, JobRecord]


@dataclass(frozen=True, slots=True)
class MergedState:
    """Every journal's records together: the newest record of each job, the shard whose
    journal holds it (named shards only), and each shard that holds any, with how many."""

    records: dict[str, JobRecord]
    shard_of: dict[str, str] = field(default_factory=dict)
    shards: tuple[tuple[str, int], ...] = ()


def read_states(output_dir: Path) -> list[ShardState]:
    """Every journal of the output folder, unsharded runs' first, then by shard; never
    locks (runs may be writing: a line being written is ignored)."""
    return [
        ShardState(shard.label if shard is not None else None, records)
        for shard, records in read_shard_states(output_dir)
    ]


def merge_states(states: Iterable[ShardState]) -> MergedState:
    """The journals as one, as :func:`~batch_gen.state.journal.merge_records` merges
    them, with the shard each winning record came from. Pure."""
    listed = list(states)
    records = merge_records([state.records for state in listed])
    shard_of: dict[str, str] = {}
    counts: dict[str, int] = {}
    for state in listed:
        if state.name is None:
            continue
        for job_id, record in state.records.items():
            if records.get(job_id) is record:
                shard_of[job_id] = state.name
                counts[state.name] = counts.get(state.name, 0) + 1
    return MergedState(records, shard_of, tuple(counts.items()))


def read_sidecar(root: Path, job_id: str) -> dict[str, Any] | None:
    """The job's metadata file as a JSON document, or None when it is missing, unreadable
    or not an object (people may edit it)."""
    try:
        document = msgspec.json.decode(metadata_path(root, job_id).read_bytes())
    except (OSError, UnsafePathError, msgspec.DecodeError):
        return None
    return document if isinstance(document, dict) else None
