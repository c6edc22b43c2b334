"""What the output folder holds, as planning needs it: the files are the durable record,
the state folder an index of it.

A recorded image counts as in place while its file exists with the recorded byte size (one
stat); with ``--verify``, only while its bytes still hash to the recorded sha256. A job the
state does not know under its key is adopted from its metadata file when that names the
job's key and every image it lists is in place with its sha256: nothing is sent for it, and
a run writes the record back to the state. ``run``, ``--dry-run`` and ``status`` all look
through here, so they agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from batch_gen.files.atomic import ExistingFiles
from batch_gen.files.naming import is_safe
from batch_gen.files.sidecar import Sidecar, read_metadata
from batch_gen.models import ImageRecord, JobRecord, JobStatus


class Recorded(Protocol):
    """What looking at the output folder reads of a job's record: a
    :class:`~batch_gen.models.JobRecord`, or a reader's narrower view of one."""

    @property
    def key(self) -> str: ...

    @property
    def images(self) -> Sequence[ImageRecord]: ...


R = TypeVar("R", bound=Recorded)


@dataclass(frozen=True, slots=True)
class OnDisk(Generic[R]):
    """The output folder as found: a listing, the state with adopted jobs added, and
    whether images are checked by sha256 (``verify``) or by size."""

    existing: ExistingFiles
    records: Mapping[str, R | JobRecord]  # the recorded state, adopted records included
    adopted: tuple[JobRecord, ...]
    verify: bool
    # Nothing but the state folder in the output folder: no image can be in place, and
    # the 100,000 questions of a large plan are answered without a look at the listing.
    empty: bool = False

    def present(self, record: Recorded) -> bool:
        """Whether every image of a succeeded record is in place."""
        if self.empty or not record.images:
            return False
        return self.existing.holds(record.images, verify=self.verify)

    def in_place(self, record: Recorded) -> int:
        """How many of the record's images are in place."""
        if self.empty:
            return 0
        holds, verify = self.existing.holds, self.verify
        return sum(1 for image in record.images if holds((image,), verify=verify))


def survey(
    jobs: Iterable[tuple[str, str]],
    records: Mapping[str, R],
    *,
    root: Path,
    verify: bool = False,
    now: float,
) -> OnDisk[R]:
    """Look at ``root`` for the jobs ``(id, key)``: adopt each one the state does not know
    under its key from its metadata file (see :func:`adopt`). Reads only the metadata files
    that exist, so a folder the state describes costs one listing."""
    existing = ExistingFiles(root)
    empty = existing.is_empty()
    adopted = []
    for job_id, key in () if empty else jobs:
        record = records.get(job_id)
        if record is not None and record.key == key:
            continue
        if existing(f"{job_id}.json"):
            sidecar = read_metadata(root, job_id)
            found = adopt(job_id, key, sidecar=sidecar, existing=existing, now=now)
            if found is not None:
                adopted.append(found)
    if not adopted:
        return OnDisk(existing, records, (), verify, empty)
    with_adopted: dict[str, R | JobRecord] = {**records}
    with_adopted.update((record.id, record) for record in adopted)
    return OnDisk(existing, with_adopted, tuple(adopted), verify, empty)


def adopt(
    job_id: str, key: str, *, sidecar: Sidecar | None, existing: ExistingFiles, now: float
) -> JobRecord | None:
    """The succeeded record of a job whose metadata file names its ``key`` and whose every
    listed image is in place (safe name, size and sha256), or None."""
    if sidecar is None or sidecar.key != key or not sidecar.images:
        return None
    if not all(is_safe(image.file) for image in sidecar.images):
        return None
    if not existing.holds(sidecar.images, verify=True):
        return None
    return JobRecord(
        id=job_id,
        key=key,
        status=JobStatus.SUCCEEDED,
        attempts=sidecar.attempts,
        images=sidecar.images,
        ambiguous_retries=sidecar.ambiguous_retries,
        usage=sidecar.usage,
        updated_at=now,
    )
