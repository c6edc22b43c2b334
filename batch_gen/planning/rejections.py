"""The rejection file the gallery page exports, read back for ``run --reject FILE``.

Its shape (``docs/gallery.md``)::

    {"batch_gen": "rejections", "version": 1,
     "manifest": "/abs/jobs/catalog.yaml", "output": "/abs/output/catalog",
     "rejected": [{"id": "teapot", "key": "<job key>", "sha256": ["<image sha256>", ...],
                   "finished_at": "<its metadata file's finished_at>"}]}

Each entry names a job, the key it had, the sha256 of the images the person saw and when
they were made (``finished_at``, optional). A job is made again only while those are still
its key, its images and their making: a file applied twice, or after the job was remade
or its fields changed, makes nothing again by mistake, even where a remake gave the very
same bytes (a model without a seed may, and a caching gateway would).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import msgspec

from batch_gen.errors import UsageError
from batch_gen.models import Job, JobRecord

REJECTIONS_FORMAT = "rejections"  # the "batch_gen" field: what the file is
REJECTIONS_VERSION = 1


class Rejected(msgspec.Struct, frozen=True):
    """One rejected job: its id, its key then, the sha256 of the images rejected, and
    the ``finished_at`` of its metadata file then (None: not said, the images decide)."""

    id: str
    key: str
    sha256: tuple[str, ...] = ()
    finished_at: str | None = None


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

    def lines(self) -> list[str]:
        """What a run says about the file, one line each: the jobs made again (always),
        then each kind left alone (only when there are some)."""
        if self.jobs:
            said = [f"rejected in review: {_count(self.jobs)} to make again: {_ids(self.jobs)}"]
        else:
            said = ["rejected in review: nothing to make again"]
        for ids, why in (
            (self.remade, "made again since, left alone"),
            (self.changed, "prompt or fields changed since, made again as changed jobs"),
            (self.unknown, "not in the manifest, left alone"),
        ):
            if ids:
                said.append(f"rejected in review, {why}: {_ids(ids)}")
        return said


_LISTED = 10  # ids named in a line; the rest are counted


def _count(ids: tuple[str, ...]) -> str:
    return f"{len(ids)} job" + ("" if len(ids) == 1 else "s")


def _ids(ids: tuple[str, ...]) -> str:
    shown = ", ".join(ids[:_LISTED])
    return shown + (f" and {len(ids) - _LISTED} more" if len(ids) > _LISTED else "")


def to_remake(
    rejections: Rejections,
    jobs: Iterable[Job],
    records: Mapping[str, JobRecord],
    *,
    finished_at: Callable[[str], str | None] | None = None,
) -> Remake:
    """Which rejected jobs to make again: those whose key and images (by sha256, in any
    order) are still the ones rejected and, where the entry and ``finished_at`` (a job
    id → its metadata file's ``finished_at``) both say, made at the same time. Ids are
    matched ignoring case, as everywhere."""
    by_id = {job.id.casefold(): job for job in jobs}
    chosen: dict[str, Job] = {}
    remade, changed, unknown = [], [], []
    for entry in rejections.rejected:
        job = by_id.get(entry.id.casefold())
        if job is None:
            unknown.append(entry.id)
        elif job.key != entry.key:
            changed.append(job.id)
        elif not _same_images(records.get(job.id), job.key, entry.sha256) or (
            entry.finished_at is not None
            and finished_at is not None
            and finished_at(job.id) != entry.finished_at
        ):
            remade.append(job.id)
        else:
            chosen[job.id] = job
    ordered = tuple(job.id for job in sorted(chosen.values(), key=lambda job: job.index))
    return Remake(ordered, tuple(remade), tuple(changed), tuple(unknown))


def _same_images(record: JobRecord | None, key: str, rejected: tuple[str, ...]) -> bool:
    if record is None or record.key != key:
        return False
    return sorted(image.sha256 for image in record.images) == sorted(rejected)
