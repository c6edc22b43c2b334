"""What a run will cost and what it did cost (pure: no I/O).

Prices come from the model catalog (:mod:`batch_gen.pricing.catalog`); the ``--max-cost``
ledger that spends against these estimates is :mod:`batch_gen.pricing.budget`. A model is
charged either per request (``pricing.per_request``, e.g. Midjourney, Flux) or per token
(``input`` and ``output`` per million tokens, e.g. the GPT image models). When both are
filled in, a positive per-request price wins: it is the simpler, exact charge. Prices whose
currency label does not say USD are treated as unknown rather than converted.

Estimating a token-priced job needs token counts before the request is sent:

1. **From history.** Past jobs of the same model, as recorded in the state (usage token
   totals: ``input_tokens``, ``output_tokens``, ``total_tokens``; optionally ``images``, the
   number of images that usage paid for, default 1). The mean tokens per image times the
   images the job asks for. The provider's own count beats any table.
2. **From defaults**, for the GPT image family only (ids ``gpt-image*``,
   ``chatgpt-image*``). Output tokens per image, from OpenAI's published table (image
   generation guide, "Cost and latency", developers.openai.com/api/docs/guides/
   image-generation, the same figures quoted on community.openai.com):

   ========  =========  =========  =========
   quality   1024x1024  1024x1536  1536x1024
   ========  =========  =========  =========
   low       272        408        400
   medium    1056       1584       1568
   high      4160       6240       6208
   ========  =========  =========  =========

   Other sizes scale the square figure by area (1536x1024 is 1.5 times the pixels, hence
   ~1.5 times the tokens; the table bears this out within 2%); ``size`` ``auto`` or absent
   counts as 1024x1024. ``quality`` ``auto`` or absent counts as medium (OpenAI's ``auto``
   picks per prompt; medium is the middle guess), ``hd`` as high, ``standard`` as medium.
   Input tokens: a round 50 per request, a typical short prompt; reference images sent to
   edits are not counted. The table was published for gpt-image-1; later models may bill
   differently (gpt-image-2 bills more per image at high quality), which is why history
   wins as soon as one job of the model has run.

3. Otherwise (another token-priced model with no history, per-second pricing, a model not
   in the catalog) the price is unknown, and every caller says so instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from batch_gen.models import Job, JobRecord, JobStatus
from batch_gen.pricing.catalog import Catalog, Pricing, format_usd
from batch_gen.usage import token_counts, token_totals

PER_REQUEST = "per request (catalog)"
PER_TOKEN_DEFAULTS = "per token from defaults (see cost.py)"
UNKNOWN_PRICE = "unknown price"

DEFAULT_INPUT_TOKENS = 50  # per request: a typical short prompt
DEFAULT_SIZE = (1024, 1024)
# OpenAI's published output tokens per image (see the module docstring).
GPT_IMAGE_OUTPUT_TOKENS: Mapping[str, Mapping[tuple[int, int], int]] = {
    "low": {(1024, 1024): 272, (1024, 1536): 408, (1536, 1024): 400},
    "medium": {(1024, 1024): 1056, (1024, 1536): 1584, (1536, 1024): 1568},
    "high": {(1024, 1024): 4160, (1024, 1536): 6240, (1536, 1024): 6208},
}
_QUALITY_ALIASES = {"low": "low", "medium": "medium", "high": "high", "hd": "high"}
_GPT_IMAGE_PREFIXES = ("gpt-image", "chatgpt-image")
# "1536x1024", also the multiplication sign and Alibaba's "1328*1328".
_SIZE = re.compile(r"(\d{1,6})\s*[xX*\N{MULTIPLICATION SIGN}]\s*(\d{1,6})", re.ASCII)

Basis = Literal["request", "token"]


def per_token_from_history(jobs: int) -> str:
    """The method of an estimate made from ``jobs`` past jobs of the model."""
    return f"per token from {jobs} past job{'s' if jobs != 1 else ''} of this model"


@dataclass(frozen=True, slots=True)
class Estimate:
    """An estimated cost in USD (``None``: could not be priced) and how it was made: one of
    :data:`PER_REQUEST`, :func:`per_token_from_history`, :data:`PER_TOKEN_DEFAULTS`,
    :data:`UNKNOWN_PRICE`."""

    usd: float | None
    method: str


# --- pricing rules ----------------------------------------------------------------------


def _usable_pricing(model: str, catalog: Catalog) -> Pricing | None:
    info = catalog.get(model)
    if info is None or info.pricing is None or not info.pricing.is_usd:
        return None
    return info.pricing


def _basis(pricing: Pricing) -> Basis | None:
    """How a model is charged: a positive per-request price wins, then token prices."""
    if pricing.per_request is not None and (
        pricing.per_request > 0 or not pricing.has_token_prices
    ):
        return "request"
    if pricing.has_token_prices:
        return "token"
    return None  # per second only: nothing in an image request says how many seconds


def _token_cost(pricing: Pricing, *, input_tokens: float, output_tokens: float) -> float:
    # A missing side of a token price counts as free: catalogs list image models with only
    # an output price, and the text input of an image request is a rounding error.
    input_price = pricing.input_per_million or 0.0
    output_price = pricing.output_per_million or 0.0
    return (input_tokens * input_price + output_tokens * output_price) / 1_000_000


def _output_tokens(totals: Mapping[str, int]) -> int:
    """The output tokens of :func:`~batch_gen.usage.token_totals`: some gateways report
    only the total, and the rest of it is output."""
    return totals["output_tokens"] or totals["total_tokens"] - totals["input_tokens"]


# --- estimating -------------------------------------------------------------------------


def estimate_job(
    model: str,
    request: Mapping[str, Any],
    *,
    requests: int,
    images: int,
    catalog: Catalog,
    history: Mapping[str, Sequence[Mapping[str, int]]],
) -> Estimate:
    """The cost of one job that sends ``requests`` requests for ``images`` images.

    Per-request models: ``requests`` times the price. Token-priced models: the mean tokens
    per image of ``history[model]`` times ``images``, else the documented GPT image
    defaults (module docstring), else unknown.
    """
    pricing = _usable_pricing(model, catalog)
    basis = _basis(pricing) if pricing is not None else None
    if pricing is None or basis is None:
        return Estimate(None, UNKNOWN_PRICE)
    if basis == "request":
        return Estimate(requests * (pricing.per_request or 0.0), PER_REQUEST)
    past = _mean_tokens_per_image(history.get(model, ()))
    if past is not None:
        jobs, input_per_image, output_per_image = past
        usd = _token_cost(
            pricing,
            input_tokens=input_per_image * images,
            output_tokens=output_per_image * images,
        )
        return Estimate(usd, per_token_from_history(jobs))
    default_per_image = default_output_tokens(model, request)
    if default_per_image is None:
        return Estimate(None, UNKNOWN_PRICE)
    usd = _token_cost(
        pricing,
        input_tokens=DEFAULT_INPUT_TOKENS * requests,
        output_tokens=default_per_image * images,
    )
    return Estimate(usd, PER_TOKEN_DEFAULTS)


def _mean_tokens_per_image(
    entries: Sequence[Mapping[str, int]],
) -> tuple[int, float, float] | None:
    """(jobs used, mean input tokens per image, mean output tokens per image), or ``None``.

    An entry may stand for several jobs (``"jobs"``, default 1; see :func:`history_from`).
    Entries that report no tokens at all (a provider that sent no usage) are left out.
    """
    jobs = images = input_tokens = output_tokens = 0
    for entry in entries:
        totals = token_totals(entry)
        if not totals or not totals["total_tokens"]:
            continue
        count = entry.get("images", 1)
        weight = entry.get("jobs", 1)
        jobs += weight if isinstance(weight, int) and weight > 0 else 1
        images += count if isinstance(count, int) and count > 0 else 1
        input_tokens += totals["input_tokens"]
        output_tokens += _output_tokens(totals)
    if not jobs:
        return None
    return jobs, input_tokens / images, output_tokens / images


def default_output_tokens(model: str, request: Mapping[str, Any]) -> int | None:
    """Output tokens per image from OpenAI's table (GPT image models only, else ``None``)."""
    if not model.lower().startswith(_GPT_IMAGE_PREFIXES):
        return None
    quality = _QUALITY_ALIASES.get(str(request.get("quality") or "").lower(), "medium")
    table = GPT_IMAGE_OUTPUT_TOKENS[quality]
    size = parse_size(request.get("size"))
    if size in table:
        return table[size]
    width, height = size
    return round(table[DEFAULT_SIZE] * width * height / (DEFAULT_SIZE[0] * DEFAULT_SIZE[1]))


