"""Kept versions: a job's images and metadata file, kept before a run replaces them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from gallery_support import make_folder

from batch_gen.gallery.versions import (
    job_versions_dir,
    jobs_with_versions,
    keep_version,
    read_version,
    version_numbers,
)

JOBS = """
- id: boat
  prompt: A paper boat.
- id: pair
  prompt: Two teapots.
  n: 2
- id: icons/cloud
  prompt: A cloud icon.
"""


def test_keeps_the_images_and_metadata_as_version_1_then_2(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, JOBS)
    first = folder.succeed("pair")
    kept = keep_version(folder.root, "pair", files=first.files)
    assert kept == folder.root / ".batch_gen" / "versions" / "pair" / "1"
    assert sorted(path.name for path in kept.iterdir()) == [
        "metadata.json",
        "pair-1.png",
        "pair-2.png",
    ]
    assert json.loads((kept / "metadata.json").read_text())["key"] == first.key
    old_bytes = (folder.root / "pair-1.png").read_bytes()

    # The run replaces the images by renaming new files over them: the kept ones stay.
    second = folder.succeed("pair", seed="again")
    assert (folder.root / "pair-1.png").read_bytes() != old_bytes
    assert (kept / "pair-1.png").read_bytes() == old_bytes
    again = keep_version(folder.root, "pair", files=second.files)
    assert again is not None
    assert again.name == "2"
    assert version_numbers(job_versions_dir(folder.root, "pair")) == [1, 2]


def test_keeping_the_same_files_twice_adds_nothing(tmp_path: Path) -> None:
    """A run that kept a version and stopped before replacing keeps it once, not twice."""
    folder = make_folder(tmp_path, JOBS)
    record = folder.succeed("boat")
    first = keep_version(folder.root, "boat", files=record.files)
    assert keep_version(folder.root, "boat", files=record.files) == first
    assert version_numbers(job_versions_dir(folder.root, "boat")) == [1]


def test_copies_where_hard_links_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_folder(tmp_path, JOBS)
    record = folder.succeed("boat")

    def no_links(source: object, target: object) -> None:
        raise OSError("hard links not supported here")

    monkeypatch.setattr(os, "link", no_links)
    kept = keep_version(folder.root, "boat", files=record.files)
    assert kept is not None
    assert not os.path.samefile(kept / "boat.png", folder.root / "boat.png")
    assert (kept / "boat.png").read_bytes() == (folder.root / "boat.png").read_bytes()
    # Copies are recognised as the same files too.
    assert keep_version(folder.root, "boat", files=record.files) == kept


def test_nothing_on_disk_keeps_nothing(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, JOBS)
    assert keep_version(folder.root, "boat", files=["boat.png"]) is None
    assert not job_versions_dir(folder.root, "boat").exists()


def test_missing_files_and_unsafe_names_are_skipped(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, JOBS)
    record = folder.succeed("pair")
    (folder.root / "pair-2.png").unlink()
    kept = keep_version(folder.root, "pair", files=[*record.files, "../outside.png"])
    assert kept is not None
    version = read_version(folder.root, "pair", 1)
    assert version is not None
    assert version.files == ("pair-1.png",)


def test_an_id_with_folders_gets_one_folder_of_its_own(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, JOBS)
    record = folder.succeed("icons/cloud")
    kept = keep_version(folder.root, "icons/cloud", files=record.files)
    assert kept == folder.root / ".batch_gen" / "versions" / "icons%2Fcloud" / "1"
    assert (kept / "icons" / "cloud.png").is_file()
    assert jobs_with_versions(folder.root) == {"icons/cloud"}
    version = read_version(folder.root, "icons/cloud", 1)
    assert version is not None
    assert version.files == ("icons/cloud.png",)
    assert version.path == ".batch_gen/versions/icons%2Fcloud/1"


def test_a_half_built_version_is_never_seen_and_is_cleared(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, JOBS)
    record = folder.succeed("boat")
    leftover = job_versions_dir(folder.root, "boat") / ".partial-1"
    leftover.mkdir(parents=True)
    (leftover / "boat.png").write_bytes(b"half")
    assert version_numbers(job_versions_dir(folder.root, "boat")) == []
    kept = keep_version(folder.root, "boat", files=record.files)
    assert kept is not None
    assert kept.name == "1"
    assert not leftover.exists()


def test_a_version_without_metadata_lists_its_files(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, JOBS)
    record = folder.succeed("pair", metadata=False)
    keep_version(folder.root, "pair", files=record.files)
    version = read_version(folder.root, "pair", 1)
    assert version is not None
    assert version.metadata is None
    assert version.files == ("pair-1.png", "pair-2.png")
    assert read_version(folder.root, "pair", 2) is None
