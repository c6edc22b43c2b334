"""Cost: estimates before a run and the actual cost after it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from batch_gen.pricing.catalog import Catalog, parse_catalog
from batch_gen.pricing.cost import (
    PER_REQUEST,
    PER_TOKEN_DEFAULTS,
    UNKNOWN_PRICE,
    Estimate,
    cost_of_usage,
    default_output_tokens,
    estimate_job,
    estimate_run,
    format_estimate,
    parse_size,
)


def _pricing(**prices: Any) -> dict[str, Any]:
    return {"currency": "USD", **prices}


CATALOG: Catalog = parse_catalog(
    {
        "success": True,
        "data": [
            {"id": "gpt-image-2", "pricing": _pricing(input=4, output=24)},
            {"id": "gpt-image-1-mini", "pricing": _pricing(input="2", output="8")},
            {"id": "mj_fast_imagine", "pricing": _pricing(per_request="0.168")},
            {"id": "both", "pricing": _pricing(input=4, output=24, per_request=0.05)},
            {"id": "gpt-image-zero", "pricing": _pricing(input=4, output=24, per_request=0)},
            {"id": "gemini-3-pro-image-preview", "pricing": _pricing(input=2, output=120)},
            {"id": "veo", "pricing": _pricing(per_second=0.4)},
            {"id": "no-pricing"},
            {"id": "yuan", "pricing": {"currency": "CNY", "per_request": 1}},
        ],
    },
    fetched_at=0.0,
    source="test",
)
NO_HISTORY: Mapping[str, Sequence[Mapping[str, int]]] = {}


def _estimate(
    model: str,
    request: Mapping[str, Any] | None = None,
    *,
    requests: int = 1,
    images: int = 1,
    history: Mapping[str, Sequence[Mapping[str, int]]] = NO_HISTORY,
) -> Estimate:
    return estimate_job(
        model,
        request or {},
        requests=requests,
        images=images,
        catalog=CATALOG,
        history=history,
    )


# --- the default token table ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("quality", "size", "tokens"),
    [
        ("low", "1024x1024", 272),
        ("medium", "1024x1024", 1056),
        ("high", "1024x1024", 4160),
        ("low", "1024x1536", 408),
        ("medium", "1024x1536", 1584),
        ("high", "1024x1536", 6240),
        ("low", "1536x1024", 400),
        ("medium", "1536x1024", 1568),
        ("high", "1536x1024", 6208),
        ("high", "2048x2048", 16640),  # four times the square's area
        ("low", "512x512", 68),
        ("medium", "3840x2160", 8353),  # 1056 * 3840*2160 / 1024**2 = 8353.1
        (None, None, 1056),  # auto quality is medium, auto size is square
        ("auto", "auto", 1056),
        ("HIGH", "1024X1536", 6240),
        ("hd", "1024x1024", 4160),
        ("standard", "1024x1024", 1056),
        ("ultra", "not-a-size", 1056),
    ],
)
def test_default_output_tokens(quality: str | None, size: str | None, tokens: int) -> None:
    """OpenAI's published table for the three sizes it lists; area scaling for the rest."""
    request = {"quality": quality, "size": size}
    assert default_output_tokens("gpt-image-2", request) == tokens


def test_defaults_cover_the_gpt_image_family_only() -> None:
    """Other models have no default token count: their price stays unknown without history."""
    assert default_output_tokens("chatgpt-image-latest", {}) == 1056
    assert default_output_tokens("GPT-Image-1.5", {}) == 1056
    assert default_output_tokens("gemini-3-pro-image-preview", {}) is None


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("1536x1024", (1536, 1024)),
        (" 1536 x 1024 ", (1536, 1024)),
        ("1328*1328", (1328, 1328)),
        ("1024\N{MULTIPLICATION SIGN}1536", (1024, 1536)),
        ("auto", (1024, 1024)),
        ("2K", (1024, 1024)),
        ("0x1024", (1024, 1024)),
        ("1024x", (1024, 1024)),
        ("1024x1024x3", (1024, 1024)),
        (1024, (1024, 1024)),
        (None, (1024, 1024)),
    ],
)
def test_parse_size(value: object, size: tuple[int, int]) -> None:
    """WxH in its common spellings; anything else is GPT image's default square."""
    assert parse_size(value) == size