def parse_size(value: object) -> tuple[int, int]:
    """``(width, height)`` of a ``size`` field like ``"1536x1024"``; 1024x1024 for
    ``auto``, absent or unreadable values (those are GPT image's default size)."""
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or not int(match[1]) or not int(match[2]):
        return DEFAULT_SIZE
    return int(match[1]), int(match[2])


def estimate_run(
    jobs: Iterable[tuple[str, Mapping[str, Any], int, int]],
    *,
    catalog: Catalog,
    history: Mapping[str, Sequence[Mapping[str, int]]],
) -> tuple[float, dict[str, tuple[int, Estimate]]]:
    """Estimate jobs given as ``(model, request, requests, images)`` and group them by model.

    Returns the total of what could be priced and, per model in first-seen order, the
    number of jobs and their summed estimate (``usd`` ``None`` if any job of the model
    could not be priced): the input of :func:`format_estimate`.
    """
    sums: dict[str, _ModelSum] = {}
    # An estimate depends on the model, the counts, size and quality only: 100,000 jobs
    # usually share a handful of those, and each job adds to its model's sum in place.
    seen: dict[tuple[str, int, int, object, object], Estimate] = {}
    for model, request, requests, images in jobs:
        shape = (model, requests, images, request.get("size"), request.get("quality"))
        estimate = seen.get(shape)
        if estimate is None:
            estimate = seen[shape] = estimate_job(
                model, request, requests=requests, images=images, catalog=catalog, history=history
            )
        total = sums.get(model)
        if total is None:
            total = sums[model] = _ModelSum()
        total.add(estimate)
    per_model = {
        model: (total.jobs, Estimate(total.usd, total.method)) for model, total in sums.items()
    }
    return sum(estimate.usd or 0.0 for _, estimate in per_model.values()), per_model


