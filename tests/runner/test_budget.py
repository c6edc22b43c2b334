"""The run's pricing book: delivered images priced as what they asked for, possibly
billed requests priced and charged at once, the budget asked before every paid try."""

from __future__ import annotations

from typing import Any

from batch_gen import routing
from batch_gen.errors import ContentPolicyError, TransportError
from batch_gen.models import Job, JobRecord, JobStatus
from batch_gen.planning.plan import PlannedJob, Reason
from batch_gen.pricing.catalog import Catalog, parse_catalog
from batch_gen.providers.registry import provider_for
from batch_gen.report import RunSummary
from batch_gen.runner.budget import RunPricing
from batch_gen.runner.events import Abandoned, Answered, Finished, Lost, Refused
from batch_gen.simulator.catalog import CATALOG


def _catalog() -> Catalog:
    document = {"success": True, "data": [record.to_json() for record in CATALOG]}
    return parse_catalog(document, fetched_at=0.0, source="test")


def _job(model: str, api: str, **request: Any) -> Job:
    fields = {"model": model, **request}
    spec = routing.ROUTES[api]
    return Job(
        id="a",
        index=1,
        prompt="p",
        request=fields,
        api=api,
        key="k",
        images=spec.image_count(fields),
    )


def _pricing(summary: RunSummary, *, max_cost: float | None = None) -> RunPricing:
    return RunPricing(
        summary, catalog=_catalog(), history={}, max_cost=max_cost, specs=routing.ROUTES
    )


def _price(model: str) -> float:
    price = _catalog().models[model].pricing.per_request
    assert price is not None
    return price


def test_a_midjourney_upscale_is_priced_as_an_upscale() -> None:
    job = _job("mj_fast_imagine", "midjourney", upscale=[2])
    imagine, upscale = provider_for("midjourney").requests_for(job, 2)
    summary = RunSummary()
    pricing = _pricing(summary)
    pricing(Answered(job, imagine, None))
    pricing(Answered(job, upscale, None))
    pricing(Finished(job, JobRecord(id="a", key="k", status=JobStatus.SUCCEEDED)))
    expected = _price("mj_fast_imagine") + _price("mj_fast_upscale")
    assert abs(summary.cost_usd - expected) < 1e-9
    assert summary.unpriced_jobs == 0


def test_a_job_refused_for_free_is_not_unpriced() -> None:
    job = _job("dall-e-3", "openai.generations")
    summary = RunSummary()
    pricing = _pricing(summary)
    pricing(Refused(job, ContentPolicyError("no")))
    pricing(Finished(job, JobRecord(id="a", key="k", status=JobStatus.FAILED)))
    assert (summary.cost_usd, summary.unpriced_jobs, summary.possibly_billed_usd) == (0, 0, 0)


def test_possibly_billed_requests_are_priced_and_charged_at_once() -> None:
    job = _job("dall-e-3", "openai.generations")
    (request,) = provider_for(job.api).requests_for(job, 1)
    summary = RunSummary()
    price = _price("dall-e-3")
    pricing = _pricing(summary, max_cost=2.5 * price)
    assert pricing.admit(PlannedJob(job, Reason.NEW, None)) is None
    pricing(Lost(job, request, TransportError("dropped", ambiguous=True)))
    assert pricing.may_retry()  # one lost (charged) plus this job's estimate: 2 of 2.5
    pricing(Abandoned(job, request))
    assert summary.possibly_billed_usd is not None
    assert abs(summary.possibly_billed_usd - 2 * price) < 1e-9
    assert not pricing.may_retry()  # 3 of 2.5: no more paid tries


def test_without_a_catalog_nothing_is_priced() -> None:
    job = _job("dall-e-3", "openai.generations")
    (request,) = provider_for(job.api).requests_for(job, 1)
    summary = RunSummary()
    pricing = RunPricing(summary, catalog=None, history={}, max_cost=None, specs=routing.ROUTES)
    pricing(Lost(job, request, TransportError("dropped", ambiguous=True)))
    assert summary.possibly_billed_usd is None
    assert pricing.admit(PlannedJob(job, Reason.NEW, None)) is None
