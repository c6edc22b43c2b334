"""Where batch_gen keeps its state inside an output folder.

Everything lives in ``<output>/.batch_gen/``, a folder no image or metadata file may use:

- ``state.jsonl``: the journal of job records (:mod:`batch_gen.state.journal`); a run of
  ``--shard K/N`` keeps its own, ``state-KofN.jsonl``, so that shards of one manifest can
  run at the same time on one folder;
- ``lock``: the file the run that holds the folder locks (:mod:`batch_gen.state.lock`);
  a shard's run locks ``lock-KofN``;
- ``run.json``: facts about the last run, e.g. its provider (:mod:`batch_gen.state.runinfo`);
- ``jobs.index.json``: the job ids and keys of the last manifest run
  (:mod:`batch_gen.state.jobindex`).

Names, and :func:`replace_with`, the one way a file is replaced atomically (the shared
files, the journal's compaction, images and reports); what a folder holds is listed by
:mod:`batch_gen.state.folder`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from batch_gen.shards import Shard, shard_from_name

STATE_DIR_NAME = ".batch_gen"
JOURNAL_NAME = "state.jsonl"
LOCK_NAME = "lock"
RUN_INFO_NAME = "run.json"  # who ran last: the provider identity that keys were made for
INDEX_NAME = "jobs.index.json"

_JOURNAL_STEM, _JOURNAL_SUFFIX = JOURNAL_NAME.split(".", 1)


def journal_name(shard: Shard | None) -> str:
    """The journal of a shard's runs (``state-3of4.jsonl``), or of unsharded runs
    (``state.jsonl``, the name every earlier version used)."""
    return JOURNAL_NAME if shard is None else f"{_JOURNAL_STEM}-{shard.name}.{_JOURNAL_SUFFIX}"


def lock_name(shard: Shard | None) -> str:
    """The lock of a shard's runs (``lock-3of4``), or of unsharded runs (``lock``)."""
    return LOCK_NAME if shard is None else f"{LOCK_NAME}-{shard.name}"


def journal_shard(name: str) -> tuple[bool, Shard | None]:
    """Whether ``name`` is a journal's file name, and whose: ``(True, None)`` for
    ``state.jsonl``, ``(True, Shard(3, 4))`` for ``state-3of4.jsonl``."""
    if name == JOURNAL_NAME:
        return True, None
    return _sharded(name, prefix=f"{_JOURNAL_STEM}-", suffix=f".{_JOURNAL_SUFFIX}")


def lock_shard(name: str) -> tuple[bool, Shard | None]:
    """Whether ``name`` is a lock's file name, and whose (as :func:`journal_shard`)."""
    if name == LOCK_NAME:
        return True, None
    return _sharded(name, prefix=f"{LOCK_NAME}-", suffix="")


def _sharded(name: str, *, prefix: str, suffix: str) -> tuple[bool, Shard | None]:
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return False, None
    shard = shard_from_name(name[len(prefix) : len(name) - len(suffix)])
    return (shard is not None), shard


def private_temp_name(name: str) -> str:
    """A temp name for writing ``name`` beside it, private to this process: shards running
    at the same time, possibly on different machines, write the same shared files
    (``run.json``, the index), and two writers of one temp file would rename each other's
    half-written bytes into place."""
    return f".{name}.{secrets.token_hex(6)}.tmp"


def replace_with(
    path: str | Path, data: bytes, *, temp: str | Path | None = None, durable: bool = False
) -> None:
    """Put ``data`` at ``path`` atomically: written to ``temp`` (default: a temp file of
    this process's own beside it, see :func:`private_temp_name`; it must be in the same
    folder for the rename to be atomic), which then replaces ``path``. Parent folders are
    created. ``durable`` also fsyncs the file and its folder, to survive a power cut. The
    one atomic replacement of batch_gen: :func:`batch_gen.files.atomic.write_atomic` and
    the journal's compaction write through it too.

    Raises:
        OSError: the write or the rename failed; ``path`` is as it was and the temp file
        has been removed.
    """
    # Plain strings: this runs once per job, and path objects cost more than the write.
    target = os.fspath(path)
    if temp is None:
        folder, name = os.path.split(target)
        temp = os.path.join(folder, private_temp_name(name))
    write_file(temp, data, durable=durable)
    try:
        os.replace(temp, target)
    except BaseException:
        remove_quietly(temp)
        raise
    if durable:
        fsync_folder(os.path.dirname(target) or ".")


def write_file(path: str | Path, data: bytes, *, durable: bool) -> None:
    """Create or truncate ``path`` and write all of ``data`` (``durable``: fsynced); remove
    it on any failure. Its folder is created when missing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags, 0o666)
    except FileNotFoundError:  # the folder is missing: create it only then, not every time
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked (signals, pipes, quotas)
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        remove_quietly(path)
        raise


def fsync_folder(folder: str | Path) -> None:
    """Make a rename or a new file in ``folder`` survive a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_quietly(path: str | Path) -> None:
    """Remove ``path`` if it can be removed; never raise."""
    with contextlib.suppress(OSError):
        os.unlink(path)
