"""The output folder's lock: one run at a time, and a dead holder never keeps it."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import batch_gen
from batch_gen.errors import OutputLockedError
from batch_gen.models import JobRecord, JobStatus
from batch_gen.state.journal import StateStore, read_state
from batch_gen.state.layout import LOCK_NAME, STATE_DIR_NAME
from batch_gen.state.lock import (
    RETRY_SECONDS,
    acquire_lock,
    describe_holder,
    lock_holder,
    release_lock,
)

REPO_ROOT = Path(batch_gen.__file__).resolve().parent.parent


def test_second_open_is_refused_naming_the_holder(tmp_path: Path) -> None:
    """A second open of one folder raises OutputLockedError with folder, pid and why."""
    with StateStore.open(tmp_path):
        with pytest.raises(OutputLockedError) as caught:
            StateStore.open(tmp_path)
        message = str(caught.value)
        assert str(tmp_path) in message
        assert f"pid {os.getpid()}" in message
        assert "started " in message
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
        holder = lock_holder(tmp_path / STATE_DIR_NAME / LOCK_NAME)
        assert holder is not None
        assert holder["pid"] == child.pid
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


def test_lock_holder_is_none_without_a_run_and_creates_nothing(tmp_path: Path) -> None:
    lock = tmp_path / STATE_DIR_NAME / LOCK_NAME
    assert lock_holder(lock) is None
    assert not (tmp_path / STATE_DIR_NAME).exists()
    with StateStore.open(tmp_path):
        holder = lock_holder(lock)
        assert holder is not None
        assert holder["pid"] == os.getpid()
    assert lock.exists()  # left behind by the run, and no longer held
    assert lock_holder(lock) is None


def test_describe_holder_says_what_is_known() -> None:
    full = {"pid": 42, "host": "build-7", "started_at": "2026-05-01T10:00:00+0000"}
    assert describe_holder(full) == "pid 42 on build-7, started 2026-05-01T10:00:00+0000"
    assert describe_holder({"pid": 42}) == "pid 42"
    assert describe_holder({}) == "pid unknown"


def test_a_run_waits_out_a_status_that_holds_the_lock_for_an_instant(tmp_path: Path) -> None:
    """status takes a shared lock for an instant: a run starting then must not be refused."""
    lock = tmp_path / LOCK_NAME
    lock.write_text("")
    probe = os.open(lock, os.O_RDONLY)
    fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
    timer = threading.Timer(RETRY_SECONDS / 5, lambda: fcntl.flock(probe, fcntl.LOCK_UN))
    timer.start()
    try:
        fd = acquire_lock(lock, tmp_path)
        release_lock(fd)
    finally:
        timer.join()
        os.close(probe)
    # Held for longer than a run waits: refused.
    holder = acquire_lock(lock, tmp_path)
    try:
        with pytest.raises(OutputLockedError):
            acquire_lock(lock, tmp_path)
    finally:
        release_lock(holder)
