"""Thumbnails that travel inside the gallery page: small WebP images as data URIs.

Each is at most :data:`THUMB_SIZE` pixels on its longer side (transparency kept), about
2-5 KB, and cached under ``<output>/.batch_gen/thumbs/`` by the sha256 of the image it
shows, so a rebuilt page decodes only the images that are new. Making one means decoding
the whole image (about 20 ms for a 1536x1024 PNG): misses are made on a few threads,
since Pillow decodes and encodes without holding the GIL.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

from batch_gen.files.atomic import write_atomic
from batch_gen.state.layout import STATE_DIR_NAME

from .collect import GalleryImage

THUMB_SIZE = 160
THUMB_QUALITY = 60
THUMBS_DIR_NAME = "thumbs"
_VARIANT = f"{THUMB_SIZE}q{THUMB_QUALITY}"  # in the cache name: other settings, other files
_DATA_URI = "data:image/webp;base64,"


def thumbs_dir(root: Path) -> Path:
    """Where the thumbnails of an output folder are cached."""
    return root / STATE_DIR_NAME / THUMBS_DIR_NAME


def thumbnails(root: Path, images: Iterable[GalleryImage]) -> dict[str, str]:
    """A data URI per image path (relative to ``root``); images that cannot be read or
    decoded have none. Cached thumbnails are used as they are; the others are made and
    cached (a cache that cannot be written is no error). Blocking."""
    wanted = {image.path: image for image in images}
    uris: dict[str, str] = {}
    missing: list[GalleryImage] = []
    for path, image in wanted.items():
        cached = _read_cached(root, image.sha256) if image.sha256 else None
        if cached is None:
            missing.append(image)
        else:
            uris[path] = _DATA_URI + base64.b64encode(cached).decode("ascii")
    if missing:
        workers = min(4, os.cpu_count() or 1, len(missing))
        with ThreadPoolExecutor(workers, thread_name_prefix="thumbs") as pool:
            made = pool.map(lambda image: _make(root, image), missing)
            for image, data in zip(missing, made, strict=True):
                if data is not None:
                    uris[image.path] = _DATA_URI + base64.b64encode(data).decode("ascii")
    return uris


def _cache_path(root: Path, sha256: str) -> Path:
    return thumbs_dir(root) / sha256[:2] / f"{sha256}-{_VARIANT}.webp"


def _read_cached(root: Path, sha256: str) -> bytes | None:
    try:
        return _cache_path(root, sha256).read_bytes() or None
    except OSError:
        return None


def _make(root: Path, image: GalleryImage) -> bytes | None:
    """The thumbnail of one image, cached by the sha256 of its bytes; None when the file
    cannot be read or is not an image Pillow decodes."""
    try:
        data = (root / image.path).read_bytes()
    except OSError:
        return None
    thumb = render_thumbnail(data)
    if thumb is not None:
        with contextlib.suppress(OSError):
            write_atomic(_cache_path(root, hashlib.sha256(data).hexdigest()), thumb)
    return thumb


def render_thumbnail(data: bytes) -> bytes | None:
    """``data`` (an image file's bytes) as a WebP thumbnail, or None if it does not
    decode. Pure."""
    from PIL import Image  # only the gallery and the simulator need Pillow

    try:
        with Image.open(BytesIO(data)) as opened:
            opened.draft("RGB", (THUMB_SIZE * 2, THUMB_SIZE * 2))  # JPEG: decode at 1/2..1/8
            picture = opened.convert("RGBA" if _has_alpha(opened) else "RGB")
        picture.thumbnail((THUMB_SIZE, THUMB_SIZE), reducing_gap=2.0)
        out = BytesIO()
        picture.save(out, "WEBP", quality=THUMB_QUALITY, method=4)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return out.getvalue()


def _has_alpha(picture: object) -> bool:
    mode = getattr(picture, "mode", "")
    info: Mapping[str, object] = getattr(picture, "info", {})
    return mode in ("RGBA", "LA", "PA") or "transparency" in info
