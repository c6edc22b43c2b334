"""Images from answer to file: checked, named, hashed and written to a temp file (staged),
recorded, then renamed into place with the job's sidecar beside them (which says what
each image is). Also the files of a job's earlier runs: those still good are kept, those
of an earlier version removed.

The order is the crash-safety protocol of :mod:`batch_gen.files.atomic`: temp file, record with
the sha256, rename. A crash between any two steps is recovered on resume without asking
for the image again. Staging and placing run on the file threads: decoding, hashing and
writing a megabyte per image would stall every other request on the event loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import BadResponseError
from ..files.atomic import commit_partial, recover_image, sha256_hex, write_partial
from ..files.formats import extension_for, image_size, sniff_format
from ..files.naming import render_filename, resolve_inside
from ..files.sidecar import Owner, write_metadata
from ..models import ImageRecord, Job, JobRecord
from ..providers import midjourney
from ..providers.base import ApiRequest, Generation, Provider, ReturnedImage, inline_bytes
from ..usage import add_usage

# Files up to this many bytes (a job's images together) are staged and placed on the event
# loop: hashing and writing them costs less than a trip to the file threads and back
# (measured: README, "Performance"). Bigger ones go to the threads, so that hashing a
# megabyte never stalls the other requests.
SMALL_FILES = 64 * 1024


def inline_bytes_at_most(images: Sequence[ReturnedImage], limit: int) -> bool:
    """Whether the inline images of an answer hold at most ``limit`` bytes (base64 counted
    as the bytes it decodes to)."""
    total = 0
    for image in images:
        if image.data is not None:
            total += len(image.data)
        elif image.b64 is not None:
            total += len(image.b64) * 3 // 4
    return total <= limit


@dataclass(frozen=True, slots=True)
class Staged:
    """An image checked, hashed and written to its temp file, not yet renamed."""

    image: ImageRecord
    temp: Path
    final: Path


def stage(
    root: Path,
    template: str,
    job: Job,
    number: int,
    data: bytes,
    revised_prompt: str | None,
) -> Staged:
    """Check, name, hash and write image number ``number`` of ``job`` to its temp file.

    Blocking (file threads). Raises BadResponseError if the bytes are not a known image
    format (the answer was probably billed, so the error is ambiguous); OSError if writing
    fails.
    """
    fmt = sniff_format(data)
    if fmt is None:
        raise BadResponseError("the image data is not a known image format", ambiguous=True)
    relative = render_filename(
        template, job=job, image_number=number, image_count=job.n, ext=extension_for(fmt)
    )
    final = resolve_inside(root, relative)
    digest = sha256_hex(data)
    size = image_size(data, fmt)
    temp = write_partial(final, data, sha256=digest)
    image = ImageRecord(
        number=number,
        file=relative,
        sha256=digest,
        bytes=len(data),
        format=fmt,
        width=size[0] if size else None,
        height=size[1] if size else None,
        revised_prompt=revised_prompt,
    )
    return Staged(image, temp, final)


def stage_inline(
    root: Path, template: str, job: Job, first: int, images: Sequence[ReturnedImage]
) -> list[Staged | None]:
    """Stage every inline image of an answer (numbered from ``first``); None for URLs,
    which are downloaded first. Blocking (file threads); a bad image raises, so the whole
    answer is retried."""
    staged: list[Staged | None] = []
    for offset, returned in enumerate(images):
        data = inline_bytes(returned)
        staged.append(
            None
            if data is None
            else stage(root, template, job, first + offset, data, returned.revised_prompt)
        )
    return staged


def small_files(staged: Sequence[Staged]) -> bool:
    """Whether placing ``staged`` is cheap enough for the event loop (see SMALL_FILES)."""
    return sum(item.image.bytes for item in staged) <= SMALL_FILES


def place(
    staged: Sequence[Staged], root: Path, job_id: str, sidecar: Mapping[str, Any] | None
) -> None:
    """Rename recorded temp files to their final names, then write the sidecar, in one
    trip to the file threads (renames cost a journal commit each on ext4). Blocking."""
    for item in staged:
        commit_partial(item.temp, item.final)
    if sidecar is not None:
        write_metadata(root, job_id, sidecar)


def kept_images(root: Path, base: JobRecord | None, *, n: int) -> list[ImageRecord]:
    """The images of ``base`` (the job's record of the same key) still on disk, checked
    against their sha256, from image 1 up to the first one that is not: the images made
    next are numbered after those kept, so keeping any past a gap would have a new image
    overwrite it. Blocking (a few files, at a job's start)."""
    kept: list[ImageRecord] = []
    for image in sorted(base.images if base else (), key=lambda image: image.number):
        if image.number != len(kept) + 1 or image.number > n:
            break
        try:
            if not recover_image(root, image, verify=True):
                break
        except OSError:
            break
        kept.append(image)
    return kept


def remove_superseded(root: Path, previous: JobRecord | None, record: JobRecord) -> None:
    """Delete files of an earlier version of the job (``previous``, another key) that the
    new one did not overwrite (e.g. ``x.png`` after the format changed to jpeg), so the
    folder matches the manifest."""
    if previous is None or previous.key == record.key:
        return
    current = set(record.files)
    for name in previous.files:
        if name not in current:
            with contextlib.suppress(OSError, ValueError):
                resolve_inside(root, name).unlink()


@dataclass(slots=True)
class Provenance:
    """What the API said while making a job's images, for its sidecar: every usage field
    it reported, and each answer's request id, creation time and details."""

    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    usage: dict[str, Any] | None = None
    request_ids: list[str | None] = field(default_factory=list)
    created: list[int | None] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)

    def add(self, generation: Generation) -> None:
        self.usage = add_usage(self.usage, generation.usage)
        self.request_ids.append(generation.request_id)
        self.created.append(generation.created)
        self.responses.append(dict(generation.extra))


def image_roles(requests: Sequence[ApiRequest]) -> dict[int, str]:
    """What each image a job's ``requests`` make is, by image number, where its step says
    more than "an image": Midjourney's grid (``grid``) and each upscale of it (``upscale
    U2``). ``requests`` are all the job's requests, in image order."""
    roles: dict[int, str] = {}
    number = 1
    for request in requests:
        index = midjourney.upscale_index(request.step)
        role = "grid" if request.step == midjourney.IMAGINE else None
        role = f"upscale U{index}" if index is not None else role
        for _ in range(request.images):
            if role is not None:
                roles[number] = role
            number += 1
    return roles


def sidecar(
    job: Job,
    record: JobRecord,
    provenance: Provenance | None,
    *,
    finished: datetime,
    owner: Owner,
    roles: Mapping[int, str],
    seed: int | None = None,
) -> dict[str, Any]:
    """The per-job metadata document written beside the images. ``owner`` says who made
    them, so that no later run replaces them unawares (see :mod:`batch_gen.planning.ownership`);
    ``roles`` what each image is, where it is more than an image (:func:`image_roles`).
    Without ``provenance`` (a metadata file written again from the state) the provider's
    answers and the start time are not known. ``seed``: the seed this run asked for, over
    the manifest's request (a job rejected in review, made again), recorded only then."""
    revised = [image.revised_prompt for image in record.images if image.revised_prompt]
    said = provenance or Provenance()
    return {
        "id": job.id,
        "key": job.key,
        "made_by": owner.made_by,
        "manifest": owner.manifest,
        "prompt": job.prompt,
        "model": job.model,
        "api": job.api,
        "request": dict(job.request),
        **({"seed": seed} if seed is not None else {}),
        "attempts": record.attempts,
        "ambiguous_retries": record.ambiguous_retries,
        "usage": said.usage if said.usage is not None else record.usage,
        "revised_prompt": revised[0] if len(revised) == 1 else (revised or None),
        "provider": {
            "created": [value for value in said.created if value is not None],
            "request_ids": [value for value in said.request_ids if value],
            "responses": said.responses,
        },
        "started_at": said.started.isoformat(timespec="milliseconds") if provenance else None,
        "finished_at": finished.isoformat(timespec="milliseconds"),
        "images": [
            {
                "index": image.number,
                **({"role": roles[image.number]} if image.number in roles else {}),
                "file": image.file,
                "format": image.format,
                "width": image.width,
                "height": image.height,
                "bytes": image.bytes,
                "sha256": image.sha256,
                "revised_prompt": image.revised_prompt,
            }
            for image in record.images
        ],
    }


def restore_sidecars(
    root: Path,
    items: Sequence[tuple[Job, JobRecord]],
    *,
    owner: Owner,
    providers: Callable[[str], Provider],
) -> None:
    """Write again the metadata files of done jobs that lost theirs, from the state (the
    images were made by ``owner``: their key, which names the provider, is the job's; the
    job's API, from ``providers``, says what each image is). Blocking; a file that cannot
    be written is left for the next run."""
    for job, record in items:
        finished = datetime.fromtimestamp(record.updated_at, UTC)
        with contextlib.suppress(OSError, ValueError):
            roles = image_roles(providers(job.api).requests_for(job, job.n))
            document = sidecar(job, record, None, finished=finished, owner=owner, roles=roles)
            write_metadata(root, job.id, document)
