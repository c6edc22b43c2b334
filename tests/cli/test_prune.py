"""batch_gen prune: lists, then with --delete removes, and never while a run holds the
folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import write_text

from batch_gen.files.sidecar import manifest_reference
from batch_gen.manifest import load_manifest
from batch_gen.state.journal import StateStore

MANIFEST = """
version: 1
defaults: {model: gpt-image-2, size: 1024x1024}
output: {dir: out}
jobs:
  - {id: keep, prompt: "kept"}
"""


def made(root: Path, job_id: str, *, manifest: str) -> None:
    """A job's image and metadata file as a run writes them."""
    (root / f"{job_id}.png").parent.mkdir(parents=True, exist_ok=True)
    (root / f"{job_id}.png").write_bytes(b"png")
    image = {"index": 1, "file": f"{job_id}.png", "sha256": "0" * 64, "bytes": 3}
    sidecar = {"id": job_id, "key": "k" * 64, "manifest": manifest, "images": [image]}
    (root / f"{job_id}.json").write_text(json.dumps(sidecar))


def test_the_command_lists_then_deletes(tmp_path: Path) -> None:
    manifest = load_manifest(write_text(tmp_path, MANIFEST))
    root = tmp_path / "out"
    ours = manifest_reference(manifest.path, root)
    made(root, "keep", manifest=ours)
    made(root, "icons/deep/old", manifest=ours)
    made(root, "theirs", manifest="/elsewhere/other.yaml")

    def prune(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "batch_gen", "prune", "jobs.yaml", *flags],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )

    listed = prune()
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0] == (
        f"1 job in {root} no longer in jobs.yaml: 2 files (1 KB)"
    )
    assert "run again with --delete" in listed.stdout
    assert (root / "icons/deep/old.png").exists()
    with StateStore.open(root):  # a run holds the folder: prune must not race it
        refused = prune("--delete")
    assert refused.returncode == 3
    assert "prune --delete removes nothing while a run holds the folder" in refused.stderr
    assert (root / "icons/deep/old.png").exists()
    deleted = prune("--delete")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.startswith(
        f"removed 2 files (1 KB) of 1 job no longer in jobs.yaml from {root}"
    )
    assert not (root / "icons").exists()  # emptied folders go too
    assert sorted(p.name for p in root.iterdir()) == [
        ".batch_gen", "keep.json", "keep.png", "theirs.json", "theirs.png"
    ]  # fmt: skip
    assert prune("--delete").stdout.startswith("nothing to prune")
