"""The pixels of a synthesized image: a colour field, the prompt written on it, and an
alpha channel where a transparent background was asked for.

Pure functions of their arguments (the same arguments always give the same pixels), so
the encoded results can be cached; the few colour fields in use are kept, as they are most
of the cost of a labelled picture. Pillow is imported inside each function: importing this
module does not load it.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import random
from collections.abc import Callable
from typing import Any

from batch_gen.simulator.config import ImageMode

# Blend weight of the per-pixel noise in photo mode. Tuned so a 512x512 PNG is ~0.75 MB
# (raw RGB is 0.79 MB): close to incompressible, like a real photo's PNG.
_PHOTO_NOISE_WEIGHT = 0.45

# Colour fields up to this many pixels (2048x1024) are kept for reuse, four at most: ~25 MB.
_KEPT_FIELD_PIXELS = 2048 * 1024
_CHANNEL_ORDERS = tuple(itertools.permutations(range(3)))

# The label: at most this many lines, in a font scaled to the picture (clamped so a 64 px
# thumbnail still gets legible text and a 4K picture no giant one).
_LABEL_LINES = 5
_FONT_MIN, _FONT_MAX = 10, 56
_ELLIPSIS = "\u2026"
# The panel behind the label keeps this share of the colour beneath: dark enough for
# white text on any colour field.
_PANEL_KEEP = 0.35


def picture(
    width: int, height: int, *, mode: ImageMode, variant: int, label: str, transparent: bool
) -> Any:
    """One picture as a Pillow image: RGB, or RGBA when *transparent*. The caller must not
    change it (an unlabelled opaque picture is shared).

    *variant* picks one of a few colour fields. A non-empty *label* (the prompt) also
    recolours the field (one of 48 ways), so that prompts differ in colour as well as in
    text, and is written across the middle, wrapped to a few lines. With *transparent*,
    everything outside a centred rounded rectangle is fully transparent (alpha 0), the way
    an image model cuts out a subject; the label stays inside the opaque part.
    """
    field = _colour_field(width, height, mode, variant)
    if not (label or transparent):
        return field
    field = _recoloured(field, label) if label else field.copy()
    inset = max(1, min(width, height) // 12) if transparent else 0
    if label:
        _draw_label(field, label, inset=inset)
    if transparent:
        field.putalpha(_cutout_mask(width, height, inset=inset))
    return field


def _colour_field(width: int, height: int, mode: ImageMode, variant: int) -> Any:
    """The colour field of *variant*: kept for reuse up to a few megapixels (a handful of
    fields of the sizes in use are most of the cost of a labelled picture)."""
    if width * height <= _KEPT_FIELD_PIXELS:
        return _kept_field(width, height, mode, variant)
    return _new_field(width, height, mode, variant)


@functools.lru_cache(maxsize=4)
def _kept_field(width: int, height: int, mode: ImageMode, variant: int) -> Any:
    return _new_field(width, height, mode, variant)


def _recoloured(field: Any, label: str) -> Any:
    """A copy of *field* recoloured by a stable hash of *label*: its channels reordered
    (six ways) and some of them inverted (eight ways)."""
    from PIL import Image

    digest = hashlib.blake2b(label.encode("utf-8"), digest_size=8, person=b"colours").digest()
    number = int.from_bytes(digest, "big")
    order = _CHANNEL_ORDERS[number % len(_CHANNEL_ORDERS)]
    inverted = number // len(_CHANNEL_ORDERS)
    channels = field.split()
    recoloured = Image.merge("RGB", tuple(channels[index] for index in order))
    table = [
        255 - value if inverted >> band & 1 else value for band in range(3) for value in range(256)
    ]
    return recoloured.point(table)


def _new_field(width: int, height: int, mode: ImageMode, variant: int) -> Any:
    """Smooth colour ramps under soft random blobs; grainy in photo mode, banded otherwise."""
    from PIL import Image, ImageOps

    rng = random.Random(f"{variant}:{width}x{height}:{mode}")
    size = (width, height)
    # Three ramps in different directions make a smooth colour field; the variant rotates
    # which ramp feeds which channel so variants differ at a glance.
    ramp = Image.linear_gradient("L").resize(size)
    channels = [
        ramp,
        ramp.transpose(Image.Transpose.ROTATE_90).resize(size),
        ramp.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    ]
    shift = variant % 3
    gradient = Image.merge("RGB", tuple(channels[shift:] + channels[:shift]))
    # Low-frequency "blobs": a tiny random image upscaled smoothly, like soft photo content.
    blobs = Image.frombytes("RGB", (6, 6), rng.randbytes(6 * 6 * 3)).resize(
        size, Image.Resampling.BICUBIC
    )
    field = Image.blend(gradient, blobs, 0.6)
    if mode is ImageMode.PHOTO:
        grain = Image.frombytes("RGB", size, rng.randbytes(width * height * 3))
        return Image.blend(field, grain, _PHOTO_NOISE_WEIGHT)
    # 16 levels per channel turn the smooth field into flat bands that PNG compresses
    # ~6x better (a 1024x1024 PNG is ~70 kB instead of ~400 kB).
    return ImageOps.posterize(field, 4)


@functools.lru_cache(maxsize=16)
def _font(size: int) -> Any:
    """Pillow's built-in font at *size* px (its fixed bitmap font when Pillow was built
    without FreeType); no font file is read."""
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def wrap(text: str, *, fits: Callable[[str], bool], max_lines: int) -> list[str]:
    """*text* broken into at most *max_lines* lines that each satisfy ``fits(line)``.

    Breaks between words; a word too long for a line is broken between characters. When
    text is left over, the last line ends with an ellipsis (shortened until it fits).
    Whitespace runs, newlines included, count as one space.
    """
    lines: list[str] = []
    current = ""
    for word in text.split():
        if len(lines) > max_lines:
            break  # enough to know the text does not fit
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        for char in word:
            if current and not fits(current + char):
                lines.append(current)
                current = ""
            current += char
    if current:
        lines.append(current)
    if len(lines) <= max_lines:
        return lines
    last = lines[max_lines - 1]
    while last and not fits(last + _ELLIPSIS):
        last = last[:-1]
    return [*lines[: max_lines - 1], last.rstrip() + _ELLIPSIS]


def _draw_label(field: Any, label: str, *, inset: int) -> None:
    """Write *label* in white on a darkened panel centred on *field* (RGB, in place)."""
    from PIL import ImageDraw

    width, height = field.size
    font_size = max(_FONT_MIN, min(_FONT_MAX, min(width, height) // 24))
    font = _font(font_size)
    pad = max(2, font_size // 3)
    room = width - 2 * (inset + 2 * pad)
    if room < 1:
        return
    lines = wrap(label, fits=lambda line: font.getlength(line) <= room, max_lines=_LABEL_LINES)
    if not lines:
        return
    draw = ImageDraw.Draw(field)
    spacing = pad
    bbox = draw.multiline_textbbox(
        (0, 0), "\n".join(lines), font=font, spacing=spacing, align="center"
    )
    left, top, right, bottom = (round(edge) for edge in bbox)
    text_w, text_h = right - left, bottom - top
    x0 = (width - text_w) // 2 - pad
    y0 = max(inset, (height - text_h) // 2 - pad)
    box = (x0, y0, min(width, x0 + text_w + 2 * pad), min(height, y0 + text_h + 2 * pad))
    panel = field.crop(box).point(lambda value: int(value * _PANEL_KEEP))
    field.paste(panel, box[:2])
    draw.multiline_text(
        (x0 + pad - left, y0 + pad - top),
        "\n".join(lines),
        font=font,
        fill="white",
        spacing=spacing,
        align="center",
    )


def _cutout_mask(width: int, height: int, *, inset: int) -> Any:
    """An L mask: 255 inside a rounded rectangle *inset* px from every edge, 0 outside."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", (width, height), 0)
    radius = max(1, min(width, height) // 6)
    ImageDraw.Draw(mask).rounded_rectangle(
        (inset, inset, width - 1 - inset, height - 1 - inset), radius=radius, fill=255
    )
    return mask
