"""The checked read of an input file at send time: unchanged passes, anything else refuses."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from batch_gen.errors import InvalidRequestError
from batch_gen.inputs import content_sha256, read_input
from batch_gen.models import InputFile

ORIGINAL = b"\x89PNG\r\n\x1a\noriginal bytes"


def _untouched(path: Path) -> None:
    pass


def _edited(path: Path) -> None:
    path.write_bytes(ORIGINAL + b" edited")


def _removed(path: Path) -> None:
    path.unlink()


def _made_a_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (_untouched, None),
        (_edited, "changed since the manifest was read"),
        (_removed, "cannot read the input image"),
        (_made_a_folder, "cannot read the input image"),
    ],
)
def test_read_input(tmp_path: Path, change: Callable[[Path], None], fragment: str | None) -> None:
    path = tmp_path / "ref.png"
    path.write_bytes(ORIGINAL)
    item = InputFile("image", path, content_sha256(ORIGINAL), len(ORIGINAL), "png")
    change(path)
    if fragment is None:
        assert read_input(item) == ORIGINAL
        return
    with pytest.raises(InvalidRequestError) as caught:
        read_input(item)
    assert fragment in str(caught.value)
    assert str(path) in str(caught.value)
    assert caught.value.retryable is False


def test_the_mask_role_is_named(tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    path.write_bytes(ORIGINAL)
    item = InputFile("mask", path, "0" * 64, len(ORIGINAL), "png")
    with pytest.raises(InvalidRequestError, match=r"the input mask .*mask\.png changed"):
        read_input(item)


def test_digest_is_sha256_hex() -> None:
    assert content_sha256(b"abc") == hashlib.sha256(b"abc").hexdigest()
