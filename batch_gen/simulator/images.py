"""Image synthesis for the simulator: real, decodable PNG / JPEG / WebP at an exact size.

Encoding megabytes of pixels is the expensive part of answering a request, so every encoded
image is cached together with its base64 text, keyed by :class:`ImageSpec`: least recently
used entries go first once the cache's byte budget is spent.

By default an image shows its prompt, written on a colour field that the prompt also picks,
so that a reviewed batch can be told apart image by image; the same prompt always gives the
same bytes. With ``image_labels`` off (the benchmark), a prompt maps to one of a few
*variants* through a stable hash instead, which keeps the number of distinct encodings small
(a 600-image benchmark encodes a handful of images, not 600).

Pillow is imported lazily inside :func:`render`, so importing this module (and the simulator
package) does not load it; only the first rendered image does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from batch_gen.simulator.config import ImageMode, SimulatorConfig
from batch_gen.simulator.pictures import picture


class ImageFormat(StrEnum):
    """Encodings the simulator can produce; values are the API's `output_format` names."""

    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"

    @property
    def has_alpha(self) -> bool:
        """Whether this encoding can carry transparency (JPEG cannot)."""
        return self is not ImageFormat.JPEG

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
    label: str = ""
    """Text written on the picture (the prompt); empty for none. See :func:`spec_for`."""
    transparent: bool = False
    """An RGBA picture whose background is fully transparent. Ignored for JPEG, which has
    no alpha channel: the image stays opaque."""


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


# Longer prompts are cut to this many characters for the label: more than the few lines
# drawn hold at any size, and it keeps a megabyte prompt out of the cache key.
_LABEL_CHARS = 1000


def spec_for(
    config: SimulatorConfig,
    prompt: str,
    *,
    width: int,
    height: int,
    format: ImageFormat,
    variant: int,
    grid: bool = False,
    transparent: bool = False,
) -> ImageSpec:
    """The spec of an image answering *prompt* under *config*: in its image mode, and
    labelled with the prompt unless ``config.image_labels`` is off."""
    return ImageSpec(
        width=width,
        height=height,
        format=format,
        mode=config.image_mode,
        variant=variant,
        grid=grid,
        label=prompt[:_LABEL_CHARS] if config.image_labels else "",
        transparent=transparent,
    )


_JPEG_QUALITY = 90
_WEBP_QUALITY = 85


def _save_options(format: ImageFormat, mode: ImageMode) -> dict[str, Any]:
    """Pillow's encoder options for *format* in *mode*.

    Simple mode's flat bands are encoded with the fast settings: zlib's run-length strategy
    makes a 1024x1024 PNG twice as fast as the default and smaller, WebP's method 0 four
    times as fast. Photo mode keeps the defaults its file sizes were tuned with.
    """
    fast = mode is ImageMode.SIMPLE
    if format is ImageFormat.PNG:
        return {"compress_type": zlib.Z_RLE} if fast else {}
    if format is ImageFormat.JPEG:
        return {"quality": _JPEG_QUALITY}
    return {"quality": _WEBP_QUALITY, "method": 0 if fast else 4}


def render(spec: ImageSpec) -> EncodedImage:
    """Synthesize and encode the image described by *spec*.

    Deterministic: the same spec always gives the same bytes. CPU-bound (tens of ms for a
    1024x1024 photo PNG), so call it from a worker thread when inside an event loop.
    """
    from PIL import Image

    if spec.width < 1 or spec.height < 1:
        raise ValueError(f"image size must be positive, got {spec.width}x{spec.height}")
    transparent = spec.transparent and spec.format.has_alpha

    def draw(width: int, height: int, variant: int) -> Any:
        return picture(
            width,
            height,
            mode=spec.mode,
            variant=variant,
            label=spec.label,
            transparent=transparent,
        )

    if spec.grid:
        canvas = Image.new("RGBA" if transparent else "RGB", (spec.width, spec.height))
        cell_width, cell_height = max(1, spec.width // 2), max(1, spec.height // 2)
        for index in range(4):
            cell = draw(cell_width, cell_height, spec.variant + index)
            canvas.paste(cell, ((index % 2) * cell_width, (index // 2) * cell_height))
    else:
        canvas = draw(spec.width, spec.height, spec.variant)

    buffer = io.BytesIO()
    canvas.save(buffer, format=spec.format.name, **_save_options(spec.format, spec.mode))
    data = buffer.getvalue()
    return EncodedImage(spec=spec, data=data, b64=base64.b64encode(data))


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
