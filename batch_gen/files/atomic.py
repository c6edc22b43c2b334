"""Crash-safe image writes: temp file, then record, then rename.

The protocol the runner follows for each image:

1. write the bytes to :func:`temp_path_for` ``(final, sha256)`` with :func:`write_partial`;
2. record the image (with its sha256) in the state store;
3. move it into place with :func:`commit_partial` (an ``os.replace``).

A run killed between any two steps never leaves a half-written file under a final name, and
on resume :func:`recover_image` finds an image saved in step 1 and recorded in step 2 and
finishes step 3, so it is never requested again. Only then should the runner call
:func:`remove_stale_partials`, which deletes the temp files nobody recorded.

Also here: :func:`write_atomic`, the one-step form for files that need no record (metadata),
and :class:`ExistingFiles`, the cheap "is it still on disk, whole" check that resuming
relies on.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Sequence
from pathlib import Path

from batch_gen.files.formats import EXTENSIONS
from batch_gen.files.naming import (
    EXT_MARK,
    UnsafePathError,
    is_partial_name,
    partial_name,
    resolve_inside,
)
from batch_gen.models import ImageRecord
from batch_gen.state.layout import (
    STATE_DIR_NAME,
    fsync_folder,
    remove_quietly,
    replace_with,
    write_file,
)

IMAGE_EXTENSIONS = frozenset(EXTENSIONS.values())
_names = random.Random()  # seeded from the system once


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def temp_path_for(final: Path, sha256: str) -> Path:
    """Return the deterministic temp name for an image: ``.<name>.<sha256[:12]>.part``.

    Deterministic so that :func:`recover_image` can find it again after a crash.
    """
    return final.parent / partial_name(final.name, sha256[:12])


def write_atomic(
    path: Path, data: bytes, *, temp: str | Path | None = None, durable: bool = False
) -> None:
    """Write ``data`` to ``path`` so that ``path`` never holds a partial file.

    The bytes go to ``temp`` (default ``.<name>.<random>.part`` beside ``path``; it must be
    in the same folder for the rename to be atomic), which then replaces ``path``. Parent
    folders are created. Without ``durable`` nothing is fsynced: that is enough to survive a
    killed process (the page cache outlives it); ``durable=True`` also fsyncs the file and
    its folder, to survive a power cut.

    Raises:
        OSError: writing or renaming failed; the temp file has been removed.
    """
    if temp is None:
        # Unique within the run (which holds the folder's lock); no system call for
        # randomness. Plain strings: this runs once per job.
        folder, name = os.path.split(os.fspath(path))
        temp = os.path.join(folder, partial_name(name, f"{_names.getrandbits(48):012x}"))
    replace_with(path, data, temp=temp, durable=durable)


def write_partial(final: Path, data: bytes, *, sha256: str, durable: bool = False) -> Path:
    """Write step 1 of the protocol: ``data`` to ``temp_path_for(final, sha256)``.

    Returns the temp path, to pass to :func:`commit_partial` once the image is recorded.

    Raises:
        OSError: writing failed; the temp file has been removed.
    """
    temp = temp_path_for(final, sha256)
    write_file(temp, data, durable=durable)
    return temp


def commit_partial(temp: Path, final: Path, *, durable: bool = False) -> None:
    """Write step 3 of the protocol: move a recorded temp file to its final name.

    Raises:
        OSError: the rename failed (the temp file is left for :func:`recover_image`).
    """
    os.replace(temp, final)
    if durable:
        fsync_folder(final.parent)


def recover_image(root: Path, record: ImageRecord, *, verify: bool = False) -> bool:
    """Return True when the recorded image is safely in place under ``root``.

    It is in place when its final file exists with the recorded byte size (and, with
    ``verify``, the recorded sha256). Failing that, when the deterministic temp file of
    step 1 exists with the recorded sha256, it is moved into place first. Returns False
    when neither holds, or when the recorded file name is unsafe: the image must be
    requested again.

    Raises:
        OSError: reading or moving a file that exists failed.
    """
    try:
        final = resolve_inside(root, record.file)
    except UnsafePathError:
        return False
    if _file_matches(final, record, verify=verify):
        return True
    temp = temp_path_for(final, record.sha256)
    if not _file_matches(temp, record, verify=True):
        return False
    os.replace(temp, final)
    return True


def _file_matches(path: str | Path, record: ImageRecord, *, verify: bool) -> bool:
    try:
        if os.stat(path).st_size != record.bytes:
            return False
        if not verify:
            return True
        with open(path, "rb") as file:
            return sha256_hex(file.read()) == record.sha256
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return False


def remove_stale_partials(root: Path, *, before: float | None = None) -> int:
    """Delete leftover temp files under ``root`` (only those last written before the
    time ``before``, when given: a run started since may be writing the others); return
    how many.

    Only names of the two forms this module writes (``.<name>.<12 hex digits>.part``) are
    deleted. The sweep stays within what a run of ``root`` can have written: it does not
    enter the state folder ``root/.batch_gen``, symbolic links to folders, folders on
    another file system (a mount point below ``root``), folders it may not read, or a
    subfolder holding a state folder of its own (another run's output folder, whose temp
    files may belong to a run in progress there).
    One ``os.scandir`` walk, a ``stat`` only per folder.

    Call it only after :func:`recover_image` has run for every recorded image, or it
    deletes images that were saved and recorded but not yet moved into place.
    """
    try:
        device = os.stat(root).st_dev
    except OSError:
        return 0
    removed = 0
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:  # gone, not a folder, or not ours to read: nothing of ours there
            continue
        names = {entry.name.casefold() for entry in entries}
        if folder != root and STATE_DIR_NAME in names:
            continue  # another output folder: its temp files are its own run's
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if folder == root and entry.name.casefold() == STATE_DIR_NAME:
                    continue
                if _same_device(entry, device):
                    pending.append(Path(entry.path))
            elif is_partial_name(entry.name) and entry.is_file(follow_symlinks=False):
                if before is not None and _written_since(entry, before):
                    continue
                remove_quietly(Path(entry.path))
                removed += 1
    return removed


def _written_since(entry: os.DirEntry[str], moment: float) -> bool:
    try:
        return entry.stat(follow_symlinks=False).st_mtime >= moment
    except OSError:
        return True  # gone already, or not ours to look at: leave it


def _same_device(entry: os.DirEntry[str], device: int) -> bool:
    try:
        return entry.stat(follow_symlinks=False).st_dev == device
    except OSError:
        return False


class ExistingFiles:
    """What is on disk under ``root``, from one directory listing per folder, read once.

    ``existing(relative)`` says whether a file exists without a stat per file (100,000
    stats take a fifth of a second or more); :meth:`holds` stats only the files it is asked
    about, which the listing has. A snapshot: files created or removed after the first
    look are not seen.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._root_text = str(root)
        self._listings: dict[str, frozenset[str]] = {}
        self._folded: dict[str, dict[str, str]] = {}

    def __call__(self, relative: str) -> bool:
        folder, _, name = relative.rpartition("/")
        return name in self._listing(folder)

    def holds(self, images: Sequence[ImageRecord], *, verify: bool = False) -> bool:
        """Whether every recorded image is in place: its file exists with the recorded byte
        size (a stat) and, with ``verify``, the recorded sha256 (a read). Only reads: a
        name is not checked for safety here (see :func:`resolve_inside`)."""
        listings = self._listings
        for image in images:  # plain code: 100,000 calls for a done manifest
            relative = image.file
            folder, _, name = relative.rpartition("/")
            listing = listings.get(folder)
            if listing is None:
                listing = listings[folder] = self._list(folder)
            if name not in listing:
                return False
            path = f"{self._root_text}/{relative}"
            try:
                if os.stat(path).st_size != image.bytes:
                    return False
            except OSError:
                return False
            if verify and not _file_matches(path, image, verify=True):
                return False
        return True

    def like(self, relative: str) -> str | None:
        """The relative name of a file that ``relative`` names on a disk that ignores case,
        or None; :data:`~batch_gen.files.naming.EXT_MARK` in ``relative`` stands for any
        image extension."""
        folder, _, name = relative.rpartition("/")
        folded = self._folded.get(folder)
        if folded is None:
            folded = self._folded[folder] = _folded_names(self._listing(folder))
        if not folded:
            return None
        found = folded.get(name.casefold())  # also "<stem>.<EXT_MARK>" for any image
        if found is None and EXT_MARK in name and not name.endswith("." + EXT_MARK):
            candidates = (name.replace(EXT_MARK, ext).casefold() for ext in IMAGE_EXTENSIONS)
            found = next((folded[c] for c in candidates if c in folded), None)
        return None if found is None else (f"{folder}/{found}" if folder else found)

    def is_empty(self) -> bool:
        """Whether the root folder holds nothing but, at most, the state folder."""
        try:
            with os.scandir(self._root) as entries:
                return all(entry.name.casefold() == STATE_DIR_NAME for entry in entries)
        except OSError:
            return True

    def _listing(self, folder: str) -> frozenset[str]:
        listing = self._listings.get(folder)
        if listing is None:
            listing = self._listings[folder] = self._list(folder)
        return listing

    def _list(self, folder: str) -> frozenset[str]:
        try:
            with os.scandir(self._root / folder) as entries:
                return frozenset(entry.name for entry in entries if entry.is_file())
        except OSError:
            return frozenset()


def _folded_names(names: frozenset[str]) -> dict[str, str]:
    """Each name by its case-folded form, and each image by its case-folded stem followed by
    ``.`` and :data:`~batch_gen.files.naming.EXT_MARK`, for :meth:`ExistingFiles.like`."""
    folded = {}
    for name in names:
        folded[name.casefold()] = name
        stem, dot, ext = name.rpartition(".")
        if dot and ext.lower() in IMAGE_EXTENSIONS:
            folded.setdefault(f"{stem}.{EXT_MARK}".casefold(), name)
    return folded
