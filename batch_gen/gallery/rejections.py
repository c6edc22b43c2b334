"""The rejection file the gallery page exports, read back for ``run --reject FILE``.

Its shape (``docs/gallery.md``)::

    {"batch_gen": "rejections", "version": 1,
     "manifest": "/abs/jobs/catalog.yaml", "output": "/abs/output/catalog",
     "rejected": [{"id": "teapot", "key": "<job key>", "sha256": ["<image sha256>", ...]}]}

Each entry names a job, the key it had and the sha256 of the images the person saw. A job
is made again only while those are still its key and its images: a file applied twice, or
after the job was remade or its fields changed, makes nothing again by mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import msgspec

from batch_gen.errors import UsageError
from batch_gen.models import Job, JobRecord

REJECTIONS_FORMAT = "rejections"  # the "batch_gen" field: what the file is
REJECTIONS_VERSION = 1


class Rejected(msgspec.Struct, frozen=True):
    """One rejected job: its id, its key then, and the sha256 of the images rejected."""

    id: str
    key: str
    sha256: tuple[str, ...] = ()


class Rejections(msgspec.Struct, frozen=True):
    """A whole rejection file. ``batch_gen`` and ``version`` say what it is."""

    batch_gen: str
    version: int
    manifest: str
    output: str
    rejected: tuple[Rejected, ...]


def parse_rejections(data: bytes, *, source: str) -> Rejections:
    """The rejection file ``data`` (read from ``source``, for messages).

    Raises:
        UsageError: it is not JSON, not a rejection file, or of a newer version.
    """
    try:
        rejections = msgspec.json.decode(data, type=Rejections)
    except msgspec.DecodeError as error:
        raise UsageError(
            f"{source}: not a rejection file exported by the gallery: {error}"
        ) from error
    if rejections.batch_gen != REJECTIONS_FORMAT:
        raise UsageError(f"{source}: not a rejection file (batch_gen is {rejections.batch_gen!r})")
    if rejections.version != REJECTIONS_VERSION:
        raise UsageError(
            f"{source}: rejection file version {rejections.version}; this batch_gen reads"
            f" version {REJECTIONS_VERSION}"
        )
    return rejections


def read_rejections(path: Path) -> Rejections:
    """:func:`parse_rejections` of the file at ``path``.

    Raises:
        UsageError: it cannot be read, or is not a rejection file.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read the rejection file {path}: {error.strerror}") from error
    return parse_rejections(data, source=str(path))


@dataclass(frozen=True, slots=True)
class Remake:
    """What a rejection file asks of a manifest's jobs. ``jobs``: the ids to make again
    (manifest order). The others, by why they are left alone: ``remade`` (the images
    are no longer the ones rejected), ``changed`` (the job's key changed: it runs again
    anyway), ``unknown`` (no such job in the manifest)."""

    jobs: tuple[str, ...]
    remade: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()


def to_remake(
    rejections: Rejections, jobs: Iterable[Job], records: Mapping[str, JobRecord]
) -> Remake:
    """Which rejected jobs to make again: those whose key and images (by sha256, in any
    order) are still the ones rejected. Ids are matched ignoring case, as everywhere."""
    by_id = {job.id.casefold(): job for job in jobs}
    chosen: dict[str, Job] = {}
    remade, changed, unknown = [], [], []
    for entry in rejections.rejected:
        job = by_id.get(entry.id.casefold())
        if job is None:
            unknown.append(entry.id)
        elif job.key != entry.key:
            changed.append(job.id)
        elif not _same_images(records.get(job.id), job.key, entry.sha256):
            remade.append(job.id)
        else:
            chosen[job.id] = job
    ordered = tuple(job.id for job in sorted(chosen.values(), key=lambda job: job.index))
    return Remake(ordered, tuple(remade), tuple(changed), tuple(unknown))


def _same_images(record: JobRecord | None, key: str, rejected: tuple[str, ...]) -> bool:
    if record is None or record.key != key:
        return False
    return sorted(image.sha256 for image in record.images) == sorted(rejected)
