"""The state of an output folder: what each job has done, who holds the folder, what ran.

:class:`~batch_gen.state.journal.StateStore` records job records in an append-only journal
under the folder's lock; :func:`~batch_gen.state.journal.read_state` reads them without the
lock. The folder's layout is in :mod:`batch_gen.state.layout`.
"""

from __future__ import annotations

from batch_gen.state.journal import StateStore, read_state

__all__ = ["StateStore", "read_state"]
