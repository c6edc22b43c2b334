"""Running a batch: :func:`run_batch` (the composition root, in :mod:`.run`).

The parts, from the top: :mod:`.run` wires a run; :mod:`.gate` decides when it stops and
when a request may go; :mod:`.job` runs one job; :mod:`.retrying` is the one retry loop and
:mod:`.tasks` the one request loop (submit, record, poll) for every API; :mod:`.staging`
writes images crash-safely; :mod:`.transitions` changes job records (pure);
:mod:`.events` names what happens, and :mod:`.books` and :mod:`.budget` keep the counts.
"""

from __future__ import annotations

from .run import run_batch

__all__ = ["run_batch"]
