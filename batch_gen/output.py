"""Image files on disk: their names, their formats, crash-safe writes and metadata.

Everything here is either pure (file names, path checks, format sniffing) or a small,
self-contained file operation. The crash-safety protocol the runner follows for each image:

1. write the bytes to :func:`temp_path_for` ``(final, sha256)`` with :func:`write_partial`;
2. record the image (with its sha256) in the state store;
3. move it into place with :func:`commit_partial` (an ``os.replace``).

A run killed between any two steps never leaves a half-written file under a final name, and
on resume :func:`recover_image` finds an image saved in step 1 and recorded in step 2 and
finishes step 3, so it is never requested again. Only then should the runner call
:func:`remove_stale_partials`, which deletes the temp files nobody recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import secrets
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from batch_gen.errors import BatchGenError
from batch_gen.keys import short_key
from batch_gen.models import ImageRecord, Job

STATE_DIR_NAME = ".batch_gen"  # the state store's folder inside the output folder
PARTIAL_SUFFIX = ".part"

#: The file-name placeholders, in the order messages list them.
PLACEHOLDERS = ("id", "index", "n", "model", "key", "ext")

#: File extension per sniffed format. JPEG files get the customary ``.jpg``.
EXTENSIONS: Mapping[str, str] = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif"}

PLACEHOLDER_PATTERN = re.compile(r"\{([^{}]*)\}")
_UNSAFE_MODEL_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Both temp-name forms: ".<name>.<sha256[:12]>.part" and ".<name>.<12 random hex>.part".
# Matching them exactly keeps remove_stale_partials off files that are not ours.
_PARTIAL_NAME = re.compile(r"\..+\.[0-9a-f]{12}\.part")


class UnsafePathError(BatchGenError, ValueError):
    """A relative output path is empty, absolute, or would land outside the output folder
    (or inside its state folder)."""


# --- file names (pure) ------------------------------------------------------------------


def render_filename(
    template: str, *, job: Job, image_number: int, image_count: int, ext: str
) -> str:
    """Return the relative, '/'-separated file name of one image of ``job``.

    Placeholders: ``{id}``, ``{index}`` (the job's 1-based manifest position), ``{n}`` (the
    1-based image number), ``{model}`` (the model with every character outside
    ``[A-Za-z0-9._-]`` replaced by ``_``), ``{key}`` (the first 12 hex digits of the job
    key) and ``{ext}`` (the extension of the real format, see :data:`EXTENSIONS`).

    When ``image_count > 1`` and the template has no ``{n}``, ``-{n}`` is inserted before
    the last ``.{ext}`` (or appended when there is none), so ``{id}.{ext}`` becomes
    ``{id}-{n}.{ext}`` and the images of one job never collide.

    The result is not checked for safety: pass it through :func:`resolve_inside`.

    Raises:
        ValueError: the template uses a placeholder other than those above.
    """
    if image_count > 1 and "{n}" not in template:
        template = _insert_image_number(template)
    values = {
        "id": job.id,
        "index": str(job.index),
        "n": str(image_number),
        "model": _UNSAFE_MODEL_CHARS.sub("_", job.model),
        "key": short_key(job.key),
        "ext": ext,
    }

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ValueError(f"unknown placeholder {{{name}}} in file name {template!r}")
        return values[name]

    return PLACEHOLDER_PATTERN.sub(substitute, template)


def unknown_placeholders(template: str) -> tuple[str, ...]:
    """Return the placeholder names in ``template`` that :func:`render_filename` rejects."""
    return tuple(name for name in PLACEHOLDER_PATTERN.findall(template) if name not in PLACEHOLDERS)


def _insert_image_number(template: str) -> str:
    position = template.rfind(".{ext}")
    if position < 0:
        return template + "-{n}"
    return template[:position] + "-{n}" + template[position:]


def resolve_inside(root: Path, relative: str) -> Path:
    """Join ``relative`` to ``root`` and return the normalised path, or refuse it.

    ``relative`` must be a non-empty, '/'-separated relative path with no backslash, drive
    or NUL, that after resolving ``.`` and ``..`` segments names something strictly inside
    ``root`` and outside its state folder ``.batch_gen`` (compared case-insensitively, for
    case-insensitive file systems). Names of the temp-file form ``.<name>.<12 hex>.part``
    are refused too, since :func:`remove_stale_partials` would delete them. Pure: the file
    system is not consulted, so symbolic links are not followed.

    Raises:
        UnsafePathError: with the reason.
    """
    reason = _unsafe_reason(relative)
    if reason is not None:
        raise UnsafePathError(f"unsafe output path {relative!r}: {reason}")
    return root.joinpath(*posixpath.normpath(relative).split("/"))


def _unsafe_reason(relative: str) -> str | None:
    if not relative:
        return "it is empty"
    if "\\" in relative or "\x00" in relative:
        return "it contains a backslash or NUL character"
    if _DRIVE.match(relative):
        return "it names a drive"
    if relative.startswith("/"):
        return "it is absolute"
    normal = posixpath.normpath(relative)
    parts = normal.split("/")
    if normal == "." or parts[0] == "..":
        return "it does not name a file inside the output folder"
    if parts[0].casefold() == STATE_DIR_NAME:
        return f"it lies inside the state folder {STATE_DIR_NAME}"
    if _is_partial_name(parts[-1]):
        return "names like '.<name>.<12 hex digits>.part' are reserved for temporary files"
    return None


# --- formats (pure, header only) --------------------------------------------------------


def sniff_format(data: bytes) -> str | None:
    """Return ``'png'``, ``'jpeg'``, ``'webp'`` or ``'gif'`` from the magic bytes, else None.

    Looks at the first 16 bytes only; never raises.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def extension_for(fmt: str) -> str:
    """Return the file extension (without dot) for a format from :func:`sniff_format`."""
    return EXTENSIONS.get(fmt, fmt)


