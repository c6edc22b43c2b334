"""The metadata file written beside a job's images: ``<output>/<job id>.json``.

With the images it is the durable record of a job (the state folder is an index of it): it
names the job's key, who made the images and for which manifest, and each file's byte size
and sha256, so that a run can adopt the images again when the state is lost.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from batch_gen.files.atomic import write_atomic
from batch_gen.files.naming import UnsafePathError, resolve_inside
from batch_gen.models import ImageRecord


def manifest_reference(manifest: Path, root: Path) -> str:
    """How a metadata file in ``root`` names the manifest its images were made for: the
    manifest's path relative to the output folder ('/'-separated).

    Relative, so that a checkout moved or cloned elsewhere (a CI runner's workspace, a
    colleague's machine), output folder and all, still owns its images; a different
    manifest is a different path from the same folder.
    """
    relative = os.path.relpath(manifest.resolve(), root.resolve())
    return Path(relative).as_posix()


class Owner(NamedTuple):
    """Who made a job's images: ``made_by`` is the provider (the base URL's host, or the
    offline simulator), ``manifest`` the manifest as :func:`manifest_reference` names it;
    None where not known (a metadata file written before they were recorded)."""

    made_by: str | None
    manifest: str | None


class Sidecar(msgspec.Struct, frozen=True):
    """What a run reads back from a metadata file; other fields are ignored."""

    id: str = ""  # the job's id, as the file's name says it too
    key: str = ""
    made_by: str | None = None
    manifest: str | None = None
    attempts: int = 0
    ambiguous_retries: int = 0
    usage: dict[str, Any] | None = None
    images: tuple[ImageRecord, ...] = ()
    finished_at: str | None = None  # when the images were made (the run's clock)

    @property
    def owner(self) -> Owner:
        return Owner(self.made_by, self.manifest)

    @property
    def files(self) -> tuple[str, ...]:
        return tuple([image.file for image in self.images])


_DECODER = msgspec.json.Decoder(Sidecar)


def metadata_path(root: Path, job_id: str) -> Path:
    """Return where the metadata of job ``job_id`` lives: ``<root>/<job_id>.json``.

    Raises:
        UnsafePathError: the job id would put it outside ``root``.
    """
    return resolve_inside(root, f"{job_id}.json")


def write_metadata(root: Path, job_id: str, document: Mapping[str, Any]) -> Path:
    """Write ``document`` atomically as the job's metadata file and return its path.

    UTF-8 JSON, indented by 2, keys in the caller's order (so related fields stay
    together), non-ASCII kept as is, ending with a newline.

    Raises:
        UnsafePathError: the job id would put the file outside ``root``.
        TypeError: the document holds a value JSON cannot represent.
        OSError: the write failed.
    """
    path = metadata_path(root, job_id)
    # msgspec: the standard library's indenting encoder is pure Python, ~0.2 ms a job.
    write_atomic(path, msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n")
    return path


def read_metadata(root: Path, job_id: str) -> Sidecar | None:
    """The job's metadata file as a :class:`Sidecar`, or None when it is missing, unreadable
    or not one (a metadata file is for people too, who may have edited it)."""
    try:
        return _DECODER.decode(metadata_path(root, job_id).read_bytes())
    except (OSError, UnsafePathError, msgspec.DecodeError):
        return None
