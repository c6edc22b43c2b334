"""Where a run writes: the output folder and --report checked before anything is sent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import unwritable_folder

from batch_gen.errors import UnwritablePathError, UsageError
from batch_gen.files.destinations import (
    check_output_file,
    check_output_folder,
    refused_output,
    write_output_file,
)


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/", "the root of the file system"),
        ("/usr", "a system folder"),
        ("/proc", "a system folder"),
        ("/usr/../etc", "a system folder"),
        ("HOME", "the home folder"),
        ("/tmp/batch-output", None),
        ("/usr/local/share/images", None),
    ],
)
def test_refused_output_folders(path: str, why: str | None, tmp_path: Path) -> None:
    home = tmp_path / "me"
    home.mkdir()
    given = home if path == "HOME" else Path(path)
    assert refused_output(given, home=home) == why


def test_a_refused_folder_is_a_usage_error_before_anything_is_created() -> None:
    with pytest.raises(UsageError, match=r"^--output /: refusing the root of the file system"):
        check_output_folder(Path("/"), setting="--output", create=True)
    assert not Path("/.batch_gen").exists()


@pytest.mark.parametrize("create", [True, False])
def test_output_folder_that_is_a_file_or_under_one(tmp_path: Path, create: bool) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    with pytest.raises(UnwritablePathError, match="it is a file, not a folder"):
        check_output_folder(a_file, setting="--output", create=create)
    with pytest.raises(UnwritablePathError, match=f"{a_file} is a file, not a folder"):
        check_output_folder(a_file / "sub" / "deeper", setting="--output", create=create)
    state_file = tmp_path / "out"
    state_file.mkdir()
    (state_file / ".batch_gen").write_text("x")
    with pytest.raises(UnwritablePathError, match=r"state folder .* is a file"):
        check_output_folder(state_file, setting="--output", create=create)


def test_output_folder_that_refuses_writes(tmp_path: Path) -> None:
    folder = unwritable_folder(tmp_path)
    with pytest.raises(UnwritablePathError, match=f"cannot write the output folder {folder}"):
        check_output_folder(folder / "out", setting="--output", create=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not stop the superuser")
def test_a_dry_run_check_sees_a_folder_without_write_permission(tmp_path: Path) -> None:
    """A dry run creates nothing, so it asks the system (os.access), which answers from
    the permissions and a read-only mount: the superuser passes both but the latter."""
    folder = unwritable_folder(tmp_path)
    with pytest.raises(UnwritablePathError, match="permission denied"):
        check_output_folder(folder / "out", setting="--output", create=False)


def test_a_dry_run_check_creates_nothing_and_a_run_check_creates_the_folder(
    tmp_path: Path,
) -> None:
    out = tmp_path / "a" / "b"
    check_output_folder(out, setting="--output", create=False)
    assert not (tmp_path / "a").exists()
    check_output_folder(out, setting="--output", create=True)
    assert out.is_dir()
    assert list(out.iterdir()) == []  # the write probe leaves nothing


@pytest.mark.parametrize("create", [True, False])
def test_report_path_that_is_a_folder_or_under_a_file(tmp_path: Path, create: bool) -> None:
    with pytest.raises(UnwritablePathError, match=r"^cannot write --report .*: it is a folder"):
        check_output_file(tmp_path, setting="--report", create=create)
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    with pytest.raises(UnwritablePathError, match=f"{a_file} is a file, not a folder"):
        check_output_file(a_file / "r.json", setting="--report", create=create)


def test_report_path_in_a_folder_that_refuses_writes(tmp_path: Path) -> None:
    folder = unwritable_folder(tmp_path)
    with pytest.raises(UnwritablePathError, match=r"^cannot write --report"):
        check_output_file(folder / "r.json", setting="--report", create=True)


def test_report_path_checks_create_only_its_folder(tmp_path: Path) -> None:
    report = tmp_path / "reports" / "r.json"
    check_output_file(report, setting="--report", create=False)
    assert not report.parent.exists()
    check_output_file(report, setting="--report", create=True)
    assert report.parent.is_dir()
    assert not report.exists()


def test_write_output_file_replaces_a_file_whole_and_writes_to_a_pipe(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    report.write_text("old and longer than the new text\n")
    write_output_file(report, "{}\n")
    assert report.read_text() == "{}\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["r.json"]
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_output_file(fifo, "through a pipe\n")
        assert os.read(reader, 100) == b"through a pipe\n"
    finally:
        os.close(reader)
    assert fifo.exists()  # not replaced by a regular file