def image_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """Return ``(width, height)`` read from the header of an image in format ``fmt``.

    Reads headers only (a JPEG's marker segments are skipped by their lengths, not
    scanned), so it is fast on any size of image. Returns None, and never raises, when the
    data is truncated, malformed or in another format.
    """
    reader = _SIZE_READERS.get(fmt)
    if reader is None:
        return None
    try:
        size = reader(data)
    except (struct.error, IndexError, ValueError):
        return None
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return size


def _png_size(data: bytes) -> tuple[int, int] | None:
    # The IHDR chunk must come first: signature (8), length (4), type (4), width, height.
    if sniff_format(data) != "png" or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG, DAC are not SOFs
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})  # markers with no length field


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if sniff_format(data) != "jpeg":
        return None
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in _JPEG_STANDALONE:
            position += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame
            return None
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        if length < 2:
            return None
        position += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if sniff_format(data) != "webp":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: a key frame starts with a 3-byte tag and 9d 01 2a
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":  # lossless: 0x2f, then 14-bit width-1 and height-1
        if data[20] != 0x2F:
            return None
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24-bit canvas width-1 and height-1
        canvas = data[24:30]
        if len(canvas) < 6:
            return None
        return int.from_bytes(canvas[:3], "little") + 1, int.from_bytes(canvas[3:], "little") + 1
    return None


def _gif_size(data: bytes) -> tuple[int, int] | None:
    if sniff_format(data) != "gif":
        return None
    width, height = struct.unpack("<HH", data[6:10])
    return width, height


_SIZE_READERS = {"png": _png_size, "jpeg": _jpeg_size, "webp": _webp_size, "gif": _gif_size}


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


# --- crash-safe writes ------------------------------------------------------------------


def temp_path_for(final: Path, sha256: str) -> Path:
    """Return the deterministic temp name for an image: ``.<name>.<sha256[:12]>.part``.

    Deterministic so that :func:`recover_image` can find it again after a crash.
    """
    return final.parent / f".{final.name}.{sha256[:12]}{PARTIAL_SUFFIX}"


def write_atomic(
    path: Path, data: bytes, *, temp: Path | None = None, durable: bool = False
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
        temp = path.parent / f".{path.name}.{secrets.token_hex(6)}{PARTIAL_SUFFIX}"
    _write_file(temp, data, durable=durable)
    try:
        os.replace(temp, path)
    except BaseException:
        _remove_quietly(temp)
        raise
    if durable:
        _fsync_dir(path.parent)


def write_partial(final: Path, data: bytes, *, sha256: str, durable: bool = False) -> Path:
    """Write step 1 of the protocol: ``data`` to ``temp_path_for(final, sha256)``.

    Returns the temp path, to pass to :func:`commit_partial` once the image is recorded.

    Raises:
        OSError: writing failed; the temp file has been removed.
    """
    temp = temp_path_for(final, sha256)
    _write_file(temp, data, durable=durable)
    return temp


def commit_partial(temp: Path, final: Path, *, durable: bool = False) -> None:
    """Write step 3 of the protocol: move a recorded temp file to its final name.

    Raises:
        OSError: the rename failed (the temp file is left for :func:`recover_image`).
    """
    os.replace(temp, final)
    if durable:
        _fsync_dir(final.parent)


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


def _file_matches(path: Path, record: ImageRecord, *, verify: bool) -> bool:
    try:
        if path.stat().st_size != record.bytes:
            return False
        return not verify or sha256_hex(path.read_bytes()) == record.sha256
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return False


def remove_stale_partials(root: Path) -> int:
    """Delete leftover temp files anywhere under ``root``; return how many.

    Only names of the two forms this module writes (``.<name>.<12 hex digits>.part``) are
    deleted. The state folder ``root/.batch_gen`` and symbolic links to folders are not
    entered.
    One ``os.scandir`` walk, no per-file ``stat`` beyond what scandir provides.

    Call it only after :func:`recover_image` has run for every recorded image, or it
    deletes images that were saved and recorded but not yet moved into place.
    """
    removed = 0
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not (folder == root and entry.name.casefold() == STATE_DIR_NAME):
                    pending.append(Path(entry.path))
            elif _is_partial_name(entry.name) and entry.is_file(follow_symlinks=False):
                _remove_quietly(Path(entry.path))
                removed += 1
    return removed


def _is_partial_name(name: str) -> bool:
    return _PARTIAL_NAME.fullmatch(name) is not None


def _write_file(path: Path, data: bytes, *, durable: bool) -> None:
    """Create or truncate ``path`` and write all of ``data``; remove it on any failure."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags, 0o666)
    except FileNotFoundError:  # the folder is missing: create it only then, not every time
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked (signals, pipes, quotas)
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _remove_quietly(path)
        raise


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


class ExistingFiles:
    """``existing(relative)``: whether a file exists under ``root``, from one directory
    listing per folder, read once, instead of a stat per file (100,000 stats take most of a
    second). A snapshot: files created or removed after the first look are not seen."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._listings: dict[str, frozenset[str]] = {}

    def __call__(self, relative: str) -> bool:
        folder, _, name = relative.rpartition("/")
        listing = self._listings.get(folder)
        if listing is None:
            listing = self._listings[folder] = self._list(folder)
        return name in listing

    def _list(self, folder: str) -> frozenset[str]:
        try:
            with os.scandir(self._root / folder) as entries:
                return frozenset(entry.name for entry in entries if entry.is_file())
        except OSError:
            return frozenset()


# --- metadata ---------------------------------------------------------------------------


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