@dataclass(slots=True)
class _ModelSum:
    """One model's jobs so far: how many, their summed cost (None once one could not be
    priced), and the method of the last one's estimate."""

    jobs: int = 0
    usd: float | None = 0.0
    method: str = ""

    def add(self, estimate: Estimate) -> None:
        self.jobs += 1
        # Added job by job, in order: the same float as ever, not ``count * usd``.
        self.usd = None if self.usd is None or estimate.usd is None else self.usd + estimate.usd
        self.method = estimate.method


def format_estimate(total_usd: float, per_model: Mapping[str, tuple[int, Estimate]]) -> str:
    """The dry run's cost line, e.g. ``estimated cost: $1.23 (gpt-image-2: 12 jobs, per
    token from defaults; mj_fast_imagine: 3 jobs, per request)``. When some model could not
    be priced the total is a lower bound and says so ("at least")."""
    if not per_model:
        return "estimated cost: $0.00 (no jobs to run)"
    unpriced = any(estimate.usd is None for _, estimate in per_model.values())
    parts = [
        f"{model}: {count} job{'s' if count != 1 else ''}, {_short_method(estimate.method)}"
        for model, (count, estimate) in per_model.items()
    ]
    bound = "at least " if unpriced else ""
    return f"estimated cost: {bound}{format_usd(total_usd)} ({'; '.join(parts)})"


def _short_method(method: str) -> str:
    for tail in (" (catalog)", " (see cost.py)", " of this model"):
        method = method.removesuffix(tail)
    return method


# --- actual cost ------------------------------------------------------------------------


def cost_of_usage(
    model: str, usage: Mapping[str, int] | None, *, requests: int, catalog: Catalog
) -> float | None:
    """What a job cost: ``requests`` times the per-request price, or the reported usage
    (OpenAI or chat-style token names) times the token prices. ``None`` when the model is
    not priced in USD, or is token-priced and no usage was reported.
    """
    pricing = _usable_pricing(model, catalog)
    basis = _basis(pricing) if pricing is not None else None
    if pricing is None or basis is None:
        return None
    if basis == "request":
        return requests * (pricing.per_request or 0.0)
    totals = token_totals(usage)
    if not totals or not totals["total_tokens"]:
        return None
    return _token_cost(
        pricing, input_tokens=totals["input_tokens"], output_tokens=_output_tokens(totals)
    )


def history_from(
    jobs: Iterable[Job], records: Mapping[str, JobRecord]
) -> dict[str, list[dict[str, int]]]:
    """Past token usage per model, from the succeeded records of this manifest's jobs:
    the "similar past jobs" that per-token estimates learn from.

    Each model's jobs are summed into one entry (with their count in ``"jobs"``), so that
    estimating 100,000 jobs against 100,000 past ones costs a lookup each, not a scan.
    """
    sums: dict[str, list[int]] = {}  # model -> the sums of _SUMMED, in that order
    get = records.get
    succeeded = JobStatus.SUCCEEDED
    for job in jobs:  # plain code, no dict per record: once per job of the manifest
        record = get(job.id)
        if record is None or record.status is not succeeded or not record.usage:
            continue
        input_tokens, output_tokens, total_tokens = token_counts(record.usage)
        if not total_tokens:
            continue
        model = job.model
        entry = sums.get(model)
        if entry is None:
            entry = sums[model] = [0] * len(_SUMMED)
        entry[0] += input_tokens
        entry[1] += output_tokens
        entry[2] += total_tokens
        entry[3] += len(record.images) or 1
        entry[4] += 1
    return {model: [dict(zip(_SUMMED, entry, strict=True))] for model, entry in sums.items()}


_SUMMED = ("input_tokens", "output_tokens", "total_tokens", "images", "jobs")
