"""Each job's metadata file: readable JSON beside the images, never outside the folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batch_gen.files.naming import UnsafePathError
from batch_gen.files.sidecar import Owner, metadata_path, read_metadata, write_metadata

# --- metadata ---------------------------------------------------------------------------


def test_write_metadata_writes_readable_json(tmp_path: Path) -> None:
    """Metadata is indented UTF-8 JSON with a trailing newline, beside the images."""
    document = {"prompt": "Ein Boot auf dem Wasser, früh am Morgen", "model": "gpt-image-2", "n": 2}
    path = write_metadata(tmp_path, "boats/boat", document)
    assert path == metadata_path(tmp_path, "boats/boat") == tmp_path / "boats" / "boat.json"
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert "früh" in text
    assert '\n  "prompt"' in text
    assert json.loads(text) == document
    assert sorted(p.name for p in path.parent.iterdir()) == ["boat.json"]


def test_write_metadata_refuses_an_escaping_job_id(tmp_path: Path) -> None:
    """A job id that leads outside the output folder is refused before anything is written."""
    with pytest.raises(UnsafePathError):
        write_metadata(tmp_path / "out", "../evil", {})
    assert list(tmp_path.iterdir()) == []


def test_read_metadata_gives_back_key_owner_and_images(tmp_path: Path) -> None:
    """What a run needs back from a metadata file; a missing, broken or foreign-shaped one
    is None, never an error."""
    image = {
        "index": 1,
        "file": "boat.png",
        "format": "png",
        "width": 1,
        "height": 1,
        "bytes": 67,
        "sha256": "ab" * 32,
        "revised_prompt": None,
    }
    document = {
        "id": "boat",
        "key": "k",
        "made_by": "api.cometapi.com",
        "manifest": "/m.yaml",
        "prompt": "p",
        "attempts": 2,
        "provider": {"created": []},
        "images": [image],
    }
    write_metadata(tmp_path, "boat", document)
    sidecar = read_metadata(tmp_path, "boat")
    assert sidecar is not None
    assert sidecar.key == "k"
    assert sidecar.owner == Owner("api.cometapi.com", "/m.yaml")
    assert sidecar.files == ("boat.png",)
    assert (sidecar.images[0].bytes, sidecar.attempts) == (67, 2)

    assert read_metadata(tmp_path, "missing") is None
    assert read_metadata(tmp_path, "../escape") is None
    (tmp_path / "broken.json").write_text("{not json")
    assert read_metadata(tmp_path, "broken") is None
    (tmp_path / "odd.json").write_text('{"images": "none"}')
    assert read_metadata(tmp_path, "odd") is None
    (tmp_path / "old.json").write_text('{"key": "k", "images": []}')  # before owners were kept
    old = read_metadata(tmp_path, "old")
    assert old is not None
    assert old.owner == Owner(None, None)
