"""Image synthesis for the simulator: real, decodable PNG / JPEG / WebP at an exact size.

Encoding megabytes of pixels is the expensive part of answering a request, so every encoded
image is cached together with its base64 text, keyed by :class:`ImageSpec`. A prompt maps to
one of a few *variants* through a stable hash, which keeps the number of distinct encodings
small (a 600-image benchmark encodes a handful of images, not 600) while still letting
different prompts get visibly different pictures.

Pillow is imported lazily inside :func:`render`, so importing this module (and the simulator
package) does not load it; only the first rendered image does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import random
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from batch_gen.simulator.config import ImageMode


class ImageFormat(StrEnum):
    """Encodings the simulator can produce; values are the API's `output_format` names."""

    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"

    @property
    def content_type(self) -> str:
        """The MIME type of this encoding."""
        return f"image/{self.value}"


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """Everything that decides the bytes of a synthesized image (the cache key)."""

    width: int
    height: int
    format: ImageFormat
    mode: ImageMode
    variant: int
    grid: bool = False
    """A 2x2 grid of four pictures (variants ``variant`` to ``variant + 3``), as a
    Midjourney imagine result is; each cell is half the width and height."""


@dataclass(frozen=True, slots=True)
class EncodedImage:
    """An encoded image and its standard base64 text (ASCII bytes, no newlines)."""

    spec: ImageSpec
    data: bytes
    b64: bytes

    @property
    def content_type(self) -> str:
        """The MIME type matching the real encoding of :attr:`data`."""
        return self.spec.format.content_type

    @property
    def cost(self) -> int:
        """Approximate memory held by this entry, in bytes (used for the cache budget)."""
        return len(self.data) + len(self.b64)


def variant_for(prompt: str, variants: int) -> int:
    """Return a variant number in ``range(variants)`` that depends only on *prompt*.

    Uses a cryptographic hash rather than :func:`hash`, whose value changes between
    processes, so the same prompt gets the same picture in every run.
    """
    if variants < 1:
        raise ValueError("variants must be >= 1")
    digest = hashlib.blake2b(prompt.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % variants


# Blend weight of the per-pixel noise in photo mode. Tuned so a 512x512 PNG is ~0.75 MB
# (raw RGB is 0.79 MB): close to incompressible, like a real photo's PNG.
_PHOTO_NOISE_WEIGHT = 0.45
_JPEG_QUALITY = 90
_WEBP_QUALITY = 85


def render(spec: ImageSpec) -> EncodedImage:
    """Synthesize and encode the image described by *spec*.

    Deterministic: the same spec always gives the same bytes. CPU-bound (tens of ms for a
    1024x1024 photo PNG), so call it from a worker thread when inside an event loop.
    """
    from PIL import Image

    if spec.width < 1 or spec.height < 1:
        raise ValueError(f"image size must be positive, got {spec.width}x{spec.height}")
    if spec.grid:
        picture = Image.new("RGB", (spec.width, spec.height))
        cell_width, cell_height = max(1, spec.width // 2), max(1, spec.height // 2)
        for index in range(4):
            cell = _picture(cell_width, cell_height, spec.mode, spec.variant + index)
            picture.paste(cell, ((index % 2) * cell_width, (index // 2) * cell_height))
    else:
        picture = _picture(spec.width, spec.height, spec.mode, spec.variant)

    buffer = io.BytesIO()
    if spec.format is ImageFormat.PNG:
        picture.save(buffer, format="PNG")
    elif spec.format is ImageFormat.JPEG:
        picture.save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    else:
        picture.save(buffer, format="WEBP", quality=_WEBP_QUALITY)
    data = buffer.getvalue()
    return EncodedImage(spec=spec, data=data, b64=base64.b64encode(data))


def _picture(width: int, height: int, mode: ImageMode, variant: int) -> Any:
    """One synthesized picture as a Pillow RGB image."""
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
    picture = Image.blend(gradient, blobs, 0.6)
    if mode is ImageMode.PHOTO:
        grain = Image.frombytes("RGB", size, rng.randbytes(width * height * 3))
        return Image.blend(picture, grain, _PHOTO_NOISE_WEIGHT)
    # 16 levels per channel turn the smooth field into flat bands that PNG compresses
    # ~6x better (a 1024x1024 PNG is ~70 kB instead of ~400 kB).
    return ImageOps.posterize(picture, 4)


class ImageCache:
    """A bounded, single-flight cache of :class:`EncodedImage` keyed by :class:`ImageSpec`.

    Entries are evicted least-recently-used once their total :attr:`EncodedImage.cost`
    exceeds *max_bytes* (the newest entry is always kept, however large). Concurrent misses
    for the same spec share one render, done in a worker thread so the event loop keeps
    serving. Bound to the event loop of its first :meth:`get`.
    """

    def __init__(self, *, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[ImageSpec, EncodedImage] = OrderedDict()
        self._pending: dict[ImageSpec, asyncio.Future[EncodedImage]] = {}
        self._bytes = 0
        self.renders = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """Total cost of the cached entries."""
        return self._bytes

    async def get(self, spec: ImageSpec) -> EncodedImage:
        """Return the encoded image for *spec*, rendering it at most once while cached."""
        cached = self._entries.get(spec)
        if cached is not None:
            self._entries.move_to_end(spec)
            return cached
        pending = self._pending.get(spec)
        if pending is None:
            self.renders += 1
            pending = asyncio.ensure_future(asyncio.to_thread(render, spec))
            self._pending[spec] = pending
            pending.add_done_callback(lambda done: self._settle(spec, done))
        # Shielded: one cancelled requester must not cancel the render others wait for.
        return await asyncio.shield(pending)

    def _settle(self, spec: ImageSpec, done: asyncio.Future[EncodedImage]) -> None:
        del self._pending[spec]
        # Checking exception() also marks it retrieved, so a failed render nobody awaited
        # does not log "exception was never retrieved".
        if done.cancelled() or done.exception() is not None:
            return
        image = done.result()
        self._entries[spec] = image
        self._bytes += image.cost
        while self._bytes > self._max_bytes and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.cost
