"""Output folders for gallery tests, made by hand: a manifest, images, metadata files and
state records as a run writes them, without running anything."""

from __future__ import annotations

import hashlib
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from PIL import Image

from batch_gen.files.atomic import write_atomic
from batch_gen.files.formats import extension_for
from batch_gen.files.naming import render_filename
from batch_gen.files.sidecar import Owner, write_metadata
from batch_gen.manifest import load_manifest
from batch_gen.models import ImageRecord, Job, JobRecord, JobStatus, Manifest
from batch_gen.providers.registry import provider_for
from batch_gen.runner.staging import image_roles, sidecar
from batch_gen.shards import Shard, shard_number
from batch_gen.state.journal import StateStore

OWNER = Owner("offline simulator", None)


def picture(seed: str, *, size: tuple[int, int] = (96, 64), fmt: str = "png") -> bytes:
    """A small image whose colour follows ``seed``: different seeds, different bytes."""
    digest = hashlib.sha256(seed.encode()).digest()
    image = Image.new("RGB", size, (digest[0], digest[1], digest[2]))
    out = BytesIO()
    image.save(out, {"jpeg": "JPEG", "webp": "WEBP"}.get(fmt, "PNG"))
    return out.getvalue()


@dataclass
class Folder:
    """A manifest and its output folder; records are kept here until :meth:`save_state`."""

    root: Path
    manifest: Manifest
    records: dict[str, JobRecord] = field(default_factory=dict)

    def job(self, job_id: str) -> Job:
        return next(job for job in self.manifest.jobs if job.id == job_id)

    def succeed(
        self,
        job_id: str,
        *,
        seed: str = "",
        fmt: str = "png",
        attempts: int = 1,
        ambiguous: int = 0,
        in_flight: int = 0,
        usage: dict[str, int] | None = None,
        metadata: bool = True,
        job: Job | None = None,
    ) -> JobRecord:
        """Write the job's images (one per image number) and metadata; record success."""
        job = job or self.job(job_id)
        images = []
        for number in range(1, job.n + 1):
            data = picture(f"{job.key}{seed}{number}", fmt=fmt)
            relative = render_filename(
                self.manifest.output.filename,
                job=job,
                image_number=number,
                image_count=job.n,
                ext=extension_for(fmt),
            )
            write_atomic(self.root / relative, data)  # a new file renamed over, as a run does
            images.append(
                ImageRecord(
                    number=number,
                    file=relative,
                    sha256=hashlib.sha256(data).hexdigest(),
                    bytes=len(data),
                    format=fmt,
                    width=96,
                    height=64,
                )
            )
        record = JobRecord(
            id=job.id,
            key=job.key,
            status=JobStatus.SUCCEEDED,
            attempts=attempts,
            images=tuple(images),
            ambiguous_retries=ambiguous,
            in_flight=in_flight,
            usage=usage,
            updated_at=1_800_000_000.0,
        )
        if metadata:
            finished = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
            roles = image_roles(provider_for(job.api).requests_for(job, job.n))
            document = sidecar(job, record, None, finished=finished, owner=OWNER, roles=roles)
            write_metadata(self.root, job.id, document)
        self.records[job.id] = record
        return record

    def fail(
        self, job_id: str, error: str, *, retryable: bool = False, attempts: int = 1
    ) -> JobRecord:
        job = self.job(job_id)
        record = JobRecord(
            id=job.id,
            key=job.key,
            status=JobStatus.FAILED,
            attempts=attempts,
            error=error,
            retryable=retryable,
            updated_at=1_800_000_000.0,
        )
        self.records[job.id] = record
        return record

    def save_state(self, *, shards: int = 0) -> None:
        """Record every job in the unsharded journal, or with ``shards`` in the journal of
        the shard (of that many) each job falls in, as ``--shard K/N`` runs would."""
        groups: dict[Shard | None, list[JobRecord]] = {}
        for record in self.records.values():
            shard = Shard(shard_number(record.id, shards), shards) if shards else None
            groups.setdefault(shard, []).append(record)
        for shard, records in groups.items():
            with StateStore.open(self.root, shard=shard) as store:
                for record in records:
                    store.put(record)


def make_folder(tmp_path: Path, jobs_yaml: str, *, defaults: str = "") -> Folder:
    """A manifest in ``tmp_path`` (output ``out``) with the given ``jobs:`` entries."""
    text = (
        "version: 1\n"
        "defaults:\n  model: gpt-image-2\n  size: 1024x1024\n  quality: low\n"
        + textwrap.indent(textwrap.dedent(defaults).strip("\n"), "  ")
        + ("\n" if defaults else "")
        + "output:\n  dir: out\n"
        "jobs:\n" + textwrap.dedent(jobs_yaml).strip("\n") + "\n"
    )
    path = tmp_path / "jobs.yaml"
    path.write_text(text, encoding="utf-8")
    manifest = load_manifest(path)
    root = manifest.output.dir
    root.mkdir(parents=True, exist_ok=True)
    return Folder(root=root, manifest=manifest)
