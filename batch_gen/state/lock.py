"""Exclusive use of an output folder: one run at a time (one per shard).

A run holds ``fcntl.flock`` on ``<output>/.batch_gen/lock`` (POSIX only); a run of
``--shard K/N`` holds ``lock-KofN`` instead, and :mod:`batch_gen.state.folder` keeps runs
whose jobs may overlap apart. The kernel releases a lock when its holder dies, even by
SIGKILL, so a crashed run never leaves the folder locked. The lock belongs to the open file
description: a process that forks while holding it shares it with the child. The file's
content (pid, host, start time, shard) is informational only, for the message another run
shows and for ``status``; the flock is the lock.

``status`` asks whether a run holds the folder (:func:`lock_holder`) by taking a shared lock
for an instant. A run that starts in that instant would find the folder locked, so
:func:`acquire_lock` tries again for a moment before it believes another run holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batch_gen.errors import OutputLockedError
from batch_gen.shards import Shard

# How long a run keeps trying a lock that is held before giving up: far longer than a
# status holds it, far shorter than a run does.
RETRY_SECONDS = 0.5
RETRY_STEP = 0.05


def acquire_lock(path: Path, output_dir: Path, *, shard: Shard | None = None) -> int:
    """Take the flock on ``path`` (the lock of ``shard``'s runs, or of unsharded runs) and
    write who holds it; return the locked descriptor.

    Pass the descriptor to :func:`release_lock` when done.

    Raises:
        OutputLockedError: another holder (in any process) has it; the message names
            ``output_dir``, the shard and, when known, the holder's pid, host and start time.
        OSError: the lock file cannot be opened.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        locked = _lock_within(fd, RETRY_SECONDS)
    except BaseException:
        os.close(fd)
        raise
    if not locked:
        holder = _read_holder(fd)
        os.close(fd)
        raise OutputLockedError(_locked_message(output_dir, holder, shard))
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if shard is not None:
        holder["shard"] = shard.label
    # Informational only: the flock is the lock, whatever this file says.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode("utf-8"), 0)
    return fd


def release_lock(fd: int) -> None:
    """Release the flock taken by :func:`acquire_lock` and close its descriptor."""
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_holder(path: Path) -> dict[str, Any] | None:
    """Who holds the lock at ``path`` now: what the holder recorded (``pid``, ``host``,
    ``started_at``; ``{}`` if nothing readable), or None when no run holds it. Creates
    nothing: a missing lock file means no run holds the folder. Holds a shared lock for an
    instant (see the module's docstring)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        return holder
    except BaseException:
        os.close(fd)
        raise
    release_lock(fd)
    return None


def describe_holder(holder: Mapping[str, Any]) -> str:
    """``pid 4242 on build-7, started 2026-05-01T10:00:00+0000``, from what is known."""
    if "pid" not in holder:
        return "pid unknown"
    text = f"pid {holder['pid']}"
    text += f" on {holder['host']}" if "host" in holder else ""
    return text + (f", started {holder['started_at']}" if "started_at" in holder else "")


def _lock_within(fd: int, seconds: float) -> bool:
    """Take the exclusive flock on ``fd``, trying again for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(RETRY_STEP)


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        holder = json.loads(os.pread(fd, 4096, 0))
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _locked_message(output_dir: Path, holder: Mapping[str, Any], shard: Shard | None) -> str:
    who = "another batch_gen run"
    if "pid" in holder:
        who += f" ({describe_holder(holder)})"
    if shard is not None:
        return (
            f"shard {shard.label} of the output folder {output_dir} is in use by {who}. Two"
            " runs of one shard would corrupt each other's state and files: wait for that"
            " run to finish or stop it, or choose another folder with --output."
        )
    return (
        f"the output folder {output_dir} is in use by {who}. Two runs on one folder would "
        "corrupt each other's state and files: wait for that run to finish or stop it, "
        "or choose another folder with --output."
    )
