"""The ``--max-cost`` ledger: what a run has spent and what its jobs in flight may cost.

Pure bookkeeping: the runner feeds it estimates and actual costs from
:mod:`batch_gen.pricing.cost` and asks it before dispatching each job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from batch_gen.pricing.catalog import format_usd

# Sums of float prices drift by a few ulps; a job that fits exactly must not be refused.
_TOLERANCE = 1e-9


@dataclass(slots=True)
class Budget:
    """The ``--max-cost`` ledger: what was spent, what jobs in flight are expected to cost.

    The runner asks :meth:`can_start` before dispatching a job, calls :meth:`start` when
    it does and :meth:`finish` when the job ends. A job whose price is unknown counts as
    free (refusing it would make unknown prices block every run) but is counted in
    ``unpriced_jobs`` so that the summary can say the limit may be exceeded. ``in_flight``
    counts jobs started and not finished. Not thread-safe: call it from the event loop.
    """

    limit_usd: float
    spent_usd: float = 0.0
    committed_usd: float = 0.0  # the estimates of the jobs in flight
    unpriced_jobs: int = 0
    in_flight: int = 0

    def __post_init__(self) -> None:
        if not math.isfinite(self.limit_usd) or self.limit_usd < 0:
            raise ValueError(f"the cost limit must be a non-negative amount, not {self.limit_usd}")

    @property
    def remaining_usd(self) -> float:
        """What is left once every job in flight has cost its estimate (never negative)."""
        return max(self.limit_usd - self.spent_usd - self.committed_usd, 0.0)

    def can_start(self, estimate_usd: float | None) -> bool:
        """Whether a job estimated at ``estimate_usd`` fits in what is left."""
        expected = self.spent_usd + self.committed_usd + (estimate_usd or 0.0)
        return expected <= self.limit_usd + _TOLERANCE

    def start(self, estimate_usd: float | None) -> None:
        """Record that a job estimated at ``estimate_usd`` was dispatched."""
        self.in_flight += 1
        if estimate_usd is None:
            self.unpriced_jobs += 1
        else:
            self.committed_usd += estimate_usd

    def finish(self, estimate_usd: float | None, actual_usd: float | None) -> None:
        """Record that a job ended: its estimate leaves ``committed_usd`` and its actual
        cost joins ``spent_usd``. Pass the same estimate as to :meth:`start`; pass
        ``actual_usd`` ``None`` when the cost is not known (the estimate is booked instead,
        the cautious choice for a request that may have been billed) and ``0.0`` for a job
        the provider refused without charging."""
        self.in_flight = max(self.in_flight - 1, 0)
        # With nothing in flight nothing is committed: drop the residue of float subtraction.
        committed = self.committed_usd - (estimate_usd or 0.0) if self.in_flight else 0.0
        self.committed_usd = max(committed, 0.0)
        cost = actual_usd if actual_usd is not None else estimate_usd
        self.spent_usd += cost or 0.0

    def charge(self, usd: float) -> None:
        """Book ``usd`` spent outside a job's estimate (a request that may have been billed
        without delivering), at once: the budget holds against what was charged."""
        self.spent_usd += usd

    def exceeded(self) -> bool:
        """Whether what was spent and what jobs in flight are expected to cost already
        pass the limit (then no job should pay for another try)."""
        return self.spent_usd + self.committed_usd > self.limit_usd + _TOLERANCE

    def describe(self) -> str:
        """One line for the summary, e.g. ``cost: $4.10 of $5.00 limit``."""
        line = f"cost: {format_usd(self.spent_usd)} of {format_usd(self.limit_usd)} limit"
        if self.committed_usd > _TOLERANCE:
            line += f", {format_usd(self.committed_usd)} in flight"
        if self.unpriced_jobs:
            jobs = f"{self.unpriced_jobs} job{'s' if self.unpriced_jobs != 1 else ''}"
            line += f" ({jobs} could not be priced and counted as free)"
        return line
