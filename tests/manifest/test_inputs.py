"""Inspecting an input file when the manifest is read: content facts, or why it is unusable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from support import PNG

from batch_gen.manifest.inputs import MAX_INPUT_BYTES, InputFacts, InputReader, inspect_input


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "a.png").write_bytes(PNG)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.png", InputFacts(hashlib.sha256(PNG).hexdigest(), len(PNG), "png")),
        ("notes.txt", InputFacts(hashlib.sha256(b"not an image").hexdigest(), 12, None)),
        ("nope.png", "no such file: {path}"),
        ("sub", "{path} is a folder, not an image"),
    ],
)
def test_inspect_input(folder: Path, name: str, expected: InputFacts | str) -> None:
    path = folder / name
    if isinstance(expected, str):
        expected = expected.format(path=path)
    assert inspect_input(path) == expected


def test_reader_resolves_against_the_manifest_folder_and_reads_once(folder: Path) -> None:
    reader = InputReader(folder)
    first = reader.read("sub/../a.png")
    assert first == (folder.resolve() / "a.png", inspect_input(folder / "a.png"))
    (folder / "a.png").write_bytes(b"changed")  # a second job sharing the file sees one version
    assert reader.read("a.png") == first


def test_oversized_input_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with path.open("wb") as file:
        file.truncate(MAX_INPUT_BYTES + 1)  # sparse: no 50 MB written
    assert inspect_input(path) == f"{path} is 52 MB, over the 50 MB input limit"
