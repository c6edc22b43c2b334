"""What a job's delivered images cost, at catalog prices. Pure: the providers' request
building and the catalog's prices, nothing sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from batch_gen.models import Job, JobRecord
from batch_gen.pricing.catalog import Catalog
from batch_gen.pricing.cost import cost_of_usage
from batch_gen.providers.base import ApiRequest, Provider
from batch_gen.providers.registry import provider_for
from batch_gen.usage import token_totals


def _requests(job: Job, images: int) -> tuple[Provider, list[ApiRequest]] | None:
    """The provider of ``job`` and the requests that make its last ``images`` images;
    None when the job's route is unknown (a state written by a newer batch_gen)."""
    try:
        provider = provider_for(job.api)
        return provider, provider.requests_for(job, images)
    except ValueError:
        return None


def delivered_cost(job: Job, record: JobRecord, catalog: Catalog) -> float | None:
    """What the images ``record`` holds cost at catalog prices: each request that made
    them priced as its step is (an upscale as an upscale), token-priced models from the
    recorded token totals. None when nothing was delivered or the catalog cannot price it.

    Images are made in step order, so the delivered ones are the requests of the whole
    job minus those of the missing tail.
    """
    made = len(record.images)
    whole = _requests(job, job.n)
    if not made or whole is None:
        return None
    provider, everything = whole
    missing = _requests(job, job.n - made) if made < job.n else (provider, [])
    if missing is None:
        return None
    delivered = everything[: len(everything) - len(missing[1])]
    return _price(job, record, provider, delivered, catalog)


def _price(
    job: Job,
    record: JobRecord,
    provider: Provider,
    requests: Sequence[ApiRequest],
    catalog: Catalog,
) -> float | None:
    usage = token_totals(record.usage)
    by_model = Counter(provider.spec.priced_as(job.model, request.step) for request in requests)
    total = 0.0
    for model, count in by_model.items():
        usd = cost_of_usage(model, usage, requests=count, catalog=catalog)
        if usd is None:
            return None
        total += usd
    return total
