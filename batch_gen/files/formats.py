"""Image formats from the bytes themselves: which format, its extension, its pixel size.

Pure and header-only: the format comes from the magic bytes, the size from the header
fields, so both are fast on an image of any size and never trust what a server claims.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

#: File extension per sniffed format. JPEG files get the customary ``.jpg``.
EXTENSIONS: Mapping[str, str] = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif"}


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
