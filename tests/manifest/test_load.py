"""The manifest file itself: a missing, foreign or undecodable file is one clear problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import manifest_problems


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("missing.yaml", None, "cannot read the manifest"),
        ("jobs.json", b"{}", "unsupported manifest type '.json'"),
        ("jobs.yaml", b"jobs:\n  - prompt: \xff\n", "not valid UTF-8"),
    ],
)
def test_unreadable_manifest(
    tmp_path: Path, name: str, content: bytes | None, fragment: str
) -> None:
    """A missing, foreign or undecodable file is one ManifestError problem, not a crash."""
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    (problem,) = manifest_problems(path)
    assert fragment in problem.message
