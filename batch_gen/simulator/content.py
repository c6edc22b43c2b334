"""Pure helpers about content: trigger words, image sniffing and headers, base64 input,
aspect-ratio sizing."""

from __future__ import annotations

import base64
import binascii
import io

from batch_gen.simulator.images import ImageFormat


def contains_word(text: str, word: str | None) -> bool:
    """Whether *word* (when set) occurs in *text*, ignoring case."""
    return word is not None and word != "" and word.lower() in text.lower()


def sniff_image(data: bytes) -> ImageFormat | None:
    """The real encoding of *data* from its magic bytes (PNG, JPEG, WebP), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if data.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat.WEBP
    return None


def image_header(data: bytes) -> tuple[int, int, str] | None:
    """Width, height and Pillow mode of an encoded image, reading only its header; None
    when Pillow cannot identify it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            mode = str(image.mode)
            if mode == "P" and "transparency" in image.info:
                mode = "PA"
            return width, height, mode
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def decode_base64_image(text: str) -> bytes | None:
    """Decode raw base64 or a ``data:<mime>;base64,`` URI; None when it is not base64."""
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def size_for_ratio(ratio: str, long_side: int, *, multiple: int = 16) -> tuple[int, int] | None:
    """``W:H`` scaled so its long side is *long_side*, the short side rounded to *multiple*;
    None when *ratio* is not two positive integers."""
    left, sep, right = ratio.partition(":")
    if not sep or not left.strip().isdigit() or not right.strip().isdigit():
        return None
    width, height = int(left), int(right)
    if width < 1 or height < 1:
        return None
    if width >= height:
        short = max(multiple, round(long_side * height / width / multiple) * multiple)
        return long_side, min(short, long_side)
    short = max(multiple, round(long_side * width / height / multiple) * multiple)
    return min(short, long_side), long_side


def format_label(data: bytes | None) -> str:
    """How stats name an uploaded image: its sniffed format, ``unknown``, or ``url`` for an
    image given by URL (*data* None)."""
    if data is None:
        return "url"
    fmt = sniff_image(data)
    return fmt.value if fmt else "unknown"
