"""What the gallery reads from an output folder besides the images: the recorded state of
every shard, merged, and the jobs' metadata files as documents.

:func:`read_states` is the one place that knows where job records live: when shards keep
state files of their own, it reads each of them, and the rest of the gallery already
shows which shard recorded which job.
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
from batch_gen.state.journal import read_state


@dataclass(frozen=True, slots=True)
class ShardState:
    """The job records one state file holds: ``name`` is its shard (``"2/4"``), or None
    for the folder's own state when it is not sharded."""

    name: str | None
    records: Mapping[str, JobRecord]


@dataclass(frozen=True, slots=True)
class MergedState:
    """Every shard's records together: the newest record of each job, the shard that
    recorded it (named shards only), and each named shard with its number of jobs."""

    records: dict[str, JobRecord]
    shard_of: dict[str, str] = field(default_factory=dict)
    shards: tuple[tuple[str, int], ...] = ()


def read_states(output_dir: Path) -> list[ShardState]:
    """Every state the output folder holds, one per shard; never locks (a run may be
    writing: its unfinished line is ignored)."""
    return [ShardState(None, read_state(output_dir))]


def merge_states(states: Iterable[ShardState]) -> MergedState:
    """The states of all shards as one: where two hold the same job (the shard count
    changed between runs), the record updated last wins. Pure."""
    records: dict[str, JobRecord] = {}
    shard_of: dict[str, str] = {}
    for state in states:
        for job_id, record in state.records.items():
            known = records.get(job_id)
            if known is not None and known.updated_at > record.updated_at:
                continue
            records[job_id] = record
            if state.name is None:
                shard_of.pop(job_id, None)
            else:
                shard_of[job_id] = state.name
    counts: dict[str, int] = {}
    for name in shard_of.values():
        counts[name] = counts.get(name, 0) + 1
    return MergedState(records, shard_of, tuple(sorted(counts.items(), key=_shard_order)))


def _shard_order(item: tuple[str, int]) -> tuple[int, str]:
    """``2/4`` before ``10/16``: by shard number where the name starts with one."""
    head = item[0].split("/", 1)[0]
    return (int(head) if head.isdigit() else 0, item[0])


def read_sidecar(root: Path, job_id: str) -> dict[str, Any] | None:
    """The job's metadata file as a JSON document, or None when it is missing, unreadable
    or not an object (people may edit it)."""
    try:
        document = msgspec.json.decode(metadata_path(root, job_id).read_bytes())
    except (OSError, UnsafePathError, msgspec.DecodeError):
        return None
    return document if isinstance(document, dict) else None
