"""Who uses an output folder's state: its journals and locks, shard by shard.

Shards of one manifest (``--shard K/N``) run at the same time on one folder, each with a
journal and a lock of its own (:mod:`.layout`). Two runs that may make the same job must
never run at once: the same shard twice, shards of different N, or a shard beside an
unsharded run. :func:`hold_folder` takes this run's lock and then refuses such a run;
both runs take their own lock before they look, so of two that start together at least
one sees the other.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_gen.errors import OutputLockedError
from batch_gen.shards import Shard
from batch_gen.state.layout import STATE_DIR_NAME, journal_shard, lock_name, lock_shard
from batch_gen.state.lock import acquire_lock, describe_holder, lock_holder, release_lock


@dataclass(frozen=True, slots=True)
class Running:
    """A run that holds a lock of the folder now: its shard (None: unsharded) and what it
    recorded about itself (``pid``, ``host``, ``started_at``)."""

    shard: Shard | None
    holder: dict[str, Any]

    def describe(self) -> str:
        """``shard 3/4: pid 42 on build-7, started ...`` (unsharded: no shard part)."""
        who = describe_holder(self.holder)
        return who if self.shard is None else f"shard {self.shard.label}: {who}"


def _order(item: tuple[Shard | None, Path]) -> tuple[int, int]:
    """Unsharded first, then by N and K: the order in which states are merged."""
    shard = item[0]
    return (0, 0) if shard is None else (shard.count, shard.index)


def _listed(
    output_dir: Path, which: Callable[[str], tuple[bool, Shard | None]]
) -> list[tuple[Shard | None, Path]]:
    try:
        names = os.listdir(output_dir / STATE_DIR_NAME)
    except OSError:  # no state folder: no state, no run
        return []
    found = []
    for name in names:
        matches, shard = which(name)
        if matches:
            found.append((shard, output_dir / STATE_DIR_NAME / name))
    return sorted(found, key=_order)


def state_files(output_dir: Path) -> list[tuple[Shard | None, Path]]:
    """Every journal of the folder with its shard (None: unsharded), unsharded first,
    then by N and K."""
    return _listed(output_dir, journal_shard)


def runs_in_progress(output_dir: Path) -> list[Running]:
    """Every run that holds a lock of the folder now, unsharded first, then by N and K.
    Creates nothing; holds each lock file's shared lock for an instant (see
    :func:`~batch_gen.state.lock.lock_holder`)."""
    running = []
    for shard, path in _listed(output_dir, lock_shard):
        holder = lock_holder(path)
        if holder is not None:
            running.append(Running(shard, holder))
    return running


def hold_folder(output_dir: Path, shard: Shard | None) -> tuple[int, list[Running]]:
    """Take the lock of ``shard``'s runs (None: unsharded runs) in ``output_dir``, whose
    state folder must exist; return its descriptor (for
    :func:`~batch_gen.state.lock.release_lock`) and the other runs in progress, shards
    whose jobs are not this run's.

    Raises:
        OutputLockedError: a run of the same shard holds the folder, or a run that may make
            some of the same jobs (see :meth:`Shard.overlaps`); the message names it.
        OSError: a lock file cannot be opened.
    """
    own = lock_name(shard)
    fd = acquire_lock(output_dir / STATE_DIR_NAME / own, output_dir, shard=shard)
    try:
        others = [
            run
            for run in runs_in_progress(output_dir)
            if lock_name(run.shard) != own  # ourselves
        ]
        clash = next((run for run in others if _overlap(shard, run.shard)), None)
        if clash is not None:
            raise OutputLockedError(_overlap_message(output_dir, shard, clash))
    except BaseException:
        release_lock(fd)
        raise
    return fd, others


def _overlap(ours: Shard | None, theirs: Shard | None) -> bool:
    return ours is None or ours.overlaps(theirs)


def _overlap_message(output_dir: Path, ours: Shard | None, clash: Running) -> str:
    theirs = clash.shard
    them = "an unsharded run" if theirs is None else f"a run of shard {theirs.label}"
    us = "this unsharded run" if ours is None else f"this run of shard {ours.label}"
    advice = "wait for it to finish or stop it"
    if theirs is not None:
        advice += f", or run shards of its N beside it (--shard K/{theirs.count})"
    return (
        f"the output folder {output_dir} is in use by {them}"
        f" ({describe_holder(clash.holder)}), which may make some of the jobs {us} would"
        f" make, and one job made by two runs at once is paid for twice: {advice}."
    )
