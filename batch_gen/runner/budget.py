"""What a run's jobs cost, and ``--max-cost``: the pricing book of a run.

It listens to the run's events (requests sent, usage answered, jobs ended) and prices each
job when it ends, at catalog prices; before a job is dispatched, :meth:`RunPricing.admit`
asks the budget whether its estimate still fits, counting the jobs in flight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..planning.plan import PlannedJob
from ..pricing.budget import Budget
from ..pricing.catalog import Catalog, format_usd
from ..pricing.cost import cost_of_usage, job_estimate
from ..providers import provider_for
from ..report import RunSummary
from ..usage import add_usage, token_totals
from .events import Answered, Event, Finished, Sent, Settled


class RunPricing:
    """Prices the run's jobs into ``summary.cost_usd`` and keeps the ``--max-cost`` budget.

    Without a catalog nothing is priced and every job is admitted.
    """

    def __init__(
        self,
        summary: RunSummary,
        *,
        catalog: Catalog | None,
        history: Mapping[str, Any],
        max_cost: float | None,
    ) -> None:
        self.summary = summary
        self.catalog = catalog
        self.history = history
        self.budget = Budget(limit_usd=max_cost) if max_cost is not None and catalog else None
        self._requests: Counter[str] = Counter()  # per job, in this run
        self._usage: dict[str, dict[str, Any] | None] = {}  # token totals per job, this run
        self._estimates: dict[str, float | None] = {}  # per job in flight, for the budget

    def admit(self, item: PlannedJob) -> str | None:
        """None when the job may start under ``--max-cost``; else why the run stops."""
        if self.budget is None or self.catalog is None:
            return None
        job = item.job
        missing = job.n - (len(item.record.images) if item.record else 0)
        estimate = job_estimate(
            job,
            requests=provider_for(job.api).spec.request_count(job, missing),
            images=missing,
            catalog=self.catalog,
            history=self.history,
        )
        if not self.budget.can_start(estimate.usd):
            return (
                f"stopped before {job.id}: its estimated {format_usd(estimate.usd or 0)} "
                f"would exceed --max-cost {format_usd(self.budget.limit_usd)} "
                f"({self.budget.describe()})"
            )
        self.budget.start(estimate.usd)
        self._estimates[job.id] = estimate.usd
        return None

    def __call__(self, event: Event) -> None:
        if isinstance(event, Sent):
            self._requests[event.job.id] += 1
        elif isinstance(event, Answered):
            job_id = event.job.id
            self._usage[job_id] = add_usage(self._usage.get(job_id), token_totals(event.usage))
        elif isinstance(event, Finished):
            self._account(event.job.id, event.job.model)
        elif isinstance(event, Settled):
            # Ended neither succeeded nor failed: what it sent may have been billed; a job
            # that sent nothing frees its share of the budget.
            if self._requests[event.job.id]:
                self._account(event.job.id, event.job.model)
            elif self.budget is not None and event.job.id in self._estimates:
                self.budget.finish(self._estimates.pop(event.job.id), 0.0)

    def _account(self, job_id: str, model: str) -> None:
        """Book what the job cost in this run (when the catalog can tell)."""
        if self.catalog is None:
            return
        actual = cost_of_usage(
            model,
            self._usage.get(job_id),
            requests=self._requests[job_id],
            catalog=self.catalog,
        )
        if actual is None:
            self.summary.unpriced_jobs += 1
        else:
            self.summary.cost_usd += actual
        if self.budget is not None and job_id in self._estimates:
            self.budget.finish(self._estimates.pop(job_id), actual)
