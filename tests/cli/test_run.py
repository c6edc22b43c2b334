"""``run`` in process: what is printed and written at the end of a run."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from support import write_manifest

from batch_gen import cli
from batch_gen.cli import run as run_module


def test_a_report_that_cannot_be_written_after_the_run_keeps_the_runs_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's path passed its check before the run; should writing it fail even so
    (here: the disk filled during the run), one line says so and the exit status is
    still the run's."""
    monkeypatch.chdir(tmp_path)
    manifest = write_manifest(tmp_path, ["a red cube"])

    def full_disk(path: Path, text: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(run_module, "write_output_file", full_disk)
    code = cli.main(["run", str(manifest), "--offline", "--no-progress", "--report", "r.json"])
    assert code == 0
    captured = capsys.readouterr()
    assert "1 succeeded" in captured.out
    assert captured.err.splitlines()[-1] == (
        f"batch_gen: the report was not written: {tmp_path}/r.json: No space left on device"
        " (the disk is full: free some space, then run the same command again);"
        " the exit status (0) is the run's"
    )
