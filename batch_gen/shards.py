"""Which jobs a shard runs: ``--shard K/N`` splits a manifest into N parts by its job ids.

A job belongs to shard ``sha256(id as UTF-8) mod N + 1``: the same on every machine, in
every process and for every Python version (no ``hash()``, which is salted per process),
and a job's shard depends on its id and N alone, so adding or removing jobs moves no other
job. Changing N moves jobs between shards; nothing is lost, because every shard keeps its
state in the one output folder and a run reads every shard's state (see
:mod:`batch_gen.state.journal`).

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_WRITTEN = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
_NAMED = re.compile(r"(\d+)of(\d+)")


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (1 <= index <= count)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self.index}/{self.count}: K must be from 1 to N")

    def holds(self, job_id: str) -> bool:
        """Whether the job with this id runs in this shard."""
        return shard_number(job_id, self.count) == self.index

    @property
    def label(self) -> str:
        """As written on the command line and shown to people: ``3/4``."""
        return f"{self.index}/{self.count}"

    @property
    def name(self) -> str:
        """As it appears in file names (no ``/``): ``3of4``."""
        return f"{self.index}of{self.count}"

    def overlaps(self, other: Shard | None) -> bool:
        """Whether a run of ``other`` (None: every job) may run some of this shard's jobs:
        shards of one N are disjoint, any other pair may share jobs."""
        return other is None or other.count != self.count or other.index == self.index


def shard_number(job_id: str, count: int) -> int:
    """The shard (1 to ``count``) the job with this id belongs to."""
    digest = hashlib.sha256(job_id.encode("utf-8")).digest()
    return int.from_bytes(digest, "big") % count + 1


def parse_shard(text: str) -> Shard:
    """``"3/4"`` → ``Shard(3, 4)``.

    Raises:
        ValueError: not ``K/N`` with whole numbers 1 <= K <= N; the message says so.
    """
    found = _WRITTEN.fullmatch(text)
    if found is None:
        raise ValueError(f"--shard must be K/N, e.g. 3/4 (the third of four), got {text!r}")
    index, count = int(found.group(1)), int(found.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"--shard must be K/N with 1 <= K <= N, got {text!r}")
    return Shard(index, count)


def shard_from_name(name: str) -> Shard | None:
    """The shard a file-name part such as ``3of4`` names, or None when it names none."""
    found = _NAMED.fullmatch(name)
    if found is None:
        return None
    index, count = int(found.group(1)), int(found.group(2))
    return Shard(index, count) if 1 <= index <= count else None
