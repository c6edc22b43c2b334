"""Ownership: a run never replaces or deletes an image that another provider (the offline
simulator versus a real base URL) or another manifest made, unless told to
(``--replace-foreign``). It stops before sending anything and says what it would replace.

Who made a job's images comes from its metadata file (``made_by``, ``manifest``). One
written before they were recorded still names the key the images were made for: when that
is the job's key for the provider of the folder's last run, that provider made them.

:func:`foreign` and :func:`refusal` are pure; :class:`Owners` and :func:`at_risk` read the
listing and the metadata files they are pointed at, nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from batch_gen.config import OFFLINE_MAKER, maker_of
from batch_gen.files.atomic import ExistingFiles
from batch_gen.files.naming import UnsuffixedNames
from batch_gen.files.sidecar import Owner, Sidecar, read_metadata
from batch_gen.models import Job, JobRecord

UNKNOWN = Owner(None, None)


class AtRisk(NamedTuple):
    """A file on disk that running ``job_id`` would replace or delete, and who made it."""

    file: str
    job_id: str
    owner: Owner


class Owners:
    """Who made the images recorded in one output folder (metadata files read once each).

    ``key_for(job, provider)`` gives a job's key for another provider; ``last_provider``
    is the provider identity of the folder's last run, if known.
    """

    def __init__(
        self,
        root: Path,
        existing: ExistingFiles,
        *,
        last_provider: str | None,
        key_for: Callable[[Job, str], str],
    ) -> None:
        self._root = root
        self._existing = existing
        self._last = last_provider
        self._key_for = key_for
        self._read: dict[str, Sidecar | None] = {}

    def sidecar(self, job_id: str) -> Sidecar | None:
        """The job's metadata file, or None (the listing says when there is none)."""
        if job_id not in self._read:
            present = self._existing(f"{job_id}.json")
            self._read[job_id] = read_metadata(self._root, job_id) if present else None
        return self._read[job_id]

    def of(self, job: Job, key: str) -> Owner:
        """Who made the images ``job`` has recorded under ``key``."""
        sidecar = self.sidecar(job.id)
        owner = sidecar.owner if sidecar is not None and sidecar.key == key else UNKNOWN
        last = self._last
        if owner.made_by is None and last is not None and self._key_for(job, last) == key:
            return Owner(maker_of(last), owner.manifest)
        return owner

    def of_other(self, job_id: str) -> Owner:
        """Who made the images of a job the manifest does not have (its metadata says)."""
        sidecar = self.sidecar(job_id)
        return sidecar.owner if sidecar is not None else UNKNOWN


def made_elsewhere(
    jobs: Iterable[Job], records: Mapping[str, JobRecord], *, owners: Owners, made_by: str
) -> set[str]:
    """The ids of the jobs whose recorded images (under another key) another provider made:
    for them a run says so, rather than "prompt or fields changed"."""
    found = set()
    for job in jobs:
        record = records.get(job.id)
        if record is not None and record.key != job.key:
            maker = owners.of(job, record.key).made_by
            if maker is not None and maker != made_by:
                found.add(job.id)
    return found


def at_risk(
    jobs: Iterable[Job],
    *,
    records: Mapping[str, JobRecord],
    owners: Owners,
    existing: ExistingFiles,
    template: str,
) -> list[AtRisk]:
    """Every file on disk that running ``jobs`` would replace (a file at one of its names,
    whatever the extension and case) or delete (its earlier version's files), with its
    maker: the job's own metadata for its own files, else the metadata of the job the state
    records it for."""
    if existing.is_empty():
        return []
    names_of = UnsuffixedNames(template)
    holders: dict[str, str] = {}  # folded file name -> the job the state has it for
    found = []
    like = existing.like
    for job in jobs:
        hits: set[str] = set()
        for name in names_of(job):  # a loop: no comprehension's call per job (100,000)
            file = like(name)
            if file is not None:
                hits.add(file)
        record = records.get(job.id)
        if not hits and record is None and not existing(f"{job.id}.json"):
            continue  # the common case, a new job: nothing of it or in its way on disk
        sidecar = owners.sidecar(job.id)
        for earlier in (record, sidecar):
            if earlier is not None:
                hits.update(file for file in earlier.files if existing(file))
        for file in hits:
            folded = file.casefold()
            if sidecar is not None and folded in map(str.casefold, sidecar.files):
                owner = owners.of(job, sidecar.key)
            elif record is not None and folded in map(str.casefold, record.files):
                owner = owners.of(job, record.key)
            else:
                if not holders:
                    holders = {n.casefold(): r.id for r in records.values() for n in r.files}
                other = holders.get(folded)
                owner = owners.of_other(other) if other not in (None, job.id) else UNKNOWN
            found.append(AtRisk(file, job.id, owner))
    return found


def foreign(found: Iterable[AtRisk], us: Owner) -> list[AtRisk]:
    """The files another provider or another manifest made; a maker not known (metadata
    missing or too old to say) is not taken for another."""
    return [
        item
        for item in found
        if item.owner.made_by not in (None, us.made_by)
        or item.owner.manifest not in (None, us.manifest)
    ]


def refusal(found: Sequence[AtRisk], us: Owner, *, root: Path, dry_run: bool = False) -> str:
    """The one line that stops a run: what it would replace in ``root``, whose, and how to
    go on."""
    files = sorted({item.file for item in found})
    makers = sorted({_maker(item.owner, us, root) for item in found})
    shown = ", ".join(files[:2]) + (f" and {len(files) - 2} more" if len(files) > 2 else "")
    images = f"{len(files)} image{'s' if len(files) != 1 else ''}"
    head = "a run would stop here" if dry_run else "stopped before sending anything"
    return (
        f"{head}: this run ({us.made_by}) would replace {images} in {os.path.abspath(root)}"
        f" made {' and '.join(makers)} ({shown}); to keep them, write elsewhere with"
        " --output DIR; to replace them, run again with --replace-foreign"
    )


def _maker(owner: Owner, us: Owner, root: Path) -> str:
    if owner.made_by == OFFLINE_MAKER and us.made_by != OFFLINE_MAKER:
        return f"by the {OFFLINE_MAKER}"
    if owner.made_by not in (None, us.made_by):
        return f"by {owner.made_by}"
    # Metadata names the manifest from the output folder; a person reads a full path.
    where = os.path.normpath(os.path.join(os.path.abspath(root), owner.manifest or "?"))
    return f"for another manifest ({where})"
