"""Each job's metadata file: readable JSON beside the images, never outside the folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batch_gen.files.naming import UnsafePathError
from batch_gen.files.sidecar import metadata_path, write_metadata

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
