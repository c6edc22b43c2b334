"""prune: only files batch_gen made for this manifest, of jobs no longer in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import write_text

from batch_gen.files.sidecar import manifest_reference
from batch_gen.manifest import load_manifest
from batch_gen.models import ImageRecord, JobRecord, JobStatus, Manifest
from batch_gen.planning.prune import format_prune, metadata_ids, plan_prune
from batch_gen.state.journal import StateStore

MANIFEST = """
version: 1
defaults: {model: gpt-image-2, size: 1024x1024}
output: {dir: out}
jobs:
  - {id: keep, prompt: "kept"}
  - {id: boat, prompt: "a boat"}
  - {id: a-1, prompt: "a job named like another job's second image"}
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
    return load_manifest(write_text(tmp_path, MANIFEST))


def made(
    root: Path, job_id: str, *, manifest: str | None, files: tuple[str, ...] | None = None
) -> None:
    """A job's images and metadata file as a run writes them."""
    names = files or (f"{job_id}.png",)
    images = []
    for number, name in enumerate(names, 1):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"png" * number)
        images.append({"index": number, "file": name, "sha256": "0" * 64, "bytes": 3 * number})
    sidecar = {"id": job_id, "key": "k" * 64, "made_by": "api.cometapi.com", "images": images}
    if manifest is not None:
        sidecar["manifest"] = manifest
    (root / f"{job_id}.json").write_text(json.dumps(sidecar))


def test_only_jobs_made_for_this_manifest_and_gone_from_it(
    tmp_path: Path, manifest: Manifest
) -> None:
    root = tmp_path / "out"
    ours = manifest_reference(manifest.path, root)
    made(root, "keep", manifest=ours)
    made(root, "gone", manifest=ours)
    made(root, "icons/old", manifest=ours)
    made(root, "theirs", manifest="/elsewhere/other.yaml")
    made(root, "ancient", manifest=None)  # metadata from before manifests were recorded
    (root / "report.json").write_text(json.dumps({"manifest": ours, "jobs": []}))
    (root / "notes.json").write_text("[1, 2]")
    (root / "mine.png").write_bytes(b"a file of one's own")
    nested = root / "nested"
    made(nested, "deep", manifest=ours)
    (nested / ".batch_gen").mkdir()  # another output folder inside this one
    found = plan_prune(manifest, root)
    assert [(job.job_id, job.files) for job in found.removed] == [
        ("gone", ("gone.png", "gone.json")),
        ("icons/old", ("icons/old.png", "icons/old.json")),
    ]
    assert found.unclaimed == 2  # "theirs" and "ancient"
    assert found.bytes == 2 * 3 + sum(
        (root / f).stat().st_size for f in ("gone.json", "icons/old.json")
    )
    assert sorted(metadata_ids(root)) == sorted(
        ["keep", "gone", "icons/old", "theirs", "ancient", "report", "notes"]
    )


def test_ids_are_compared_ignoring_case(tmp_path: Path, manifest: Manifest) -> None:
    made(tmp_path / "out", "BOAT", manifest=manifest_reference(manifest.path, tmp_path / "out"))
    assert plan_prune(manifest, tmp_path / "out").removed == ()


def test_a_file_a_job_of_the_manifest_names_is_kept(tmp_path: Path, manifest: Manifest) -> None:
    """A removed job 'a' of two images wrote a-1.png; the manifest's job 'a-1' is named
    a-1.<ext> too: that file stays, whatever its extension."""
    root = tmp_path / "out"
    made(root, "a", manifest=manifest_reference(manifest.path, root), files=("a-1.webp", "a-2.png"))
    found = plan_prune(manifest, root)
    (job,) = found.removed
    assert job.files == ("a-2.png", "a.json")
    assert found.shared == ("a-1.webp",)
    assert "kept, since a job of the manifest names them too: a-1.webp" in format_prune(
        found, manifest="jobs.yaml", deleted=False
    )


def test_the_state_finds_older_files_and_unowned_jobs_stay(
    tmp_path: Path, manifest: Manifest
) -> None:
    root = tmp_path / "out"
    made(root, "gone", manifest=manifest_reference(manifest.path, root), files=("gone-v2.png",))
    (root / "gone-v1.png").write_bytes(b"the version before")
    (root / "lost.png").write_bytes(b"its metadata file was deleted")
    image = ImageRecord(number=1, file="gone-v1.png", sha256="1" * 64, bytes=18)
    with StateStore.open(root) as store:
        store.put(JobRecord(id="gone", key="old", status=JobStatus.SUCCEEDED, images=(image,)))
        lost = ImageRecord(number=1, file="lost.png", sha256="2" * 64, bytes=29)
        store.put(JobRecord(id="lost", key="k", status=JobStatus.SUCCEEDED, images=(lost,)))
        evil = ImageRecord(number=1, file="../outside.png", sha256="3" * 64, bytes=1)
        store.put(JobRecord(id="gone2", key="k", status=JobStatus.SUCCEEDED, images=(evil,)))
    (tmp_path / "outside.png").write_bytes(b"x")
    made(root, "gone2", manifest=manifest_reference(manifest.path, root))
    found = plan_prune(manifest, root)
    assert [(job.job_id, job.files) for job in found.removed] == [
        ("gone", ("gone-v2.png", "gone-v1.png", "gone.json")),
        ("gone2", ("gone2.png", "gone2.json")),
    ]
    assert found.unclaimed == 1  # "lost": the state has it, no metadata says whose


def test_nothing_to_prune_says_so(tmp_path: Path, manifest: Manifest) -> None:
    text = format_prune(
        plan_prune(manifest, tmp_path / "missing"), manifest="jobs.yaml", deleted=False
    )
    assert text.startswith("nothing to prune: every job in ")
