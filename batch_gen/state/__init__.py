"""The state of an output folder: what each job has done, who holds the folder, what ran.

:class:`~batch_gen.state.journal.StateStore` records job records in an append-only journal
under the lock of its shard (or of unsharded runs); :func:`~batch_gen.state.journal.read_state`
reads every shard's journal, merged, without a lock. The folder's layout is in
:mod:`batch_gen.state.layout`; who uses it now, in :mod:`batch_gen.state.folder`.
"""

from __future__ import annotations

from batch_gen.state.journal import StateStore, read_shard_states, read_state

__all__ = ["StateStore", "read_shard_states", "read_state"]
