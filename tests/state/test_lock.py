"""The output folder's lock: one run at a time, and a dead holder never keeps it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import batch_gen
from batch_gen.errors import OutputLockedError
from batch_gen.models import JobRecord, JobStatus
from batch_gen.state.journal import StateStore, read_state

REPO_ROOT = Path(batch_gen.__file__).resolve().parent.parent


def test_second_open_is_refused_naming_the_holder(tmp_path: Path) -> None:
    """A second open of one folder raises OutputLockedError with folder, pid and why."""
    with StateStore.open(tmp_path):
        with pytest.raises(OutputLockedError) as caught:
            StateStore.open(tmp_path)
        message = str(caught.value)
        assert str(tmp_path) in message
        assert f"pid {os.getpid()}" in message
        assert "since " in message
        assert "corrupt" in message
    with StateStore.open(tmp_path):  # released on close
        pass


CHILD = """
import sys
from pathlib import Path
from batch_gen.models import JobRecord, JobStatus
from batch_gen.state.journal import StateStore
store = StateStore.open(Path(sys.argv[1]))
store.put(JobRecord(id="child", key="k", status=JobStatus.RUNNING))
print("ready", flush=True)
sys.stdin.read()
"""


def test_sigkilled_holder_leaves_no_stuck_lock(tmp_path: Path) -> None:
    """A run killed by SIGKILL while holding the folder does not keep it locked."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        with pytest.raises(OutputLockedError, match=f"pid {child.pid}"):
            StateStore.open(tmp_path)
        assert read_state(tmp_path)["child"].status is JobStatus.RUNNING
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()

    with StateStore.open(tmp_path) as store:
        assert store.get("child") == JobRecord(id="child", key="k", status=JobStatus.RUNNING)
