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

Names, and :func:`replace_with`, the way a shared file is replaced; what a folder holds
is listed by :mod:`batch_gen.state.folder`.
"""

from __future__ import annotations

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


def replace_with(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` atomically through a temp file of this process's own (see
    :func:`private_temp_name`), removed if the write fails.

    Raises:
        OSError: the write or the rename failed; ``path`` is as it was.
    """
    temp = path.with_name(private_temp_name(path.name))
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
