"""Leaving without freeing: only after a read-only command, with every byte written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batch_gen import cli
from batch_gen.cli.exits import EXIT_BROKEN_PIPE, holding

LEAVER = """
import sys
from batch_gen.cli.exits import hold_until_exit, leave
sys.stdout.write("x" * int(sys.argv[2]))  # what fits stays in the buffer: leave flushes it
print("to stderr", file=sys.stderr)
hold_until_exit(list(range(1000)))
sys.stdin.read()  # until the test says go
leave(int(sys.argv[1]))
"""


# Buffered output, as for most users: what is written waits in the buffer for leave().
BUFFERED = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}


def _csv(folder: Path) -> Path:
    path = folder / "icons.csv"
    path.write_text("id,prompt,size\na,a red cube,256x256\nb,a blue ball,256x256\n")
    return path


def test_leave_flushes_and_exits_with_the_status() -> None:
    """What was written reaches the reader, and the status is the one given."""
    done = subprocess.run(
        [sys.executable, "-c", LEAVER, "3", "5000"],
        input="",
        env=BUFFERED,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, len(done.stdout), done.stderr) == (3, 5000, "to stderr\n")


def test_leave_after_the_reader_went_away_says_so() -> None:
    """A closed pipe at the last flush is a broken pipe, as for any command."""
    with subprocess.Popen(
        [sys.executable, "-c", LEAVER, "0", "100"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=BUFFERED,
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdout.close()  # the reader goes away before anything is read,
        process.stdin.close()  # then the process leaves
        assert process.wait(timeout=60) == EXIT_BROKEN_PIPE


def test_only_read_only_commands_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run (threads, the lock, the journal) exits the usual way; status and a dry run
    hold what they built, and the next command lets it go."""
    monkeypatch.chdir(tmp_path)
    manifest = _csv(tmp_path)
    assert cli.main(["run", str(manifest), "--offline", "--no-progress"]) == 0
    assert not holding()
    assert cli.main(["run", str(manifest), "--offline", "--dry-run"]) == 0
    assert holding()
    capsys.readouterr()
    assert cli.main(["status", str(manifest), "--json"]) == 0
    assert holding()
    assert json.loads(capsys.readouterr().out)["total"] == 2
    assert cli.main(["run", str(manifest), "--offline", "--no-progress"]) == 0
    assert not holding()


def test_status_through_the_module_writes_it_all(tmp_path: Path) -> None:
    """``python -m batch_gen status --json`` leaves at once, its document whole."""
    manifest = _csv(tmp_path)
    command = [sys.executable, "-m", "batch_gen"]
    made = [*command, "run", str(manifest), "--offline", "--no-progress"]
    subprocess.run(made, cwd=tmp_path, check=True, capture_output=True)
    status = [*command, "status", str(manifest), "--json"]
    done = subprocess.run(status, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert json.loads(done.stdout)["counts"]["succeeded"] == 2