# --- estimates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_fields", "requests", "images", "usd"),
    [
        # 50 input tokens per request at $4/M, output tokens per image at $24/M
        ({"quality": "low", "size": "1024x1024"}, 1, 1, (50 * 4 + 272 * 24) / 1e6),
        ({"quality": "medium", "size": "1024x1536"}, 1, 1, (50 * 4 + 1584 * 24) / 1e6),
        ({"quality": "high", "size": "1536x1024"}, 1, 1, (50 * 4 + 6208 * 24) / 1e6),
        ({}, 1, 1, (50 * 4 + 1056 * 24) / 1e6),
        ({"quality": "low", "n": 4}, 1, 4, (50 * 4 + 4 * 272 * 24) / 1e6),
        ({"quality": "low"}, 3, 3, (3 * 50 * 4 + 3 * 272 * 24) / 1e6),
        ({"quality": "high"}, 0, 0, 0.0),  # every image already on disk
    ],
)
def test_estimate_per_token_from_defaults(
    request_fields: dict[str, Any], requests: int, images: int, usd: float
) -> None:
    """Without history, GPT image jobs are priced from the table and say so."""
    estimate = _estimate("gpt-image-2", request_fields, requests=requests, images=images)
    assert estimate.method == PER_TOKEN_DEFAULTS
    assert estimate.usd == pytest.approx(usd)


def test_exact_dollar_amounts_from_defaults() -> None:
    """Pinned figures for a few common jobs on gpt-image-2 at $4 / $24 per 1M tokens."""
    low = _estimate("gpt-image-2", {"quality": "low", "size": "1024x1024"})
    high = _estimate("gpt-image-2", {"quality": "high", "size": "1024x1536"})
    assert low.usd == pytest.approx(0.006728)
    assert high.usd == pytest.approx(0.14996)  # 50 * 4 / 1e6 + 6240 * 24 / 1e6


def test_estimate_per_token_from_history() -> None:
    """Past usage wins over the table: mean tokens per image times the images asked for."""
    history = {
        "gpt-image-2": [
            {"input_tokens": 10, "output_tokens": 200, "total_tokens": 210},
            {"input_tokens": 20, "output_tokens": 400, "total_tokens": 420, "images": 2},
            {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},  # no usage reported
        ]
    }
    estimate = _estimate("gpt-image-2", {"quality": "high"}, images=2, history=history)
    # 3 images: 10 input and 200 output tokens each
    assert estimate.usd == pytest.approx((2 * 10 * 4 + 2 * 200 * 24) / 1e6)
    assert estimate.method == "per token from 2 past jobs of this model"


def test_history_with_only_totals_counts_the_rest_as_output() -> None:
    """A gateway that reports input and total only: output is the difference."""
    history = {"gpt-image-2": [{"input_tokens": 10, "total_tokens": 110}]}
    estimate = _estimate("gpt-image-2", history=history)
    assert estimate.usd == pytest.approx((10 * 4 + 100 * 24) / 1e6)
    assert estimate.method == "per token from 1 past job of this model"


def test_history_prices_a_token_model_that_has_no_defaults() -> None:
    """Gemini has no default table, but one past job is enough to price it."""
    assert _estimate("gemini-3-pro-image-preview").method == UNKNOWN_PRICE
    history = {"gemini-3-pro-image-preview": [{"input_tokens": 8, "output_tokens": 1120}]}
    estimate = _estimate("gemini-3-pro-image-preview", history=history)
    assert estimate.usd == pytest.approx((8 * 2 + 1120 * 120) / 1e6)


@pytest.mark.parametrize(
    ("model", "requests", "usd"),
    [
        ("mj_fast_imagine", 3, 3 * 0.168),
        ("mj_fast_imagine", 0, 0.0),
        ("both", 2, 0.10),  # a positive per-request price wins over token prices
    ],
)
def test_estimate_per_request(model: str, requests: int, usd: float) -> None:
    """Per-request models cost requests times the catalog price, whatever the size."""
    estimate = _estimate(model, {"size": "1536x1024"}, requests=requests, images=requests * 4)
    assert estimate.method == PER_REQUEST
    assert estimate.usd == pytest.approx(usd)


def test_a_zero_per_request_price_beside_token_prices_is_a_placeholder() -> None:
    """per_request 0 with token prices set: the token prices apply."""
    assert _estimate("gpt-image-zero").method == PER_TOKEN_DEFAULTS


@pytest.mark.parametrize(
    "model",
    ["not-in-catalog", "no-pricing", "veo", "yuan", "gemini-3-pro-image-preview"],
)
def test_unknown_price(model: str) -> None:
    """Unknown model, no pricing, per-second only, non-USD, or token-priced without a table."""
    assert _estimate(model, requests=2, images=2) == Estimate(None, UNKNOWN_PRICE)


