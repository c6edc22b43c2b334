"""Thumbnails: small WebP data URIs, cached by the image's sha256."""

from __future__ import annotations

import base64
import hashlib
from io import BytesIO
from pathlib import Path

import pytest
from gallery_support import picture
from PIL import Image

from batch_gen.gallery import thumbs
from batch_gen.gallery.collect import GalleryImage
from batch_gen.gallery.thumbs import THUMB_SIZE, render_thumbnail, thumbnails, thumbs_dir


def _decoded(uri: str) -> Image.Image:
    head, _, body = uri.partition(",")
    assert head == "data:image/webp;base64"
    return Image.open(BytesIO(base64.b64decode(body)))


def _image(root: Path, name: str, data: bytes, *, sha256: str = "") -> GalleryImage:
    (root / name).write_bytes(data)
    return GalleryImage(path=name, sha256=sha256)


def test_a_thumbnail_fits_the_box_and_keeps_the_aspect(tmp_path: Path) -> None:
    image = _image(tmp_path, "wide.jpg", picture("a", size=(1536, 1024), fmt="jpeg"))
    uri = thumbnails(tmp_path, [image])["wide.jpg"]
    with _decoded(uri) as thumb:
        assert thumb.size == (THUMB_SIZE, round(THUMB_SIZE * 2 / 3))
    assert len(uri) < 4000


def test_transparency_is_kept() -> None:
    out = BytesIO()
    Image.new("RGBA", (300, 300), (0, 0, 255, 0)).save(out, "PNG")
    data = render_thumbnail(out.getvalue())
    assert data is not None
    with Image.open(BytesIO(data)) as thumb:
        assert thumb.mode == "RGBA"
        assert thumb.getpixel((5, 5))[3] == 0


def test_cached_by_sha256_so_a_rebuild_decodes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = picture("b", size=(512, 512))
    digest = hashlib.sha256(data).hexdigest()
    image = _image(tmp_path, "b.png", data, sha256=digest)
    first = thumbnails(tmp_path, [image])
    cached = list(thumbs_dir(tmp_path).rglob("*.webp"))
    assert [path.name for path in cached] == [f"{digest}-160q60.webp"]

    def no_decoding(data: bytes) -> bytes | None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(thumbs, "render_thumbnail", no_decoding)
    assert thumbnails(tmp_path, [image]) == first


def test_an_image_that_is_missing_or_does_not_decode_has_none(tmp_path: Path) -> None:
    images = [
        _image(tmp_path, "broken.png", b"\x89PNG\r\n\x1a\n not really"),
        GalleryImage(path="gone.png", sha256="0" * 64),
        _image(tmp_path, "fine.png", picture("c")),
    ]
    assert list(thumbnails(tmp_path, images)) == ["fine.png"]
