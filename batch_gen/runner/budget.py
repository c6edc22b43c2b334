"""What a run's requests cost, and ``--max-cost``: the pricing book of a run.

It listens to the run's events. An answered request is priced at once (the catalog
price of what it asked for: a Midjourney upscale is priced as one), and a request that
may have been billed without delivering (a lost answer, a task that ended without an
image, a request abandoned in flight) is priced at its estimate and charged to the budget
at once. Before a job is dispatched, :meth:`RunPricing.admit` asks the budget whether its
estimate still fits beside what was charged and what jobs in flight are expected to cost;
before a job pays for another try, :meth:`RunPricing.may_retry` asks the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..models import Job
from ..planning.plan import PlannedJob
from ..pricing.budget import Budget
from ..pricing.catalog import Catalog, format_usd
from ..pricing.cost import cost_of_usage, estimate_job
from ..providers.base import ApiRequest, ApiSpec
from ..report import RunSummary
from ..usage import token_totals
from .events import Abandoned, Answered, Event, Finished, Lost, Settled


@dataclass(slots=True)
class _JobCost:
    """What one job's answered requests cost in this run."""

    delivered_usd: float = 0.0
    unpriced: bool = False
    estimate_usd: float | None = None  # committed to the budget while the job runs
    committed: bool = False


class RunPricing:
    """Prices the run into ``summary.cost_usd`` and ``summary.possibly_billed_usd``, and
    keeps the ``--max-cost`` budget. Without a catalog nothing is priced and every job is
    admitted."""

    wants = frozenset({Answered, Lost, Abandoned, Finished, Settled})

    def __init__(
        self,
        summary: RunSummary,
        *,
        catalog: Catalog | None,
        history: Mapping[str, Any],
        max_cost: float | None,
        specs: Mapping[str, ApiSpec],
    ) -> None:
        self.summary = summary
        self.catalog = catalog
        self.history = history
        self.specs = specs
        self.budget = Budget(limit_usd=max_cost) if max_cost is not None and catalog else None
        self._jobs: dict[str, _JobCost] = {}
        if catalog is not None:
            summary.possibly_billed_usd = 0.0

    def admit(self, item: PlannedJob) -> str | None:
        """None when the job may start under ``--max-cost``; else why the run stops."""
        if self.budget is None or self.catalog is None:
            return None
        job = item.job
        missing = job.n - (len(item.record.images) if item.record else 0)
        estimate = estimate_job(
            job.model,
            job.request,
            requests=self.specs[job.api].request_count(job, missing),
            images=missing,
            catalog=self.catalog,
            history=self.history,
        )
        if not self.budget.can_start(estimate.usd):
            return (
                f"stopped before {job.id}: its estimated {format_usd(estimate.usd or 0)} "
                f"would exceed --max-cost {format_usd(self.budget.limit_usd)}; "
                f"{self.budget.describe()}"
            )
        self.budget.start(estimate.usd)
        self._jobs[job.id] = _JobCost(estimate_usd=estimate.usd, committed=True)
        return None

    def may_retry(self) -> bool:
        """Whether a job may pay for another try: the budget is not already spent."""
        return self.budget is None or not self.budget.exceeded()

    def describe_budget(self) -> str:
        """The budget's line for the summary, e.g. ``cost: $4.10 of $5.00 limit``."""
        return self.budget.describe() if self.budget is not None else "no budget"

    def __call__(self, event: Event) -> None:
        if self.catalog is None:
            return
        if isinstance(event, Answered):
            self._answered(event.job, event.request, event.usage)
        elif isinstance(event, Lost | Abandoned):
            self._possibly_billed(event.job, event.request)
        elif isinstance(event, Finished | Settled):
            self._ended(event.job)

    def _model(self, job: Job, request: ApiRequest) -> str:
        return self.specs[job.api].priced_as(job.model, request.step)

    def _answered(self, job: Job, request: ApiRequest, usage: Mapping[str, Any] | None) -> None:
        assert self.catalog is not None
        cost = self._jobs.setdefault(job.id, _JobCost())
        usd = cost_of_usage(
            self._model(job, request), token_totals(usage), requests=1, catalog=self.catalog
        )
        if usd is None:
            cost.unpriced = True
        else:
            cost.delivered_usd += usd

    def _possibly_billed(self, job: Job, request: ApiRequest) -> None:
        assert self.catalog is not None
        estimate = estimate_job(
            self._model(job, request),
            job.request,
            requests=1,
            images=request.images,
            catalog=self.catalog,
            history=self.history,
        )
        if estimate.usd is None:
            return  # counted in possibly_billed, not priced
        self.summary.possibly_billed_usd = (self.summary.possibly_billed_usd or 0.0) + estimate.usd
        if self.budget is not None:
            self.budget.charge(estimate.usd)

    def _ended(self, job: Job) -> None:
        """Book what the job's delivered images cost; free its share of the budget."""
        cost = self._jobs.pop(job.id, _JobCost())
        self.summary.cost_usd += cost.delivered_usd
        if cost.unpriced:
            self.summary.unpriced_jobs += 1
        if self.budget is not None and cost.committed:
            self.budget.finish(cost.estimate_usd, cost.delivered_usd)
