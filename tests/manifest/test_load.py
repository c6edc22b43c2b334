"""The manifest file itself: a missing, foreign or undecodable file is one clear problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import manifest_problems, write_text

from batch_gen.manifest import load_manifest


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


def test_output_dir_follows_the_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """output.dir is relative to the manifest's folder and expands ~; without it the folder
    is output/<stem> under the working directory."""
    folder = tmp_path / "project"
    folder.mkdir()
    written = write_text(folder, "output: {dir: renders}\njobs:\n  - prompt: a\n")
    home = write_text(folder, "output: {dir: ~/renders}\njobs:\n  - prompt: a\n", name="h.yaml")
    plain = write_text(folder, "jobs:\n  - prompt: a\n", name="plain.yaml")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert load_manifest(Path("project/jobs.yaml")).output.dir == Path("project/renders")
    assert load_manifest(written).output.dir == folder / "renders"
    assert load_manifest(home).output.dir == tmp_path / "home" / "renders"
    assert load_manifest(plain).output.dir == Path("output/plain")
