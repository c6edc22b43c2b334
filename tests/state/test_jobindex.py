"""The job index: the ids and keys of the exact manifest a run ran, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batch_gen import __version__
from batch_gen.keys import KEY_FORMAT_VERSION
from batch_gen.models import Job
from batch_gen.state.jobindex import read_job_index, write_job_index
from batch_gen.state.layout import INDEX_NAME, STATE_DIR_NAME

SHA = "f" * 64


def _jobs() -> list[Job]:
    return [
        Job(job_id, n, "p", {}, "openai.generations", f"key-{n}")
        for n, job_id in enumerate(["a", 'say "cheese"', "naïve ☕"])
    ]


def test_the_pairs_written_are_read_back_for_the_same_manifest_and_provider(
    tmp_path: Path,
) -> None:
    (tmp_path / STATE_DIR_NAME).mkdir()
    write_job_index(tmp_path, manifest_sha256=SHA, provider="p", jobs=_jobs())
    pairs = read_job_index(tmp_path, manifest_sha256=SHA, provider="p")
    assert pairs == [(job.id, job.key) for job in _jobs()]
    assert all(type(pair) is tuple for pair in pairs or ())
    assert read_job_index(tmp_path, manifest_sha256="e" * 64, provider="p") is None
    assert read_job_index(tmp_path, manifest_sha256=SHA, provider="other") is None


def _document(**changes: Any) -> dict[str, Any]:
    document = {
        "version": __version__,
        "key_format": KEY_FORMAT_VERSION,
        "manifest_sha256": SHA,
        "provider": "p",
        "jobs": [["a", "key-a"]],
    }
    document.update(changes)
    return {name: value for name, value in document.items() if value is not None}


@pytest.mark.parametrize(
    "content",
    [
        json.dumps(_document(version="0.0.0-another")),
        json.dumps(_document(key_format=KEY_FORMAT_VERSION + 1)),
        json.dumps(_document(key_format=str(KEY_FORMAT_VERSION))),
        json.dumps(_document(jobs=[["a", "key-a", "more"]])),
        json.dumps(_document(jobs=[["a"]])),
        json.dumps(_document(jobs=[[1, "key-a"]])),
        json.dumps(_document(jobs={"a": "key-a"})),
        json.dumps(_document(provider=None)),
        json.dumps([_document()]),
        json.dumps(_document())[:-5],
        "",
    ],
)
def test_anything_else_is_a_miss(tmp_path: Path, content: str) -> None:
    """Another version, key format or form, or a damaged file: None, and the manifest is
    read as usual."""
    (tmp_path / STATE_DIR_NAME).mkdir()
    (tmp_path / STATE_DIR_NAME / INDEX_NAME).write_text(content)
    assert read_job_index(tmp_path, manifest_sha256=SHA, provider="p") is None


def test_unknown_fields_are_ignored(tmp_path: Path) -> None:
    (tmp_path / STATE_DIR_NAME).mkdir()
    document = _document(written_by="a newer batch_gen")
    (tmp_path / STATE_DIR_NAME / INDEX_NAME).write_text(json.dumps(document))
    assert read_job_index(tmp_path, manifest_sha256=SHA, provider="p") == [("a", "key-a")]
