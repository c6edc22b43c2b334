"""Everything the gallery shows of a manifest's jobs, gathered from the output folder.

Each job of the manifest becomes one :class:`GalleryJob`, in manifest order, whatever its
state: its status as ``status`` reports it (:mod:`batch_gen.planning.status`: the record
of the job's current key, the files checked by size, lost state adopted from sidecars),
its images (a Midjourney grid and its upscales together, labelled), the counts the state
keeps (attempts, possibly billed requests), the cost of what was delivered when a catalog
is given, its shard, its metadata file's facts, and its newest kept earlier version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from batch_gen.files.naming import UnsafePathError, resolve_inside
from batch_gen.models import ImageRecord, Job, JobRecord, Manifest
from batch_gen.planning.status import JobStatusRow, status_of
from batch_gen.pricing.catalog import Catalog

from .costs import delivered_cost
from .sources import merge_states, read_sidecar, read_states
from .versions import (
    KeptVersion,
    job_versions_dir,
    jobs_with_versions,
    read_version,
    version_numbers,
)

# Shown on the card already: left out of the metadata facts to keep the page small.
_SHOWN = frozenset({"id", "prompt", "model", "api"})


@dataclass(frozen=True, slots=True)
class GalleryImage:
    """One image file: ``path`` is relative to the output folder, '/'-separated, as on
    disk; ``label`` says which of the job's images it is (``grid``, ``U2``, ``1 of 2``)."""

    path: str
    label: str | None = None
    width: int | None = None
    height: int | None = None
    format: str = ""
    bytes: int = 0
    sha256: str = ""  # "" when nothing recorded it


@dataclass(frozen=True, slots=True)
class PreviousVersion:
    """The newest kept version whose images differ from the current ones."""

    number: int
    prompt: str | None
    key: str | None
    finished_at: str | None
    images: tuple[GalleryImage, ...]


@dataclass(frozen=True, slots=True)
class GalleryJob:
    """One job as the gallery shows it. ``stale`` marks images made for an earlier key of
    the job (its prompt or fields changed since), still on disk until it is made again."""

    id: str
    index: int
    key: str
    prompt: str
    model: str
    api: str
    status: str
    note: str
    error: str | None
    retryable: bool | None
    attempts: int
    possibly_billed: int
    cost_usd: float | None
    shard: str | None
    images: tuple[GalleryImage, ...]
    stale: bool
    finished_at: str | None
    previous: PreviousVersion | None
    versions: int
    facts: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Gallery:
    """A manifest's jobs as the gallery shows them. ``price_source`` names the catalog the
    costs come from; None when no catalog was given (costs unknown)."""

    manifest: str
    output: str
    jobs: tuple[GalleryJob, ...]
    shards: tuple[tuple[str, int], ...]
    price_source: str | None


def collect(manifest: Manifest, output_dir: Path, *, catalog: Catalog | None = None) -> Gallery:
    """Gather every job of ``manifest`` from ``output_dir`` (read-only, no lock: a run may
    be writing). ``catalog`` prices what each job delivered; without it costs are unknown."""
    merged = merge_states(read_states(output_dir))
    report = status_of(((job.id, job.key) for job in manifest.jobs), output_dir, merged.records)
    with_versions = jobs_with_versions(output_dir)
    jobs = []
    for job, row in zip(manifest.jobs, report.rows, strict=True):
        sidecar = read_sidecar(output_dir, job.id)
        images, stale = _current_images(output_dir, job, row, sidecar)
        kept = _kept_versions(output_dir, job.id) if job.id in with_versions else []
        jobs.append(
            gallery_job(
                job,
                row,
                sidecar=sidecar,
                images=images,
                stale=stale,
                kept=kept,
                shard=merged.shard_of.get(job.id),
                catalog=catalog,
            )
        )
    return Gallery(
        manifest=str(manifest.path.resolve()),
        output=str(output_dir.resolve()),
        jobs=tuple(jobs),
        shards=merged.shards,
        price_source=catalog.source if catalog is not None else None,
    )


def gallery_job(
    job: Job,
    row: JobStatusRow[JobRecord],
    *,
    sidecar: Mapping[str, Any] | None,
    images: tuple[GalleryImage, ...],
    stale: bool,
    kept: Sequence[KeptVersion],
    shard: str | None,
    catalog: Catalog | None,
) -> GalleryJob:
    """One job's entry from what was read about it. Pure. ``kept`` are its kept versions,
    oldest first; the previous version shown is the newest whose images differ from the
    current ones (a version kept by a run that then stopped before replacing anything
    holds the current images themselves)."""
    record = row.record
    current = {image.sha256 for image in images if image.sha256}
    previous = next(
        (
            version
            for version in map(previous_version, reversed(kept))
            if {image.sha256 for image in version.images if image.sha256} != current
        ),
        None,
    )
    cost = None
    if record is not None and catalog is not None:
        cost = delivered_cost(job, record, catalog)
    return GalleryJob(
        id=job.id,
        index=job.index,
        key=job.key,
        prompt=job.prompt,
        model=job.model,
        api=job.api,
        status=row.status.value,
        note=row.note,
        error=record.error if record is not None and row.status.value == "failed" else None,
        retryable=record.retryable if record is not None else None,
        attempts=record.attempts if record is not None else 0,
        possibly_billed=(record.ambiguous_retries + record.in_flight) if record else 0,
        cost_usd=cost,
        shard=shard,
        images=images,
        stale=stale,
        finished_at=_text(sidecar.get("finished_at")) if sidecar and not stale else None,
        previous=previous,
        versions=len(kept),
        facts=_facts(sidecar, record),
    )


