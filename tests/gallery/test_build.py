"""write_gallery and the manifest it is given: keyed as the folder's last run keyed it."""

from __future__ import annotations

from pathlib import Path

from gallery_support import make_folder

from batch_gen.gallery import GALLERY_NAME, manifest_as_last_run, write_gallery
from batch_gen.manifest import load_manifest
from batch_gen.state.runinfo import write_run_info

JOBS = """
- id: boat
  prompt: A paper boat.
"""


def test_keys_follow_the_provider_of_the_last_run(tmp_path: Path) -> None:
    """After an offline run every key is the simulator's: the gallery must key the
    manifest the same way, or every job would look changed."""
    folder = make_folder(tmp_path, JOBS)
    (folder.root / ".batch_gen").mkdir()
    write_run_info(folder.root, {"provider": "simulator"})
    manifest, output = manifest_as_last_run(folder.manifest.path, environ={})
    assert output == folder.root
    offline = load_manifest(folder.manifest.path, provider="simulator")
    assert [job.key for job in manifest.jobs] == [job.key for job in offline.jobs]
    assert manifest.jobs[0].key != folder.manifest.jobs[0].key


def test_without_a_run_the_default_provider_and_the_given_folder(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, JOBS)
    elsewhere = tmp_path / "elsewhere"
    manifest, output = manifest_as_last_run(folder.manifest.path, elsewhere, environ={})
    assert output == elsewhere
    assert [job.key for job in manifest.jobs] == [job.key for job in folder.manifest.jobs]


def test_writes_the_page_in_the_output_folder(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, JOBS)
    folder.succeed("boat")
    folder.save_state()
    path = write_gallery(folder.manifest, folder.root)
    assert path == folder.root / GALLERY_NAME
    assert path.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert not list(folder.root.glob(".gallery.html.*"))  # written whole, then renamed