def test_estimate_run_groups_jobs_by_model() -> None:
    """Per model: job count and summed estimate; the total counts what could be priced."""
    jobs = [
        ("gpt-image-2", {"quality": "low"}, 1, 1),
        ("mj_fast_imagine", {}, 1, 4),
        ("gpt-image-2", {"quality": "low"}, 1, 1),
        ("veo", {}, 1, 1),
    ]
    total, per_model = estimate_run(jobs, catalog=CATALOG, history=NO_HISTORY)
    assert list(per_model) == ["gpt-image-2", "mj_fast_imagine", "veo"]
    count, gpt = per_model["gpt-image-2"]
    assert (count, gpt.method) == (2, PER_TOKEN_DEFAULTS)
    assert gpt.usd == pytest.approx(2 * 0.006728)
    assert per_model["veo"] == (1, Estimate(None, UNKNOWN_PRICE))
    assert total == pytest.approx(2 * 0.006728 + 0.168)


def test_format_estimate() -> None:
    """One line: the total and, per model, its jobs and how they were priced."""
    per_model = {
        "gpt-image-2": (12, Estimate(1.062, PER_TOKEN_DEFAULTS)),
        "mj_fast_imagine": (3, Estimate(0.168, PER_REQUEST)),
    }
    assert format_estimate(1.23, per_model) == (
        "estimated cost: $1.23 (gpt-image-2: 12 jobs, per token from defaults; "
        "mj_fast_imagine: 3 jobs, per request)"
    )


def test_format_estimate_says_when_the_total_is_a_lower_bound() -> None:
    """An unpriced model turns the total into "at least" and is named as unknown."""
    per_model = {
        "gpt-image-2": (1, Estimate(0.0067, "per token from 5 past jobs of this model")),
        "veo": (1, Estimate(None, UNKNOWN_PRICE)),
    }
    assert format_estimate(0.0067, per_model) == (
        "estimated cost: at least $0.0067 (gpt-image-2: 1 job, per token from 5 past jobs; "
        "veo: 1 job, unknown price)"
    )
    assert format_estimate(0.0, {}) == "estimated cost: $0.00 (no jobs to run)"


# --- actual cost ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "usage", "requests", "usd"),
    [
        (
            "gpt-image-2",
            {"input_tokens": 13, "output_tokens": 196, "total_tokens": 209},
            1,
            (13 * 4 + 196 * 24) / 1e6,
        ),
        (
            "gpt-image-2",
            {"prompt_tokens": 13, "completion_tokens": 196},
            1,
            (13 * 4 + 196 * 24) / 1e6,
        ),
        ("gpt-image-2", {"input_tokens": 10, "total_tokens": 110}, 1, (10 * 4 + 100 * 24) / 1e6),
        ("gpt-image-1-mini", {"input_tokens": 1000, "output_tokens": 1000}, 1, (2000 + 8000) / 1e6),
        ("gpt-image-2", None, 1, None),
        ("gpt-image-2", {}, 1, None),
        ("gpt-image-2", {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}, 1, None),
        ("mj_fast_imagine", None, 2, 2 * 0.168),
        ("mj_fast_imagine", {"input_tokens": 5, "output_tokens": 5}, 1, 0.168),
        ("not-in-catalog", {"input_tokens": 5, "output_tokens": 5}, 1, None),
        ("veo", None, 1, None),
    ],
)
def test_cost_of_usage(
    model: str, usage: dict[str, int] | None, requests: int, usd: float | None
) -> None:
    """Reported tokens times token prices, or requests times the per-request price."""
    cost = cost_of_usage(model, usage, requests=requests, catalog=CATALOG)
    assert cost == (None if usd is None else pytest.approx(usd))


def test_history_sums_each_models_past_jobs_into_one_entry() -> None:
    """Past usage per model is summed once (so estimating many jobs is a lookup each) and
    the estimate says how many past jobs it learned from."""
    from batch_gen.models import ImageRecord, Job, JobRecord, JobStatus
    from batch_gen.pricing.cost import history_from

    jobs = [
        Job(f"j{n}", n, "p", {"model": "gpt-image-2", "n": 1}, "openai.generations", "k")
        for n in range(3)
    ]
    image = ImageRecord(1, "x.png", "0" * 64, 1, "png")
    records = {
        f"j{n}": JobRecord(
            f"j{n}",
            "k",
            JobStatus.SUCCEEDED,
            images=(image,),
            usage={"input_tokens": 10, "output_tokens": 100 * (n + 1), "total_tokens": 0},
        )
        for n in range(3)
    }
    history = history_from(jobs, records)
    assert history == {
        "gpt-image-2": [
            {"input_tokens": 30, "output_tokens": 600, "total_tokens": 630, "images": 3, "jobs": 3}
        ]
    }