def previous_version(version: KeptVersion) -> PreviousVersion:
    """A kept version as the gallery shows it: its images under the state folder, with
    what its metadata file recorded of each."""
    metadata = version.metadata or {}
    recorded = {
        image.file: image for image in _sidecar_images(metadata.get("images")) if image.file
    }
    found = [recorded.get(name) or ImageRecord(number=0, file=name) for name in version.files]
    labels = labels_of(found, roles_of(metadata))
    images = tuple(
        _image(image, path=f"{version.path}/{image.file}", label=labels.get(image.file))
        for image in found
    )
    return PreviousVersion(
        number=version.number,
        prompt=_text(metadata.get("prompt")),
        key=_text(metadata.get("key")),
        finished_at=_text(metadata.get("finished_at")),
        images=images,
    )


# --- reading ----------------------------------------------------------------------------


def _current_images(
    root: Path, job: Job, row: JobStatusRow[JobRecord], sidecar: Mapping[str, Any] | None
) -> tuple[tuple[GalleryImage, ...], bool]:
    """The job's images: those recorded for its current key, else those its metadata file
    lists for an earlier key that are still on disk (stale). Each is labelled with the
    role its metadata file gives it (a Midjourney grid, an upscale) or its number."""
    roles = roles_of(sidecar) if sidecar is not None else {}
    if row.record is not None and row.record.images:
        if sidecar is not None and sidecar.get("key") != job.key:
            roles = {}
        return _labelled(row.record.images, roles), False
    if sidecar is None or sidecar.get("key") == job.key:
        return (), False
    present = [
        image for image in _sidecar_images(sidecar.get("images")) if _is_file(root, image.file)
    ]
    return _labelled(present, roles), bool(present)


def _kept_versions(root: Path, job_id: str) -> list[KeptVersion]:
    numbers = version_numbers(job_versions_dir(root, job_id))
    versions = (read_version(root, job_id, number) for number in numbers)
    return [version for version in versions if version is not None]


def _is_file(root: Path, relative: str) -> bool:
    try:
        return resolve_inside(root, relative).is_file()
    except UnsafePathError:
        return False


# --- pure pieces ------------------------------------------------------------------------


def _sidecar_images(value: Any) -> list[ImageRecord]:
    """The images a metadata document lists; entries that do not read as images are
    skipped (people may edit the file)."""
    if not isinstance(value, list):
        return []
    images = []
    for item in value:
        try:
            images.append(msgspec.convert(item, ImageRecord))
        except msgspec.ValidationError:
            continue
    return images


def roles_of(metadata: Mapping[str, Any]) -> dict[int, str]:
    """The role a metadata file gives each image, by image number (``grid``, ``upscale
    U2``): only images that are more than "an image" have one."""
    images = metadata.get("images")
    roles: dict[int, str] = {}
    for image in images if isinstance(images, list) else ():
        if isinstance(image, dict):
            number, role = image.get("index"), image.get("role")
            if isinstance(number, int) and isinstance(role, str) and role:
                roles[number] = role
    return roles


def labels_of(images: Sequence[ImageRecord], roles: Mapping[int, str]) -> dict[str, str]:
    """A label per file: its role, else ``2 of 3`` when the job has several images."""
    labels = {}
    for position, image in enumerate(images, 1):
        label = roles.get(image.number)
        if label is None and len(images) > 1:
            label = f"{position} of {len(images)}"
        if label is not None:
            labels[image.file] = label
    return labels


def _labelled(images: Sequence[ImageRecord], roles: Mapping[int, str]) -> tuple[GalleryImage, ...]:
    ordered = sorted(images, key=lambda image: image.number)
    labels = labels_of(ordered, roles)
    return tuple(_image(image, path=image.file, label=labels.get(image.file)) for image in ordered)


def _image(image: ImageRecord, *, path: str, label: str | None = None) -> GalleryImage:
    return GalleryImage(
        path=path,
        label=label,
        width=image.width,
        height=image.height,
        format=image.format,
        bytes=image.bytes,
        sha256=image.sha256,
    )


def _facts(sidecar: Mapping[str, Any] | None, record: JobRecord | None) -> dict[str, Any]:
    """The metadata file's facts not shown elsewhere; without one, the state's record."""
    if sidecar is not None:
        return {name: value for name, value in sidecar.items() if name not in _SHOWN}
    if record is not None:
        facts: dict[str, Any] = msgspec.to_builtins(record)
        facts.pop("id", None)
        return {"from": "the state (no metadata file)", **facts}
    return {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
