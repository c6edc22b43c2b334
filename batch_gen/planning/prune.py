"""``prune``: the images and metadata files of jobs that are no longer in the manifest, so
that the assets follow the prompts, as ``make`` users expect.

Only files batch_gen made for this manifest are ever named: a job is found through the
state and through the metadata files (``<id>.json``) of the output folder, and it is
taken only when its metadata file says batch_gen made it for this manifest (``manifest``,
its path from the output folder) and the job is not in the manifest any more; its files are the ones
that metadata file and the job's state record list. A file that a job of the manifest
also names (a recorded file, or the name the file-name template gives it) is kept.

Reads the output folder; writes nothing (the command removes what the plan lists).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from batch_gen.files.atomic import IMAGE_EXTENSIONS
from batch_gen.files.naming import EXT_MARK, UnsuffixedNames, is_safe
from batch_gen.files.sidecar import Sidecar, manifest_reference, read_metadata
from batch_gen.models import JobRecord, Manifest
from batch_gen.state.journal import read_state
from batch_gen.state.layout import STATE_DIR_NAME


@dataclass(frozen=True, slots=True)
class Removed:
    """A job no longer in the manifest: its files that exist (images first, its metadata
    file last) and their bytes."""

    job_id: str
    files: tuple[str, ...]
    bytes: int


@dataclass(frozen=True, slots=True)
class Prune:
    """What ``prune`` would remove from ``root``, and what it leaves alone."""

    root: Path
    removed: tuple[Removed, ...]
    shared: tuple[str, ...] = ()  # files of removed jobs that a job of the manifest names
    unclaimed: int = 0  # jobs not in the manifest that were made for another or say not

    @property
    def files(self) -> int:
        return sum(len(job.files) for job in self.removed)

    @property
    def bytes(self) -> int:
        return sum(job.bytes for job in self.removed)


def plan_prune(
    manifest: Manifest, output_dir: Path, *, records: Mapping[str, JobRecord] | None = None
) -> Prune:
    """The jobs of ``output_dir`` made for ``manifest`` that it no longer has, with their
    files (``records``: the merged state, read here when not given)."""
    if records is None:
        records = read_state(output_dir)
    current = {job.id.casefold() for job in manifest.jobs}
    ours = manifest_reference(manifest.path, output_dir)
    candidates = {job_id for job_id in records if job_id.casefold() not in current}
    candidates.update(i for i in metadata_ids(output_dir) if i.casefold() not in current)
    removed, unclaimed = [], 0
    for job_id in sorted(candidates):
        sidecar = read_metadata(output_dir, job_id)
        if sidecar is None or sidecar.id != job_id or not sidecar.key:
            # Not a job's metadata file (a report, a file of one's own): no job of ours,
            # unless the state knows the id, and then which manifest made it is unknown.
            unclaimed += 1 if job_id in records else 0
        elif sidecar.manifest != ours:
            unclaimed += 1
        else:
            record = records.get(job_id)
            removed.append((job_id, _files_of(output_dir, job_id, sidecar, record)))
    if not removed:
        return Prune(output_dir, (), (), unclaimed)
    claimed = _claimed(manifest, records)
    jobs, shared = [], []
    for job_id, files in removed:
        kept = [file for file in files if _is_claimed(file, claimed)]
        shared.extend(kept)
        left = tuple(file for file in files if file not in kept)
        jobs.append(Removed(job_id, left, sum(_size(output_dir / file) for file in left)))
    return Prune(output_dir, tuple(jobs), tuple(shared), unclaimed)


def metadata_ids(root: Path) -> Iterator[str]:
    """The job id of every ``<id>.json`` under ``root``: not in the state folder, not in a
    folder linked from elsewhere, not in another output folder (one with a state folder
    of its own) below ``root``."""
    pending = [""]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(root / folder) as listing:
                entries = list(listing)
        except OSError:
            continue
        if folder and any(entry.name.casefold() == STATE_DIR_NAME for entry in entries):
            continue
        for entry in entries:
            relative = f"{folder}/{entry.name}" if folder else entry.name
            if entry.is_dir(follow_symlinks=False):
                if relative.casefold() != STATE_DIR_NAME:
                    pending.append(relative)
            elif entry.name.endswith(".json") and entry.is_file(follow_symlinks=False):
                yield relative.removesuffix(".json")


def _files_of(
    root: Path, job_id: str, sidecar: Sidecar, record: JobRecord | None
) -> tuple[str, ...]:
    """The job's files that exist: what its metadata file and its state record list (safe
    names only), then the metadata file."""
    listed = [*sidecar.files, *(record.files if record is not None else ())]
    images = [file for file in dict.fromkeys(listed) if is_safe(file) and (root / file).is_file()]
    return (*images, f"{job_id}.json")


def _claimed(manifest: Manifest, records: Mapping[str, JobRecord]) -> frozenset[str]:
    """Every file name (case-folded) a job of the manifest names: the files its state
    record lists, and its names under the template (the extension marked)."""
    names = UnsuffixedNames(manifest.output.filename)
    claimed: set[str] = set()
    for job in manifest.jobs:
        claimed.update(name.casefold() for name in names(job))
        record = records.get(job.id)
        if record is not None:
            claimed.update(file.casefold() for file in record.files)
    return frozenset(claimed)


def _is_claimed(file: str, claimed: frozenset[str]) -> bool:
    """Whether a job of the manifest names ``file``, whatever the image's extension."""
    folded = file.casefold()
    stem, dot, ext = folded.rpartition(".")
    return folded in claimed or (
        bool(dot) and ext in IMAGE_EXTENSIONS and f"{stem}.{EXT_MARK}" in claimed
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def format_prune(prune: Prune, *, manifest: str, deleted: bool) -> str:
    """What ``prune`` found (or, ``deleted``, removed): one line, one row per job, and
    what was left alone."""
    where = os.path.abspath(prune.root)
    if not prune.removed:
        line = f"nothing to prune: every job in {where} made for {manifest} is still in it"
        return "\n".join([line, *_left_alone(prune)])
    count = len(prune.removed)
    jobs = "1 job" if count == 1 else f"{count} jobs"
    files = f"{prune.files} file{'s' if prune.files != 1 else ''} ({_size_text(prune.bytes)})"
    if deleted:
        head = f"removed {files} of {jobs} no longer in {manifest} from {where}"
    else:
        head = f"{jobs} in {where} no longer in {manifest}: {files}"
    width = max(len(job.job_id) for job in prune.removed)
    rows = [f"  {job.job_id:{width}}  {', '.join(job.files)}" for job in prune.removed]
    lines = [head, *rows, *_left_alone(prune)]
    if not deleted:
        lines.append("nothing was removed; to remove them, run again with --delete")
    return "\n".join(lines)


def _size_text(size: int) -> str:
    """``340 KB``, ``1.2 MB``: as people read file sizes."""
    if size < 1_000_000:
        return f"{max(round(size / 1000), 1 if size else 0)} KB"
    return f"{size / 1e6:.1f} MB"


def _left_alone(prune: Prune) -> list[str]:
    lines = []
    if prune.shared:
        shown = ", ".join(sorted(prune.shared)[:5])
        more = f" and {len(prune.shared) - 5} more" if len(prune.shared) > 5 else ""
        lines.append(f"kept, since a job of the manifest names them too: {shown}{more}")
    if prune.unclaimed:
        jobs = "1 job" if prune.unclaimed == 1 else f"{prune.unclaimed} jobs"
        lines.append(
            f"left alone: {jobs} not in the manifest whose metadata file names another"
            " manifest, or none"
        )
    return lines
