"""Earlier versions of a job's images, kept when the job is made again.

A job is made again when its prompt or fields change, or when a person rejected its
images. Before the new images replace the old ones, :func:`keep_version` keeps the old
images and their metadata file in the state folder, one numbered folder per version::

    <output>/.batch_gen/versions/<job id, quoted>/<n>/
        metadata.json          the job's <id>.json as it was (absent if there was none)
        <file>                 each image, under its name relative to the output folder

``n`` counts from 1, oldest first. The job id is quoted (``icons/cloud`` →
``icons%2Fcloud``) so that every job has one folder level of its own: ``/`` never
appears in it and ``%`` never appears in an id. The state folder is where they live
because no job's files may be written there (file-name rules keep it out), so a kept
version never collides with an output, and a run's sweeps of the output folder skip it.
Files are hard links where the file system allows (free and instant: a run replaces an
image by renaming a new file over its name, which leaves the link intact), copies
otherwise. See ``docs/gallery.md``.
"""

from __future__ import annotations

import contextlib
import filecmp
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import msgspec

from batch_gen.files.naming import UnsafePathError, resolve_inside
from batch_gen.files.sidecar import metadata_path
from batch_gen.state.layout import STATE_DIR_NAME

VERSIONS_DIR_NAME = "versions"
VERSION_METADATA = "metadata.json"
_PARTIAL_PREFIX = ".partial-"


@dataclass(frozen=True, slots=True)
class KeptVersion:
    """One kept version of a job: its number, its folder (and ``path``, the same relative
    to the output folder, '/'-separated), the files found in it (named relative to the
    output folder as they were, in the order the metadata lists them) and the metadata
    document (None when the job had none, or it is unreadable)."""

    number: int
    folder: Path
    path: str
    files: tuple[str, ...]
    metadata: dict[str, Any] | None


def versions_root(root: Path) -> Path:
    """The folder holding every job's kept versions."""
    return root / STATE_DIR_NAME / VERSIONS_DIR_NAME


def job_versions_dir(root: Path, job_id: str) -> Path:
    """The folder holding the kept versions of job ``job_id``."""
    return versions_root(root) / quote(job_id, safe="")


def keep_version(root: Path, job_id: str, *, files: Sequence[str]) -> Path | None:
    """Keep the job's current images and metadata file as its next version; return the
    version's folder, or None when there was nothing on disk to keep.

    ``files`` are the job's current image files, relative to ``root`` (a record's
    ``files``); those missing are skipped, and the metadata file is taken from its usual
    place. Call it before replacing the files. Idempotent: when the newest kept version
    already holds these very files (a run that kept them and then stopped), that version's
    folder is returned and nothing is added. A version appears whole or not at all: it is
    built in a hidden folder and renamed into place; leftovers of a crash are removed.

    Blocking. Raises OSError when the version cannot be written (the caller decides
    whether to go on: nothing of the job's own files has changed).
    """
    sources = _present(root, files)
    sidecar = _existing_file(_sidecar_path(root, job_id))
    if not sources and sidecar is None:
        return None
    folder = job_versions_dir(root, job_id)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_partials(folder)
    numbers = version_numbers(folder)
    if numbers and _holds(folder / str(numbers[-1]), sources, sidecar):
        return folder / str(numbers[-1])
    number = (numbers[-1] if numbers else 0) + 1
    partial = folder / f"{_PARTIAL_PREFIX}{number}"
    try:
        for relative, path in sources:
            _link_or_copy(path, partial.joinpath(*relative.split("/")))
        if sidecar is not None:
            _link_or_copy(sidecar, partial / VERSION_METADATA)
        final = folder / str(number)
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


def version_numbers(folder: Path) -> list[int]:
    """The numbers of the versions kept in a job's versions folder, ascending."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(int(name) for name in names if name.isdigit())


def jobs_with_versions(root: Path) -> frozenset[str]:
    """The ids of the jobs that have a versions folder: one listing, whatever the number
    of jobs (ids as the folder names spell them)."""
    try:
        names = os.listdir(versions_root(root))
    except OSError:
        return frozenset()
    return frozenset(unquote(name) for name in names if not name.startswith("."))


def read_version(root: Path, job_id: str, number: int) -> KeptVersion | None:
    """Version ``number`` of job ``job_id``, or None when it is not there."""
    folder = job_versions_dir(root, job_id) / str(number)
    if not folder.is_dir():
        return None
    metadata = _read_document(folder / VERSION_METADATA)
    listed = _listed_files(metadata) or tuple(_walk(folder))
    present = tuple(name for name in listed if _inside_is_file(folder, name))
    path = "/".join((STATE_DIR_NAME, VERSIONS_DIR_NAME, quote(job_id, safe=""), str(number)))
    return KeptVersion(number=number, folder=folder, path=path, files=present, metadata=metadata)


# --- helpers ----------------------------------------------------------------------------


def _sidecar_path(root: Path, job_id: str) -> Path | None:
    try:
        return metadata_path(root, job_id)
    except UnsafePathError:
        return None


def _existing_file(path: Path | None) -> Path | None:
    return path if path is not None and path.is_file() else None


def _present(root: Path, files: Sequence[str]) -> list[tuple[str, Path]]:
    """The files that exist, with their paths; unsafe names are not ours to copy."""
    found = []
    for relative in dict.fromkeys(files):
        try:
            path = resolve_inside(root, relative)
        except UnsafePathError:
            continue
        if path.is_file():
            found.append((relative, path))
    return found


def _holds(version: Path, sources: Sequence[tuple[str, Path]], sidecar: Path | None) -> bool:
    """Whether ``version`` already holds exactly these files (same inode or same bytes)."""
    wanted = list(sources)
    if sidecar is not None:
        wanted.append((VERSION_METADATA, sidecar))
    held = _walk(version)
    if (version / VERSION_METADATA).is_file():
        held.append(VERSION_METADATA)
    if sorted(held) != sorted(relative for relative, _ in wanted):
        return False
    return all(_same(version.joinpath(*relative.split("/")), path) for relative, path in wanted)


def _same(kept: Path, current: Path) -> bool:
    try:
        return os.path.samefile(kept, current) or filecmp.cmp(kept, current, shallow=False)
    except OSError:
        return False


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # no hard links here (another device, FAT, some network shares)
        shutil.copy2(source, target)


def _remove_partials(folder: Path) -> None:
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if name.startswith(_PARTIAL_PREFIX):
                shutil.rmtree(folder / name, ignore_errors=True)


def _read_document(path: Path) -> dict[str, Any] | None:
    try:
        document = msgspec.json.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    return document if isinstance(document, dict) else None


def _listed_files(metadata: dict[str, Any] | None) -> tuple[str, ...]:
    """The image files a metadata document lists (none when it lists none readable)."""
    images = metadata.get("images") if metadata is not None else None
    if not isinstance(images, list):
        return ()
    files = [image.get("file") for image in images if isinstance(image, dict)]
    return tuple(name for name in files if isinstance(name, str) and name)


def _walk(folder: Path) -> list[str]:
    """Every file under ``folder`` but its metadata, '/'-separated relative names."""
    found = []
    for directory, _, names in os.walk(folder):
        base = Path(directory).relative_to(folder)
        for name in names:
            relative = (base / name).as_posix()
            if relative != VERSION_METADATA:
                found.append(relative)
    return sorted(found)


def _inside_is_file(folder: Path, relative: str) -> bool:
    try:
        return resolve_inside(folder, relative).is_file()
    except UnsafePathError:
        return False
