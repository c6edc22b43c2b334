"""Image formats and sizes read from the bytes alone, never raising on garbage."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from batch_gen.files.formats import extension_for, image_size, sniff_format


def make_png(width: int, height: int) -> bytes:
    """A real, minimal grey-scale PNG built by hand."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def pillow_image(fmt: str, size: tuple[int, int], *, mode: str = "RGB", **options: object) -> bytes:
    """Encode a blank image with Pillow (skips the test when Pillow is missing)."""
    image_module = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    image_module.new(mode, size).save(buffer, fmt, **options)
    return buffer.getvalue()


# --- formats ----------------------------------------------------------------------------


def test_png_format_and_size_from_hand_built_bytes() -> None:
    """A hand-built PNG is sniffed as png and its IHDR size is read."""
    data = make_png(37, 23)
    assert sniff_format(data) == "png"
    assert image_size(data, "png") == (37, 23)
    assert extension_for("png") == "png"


@pytest.mark.parametrize(
    ("fmt", "pillow_format", "mode", "options"),
    [
        ("jpeg", "JPEG", "RGB", {}),
        ("jpeg", "JPEG", "RGB", {"progressive": True}),
        ("jpeg", "JPEG", "RGB", {"exif": b"Exif\x00\x00" + b"\x00" * 3000}),
        ("webp", "WEBP", "RGB", {}),  # lossy: VP8
        ("webp", "WEBP", "RGB", {"lossless": True}),  # VP8L
        ("webp", "WEBP", "RGBA", {}),  # lossy with alpha: VP8X
        ("gif", "GIF", "P", {}),
        ("png", "PNG", "RGBA", {}),
    ],
)
def test_pillow_images_are_sniffed_and_measured(
    fmt: str, pillow_format: str, mode: str, options: dict[str, object]
) -> None:
    """Real JPEG (baseline, progressive, with EXIF), WebP (VP8, VP8L, VP8X), GIF and PNG."""
    data = pillow_image(pillow_format, (301, 157), mode=mode, **options)
    assert sniff_format(data) == fmt
    assert image_size(data, fmt) == (301, 157)


def test_extensions_use_jpg_for_jpeg() -> None:
    """JPEG images are saved as .jpg; other formats use their own name."""
    assert [extension_for(f) for f in ("png", "jpeg", "webp", "gif")] == [
        "png",
        "jpg",
        "webp",
        "gif",
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 64,
        b"hello, this is not an image at all",
        b"<html><body>502 Bad Gateway</body></html>",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"\xff\xd8",
    ],
)
def test_garbage_is_not_an_image(data: bytes) -> None:
    """Bytes that are not an image give no format and no size, without raising."""
    assert sniff_format(data) is None
    for fmt in ("png", "jpeg", "webp", "gif", "bmp"):
        assert image_size(data, fmt) is None


def test_truncated_headers_give_no_size() -> None:
    """Every truncation of a real image's header gives None (never an exception)."""
    images = {"png": make_png(5, 4)}
    pil = pytest.importorskip("PIL.Image")
    del pil
    images["jpeg"] = pillow_image("JPEG", (5, 4), exif=b"Exif\x00\x00" + b"\x00" * 100)
    images["webp"] = pillow_image("WEBP", (5, 4))
    images["gif"] = pillow_image("GIF", (5, 4), mode="P")
    for fmt, data in images.items():
        header_end = {"png": 24, "jpeg": data.find(b"\xff\xc0") + 9, "webp": 30, "gif": 10}[fmt]
        for cut in range(header_end):
            assert image_size(data[:cut], fmt) is None, (fmt, cut)
        assert image_size(data, fmt) == (5, 4)


def test_corrupt_jpeg_segments_give_no_size() -> None:
    """A JPEG whose marker chain is broken or zero-length is rejected, not looped over."""
    assert image_size(b"\xff\xd8\xff\xe0\x00\x00" + b"\x00" * 20, "jpeg") is None
    assert image_size(b"\xff\xd8\xff\xe0\x00\x04\x00\x00\x12\x34", "jpeg") is None
    assert image_size(b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20, "jpeg") is None
    zero_size_sof = b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x00\x00\x00\x03" + b"\x00" * 20
    assert image_size(zero_size_sof, "jpeg") is None
