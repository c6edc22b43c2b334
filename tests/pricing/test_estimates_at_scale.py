"""The history and run estimates read every job of a large manifest, in plain code: they must
give exactly what the rules, written out plainly here, give (same sums, same floats, same
order), on varied records and jobs."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from batch_gen.models import ImageRecord, Job, JobRecord, JobStatus
from batch_gen.pricing.catalog import Catalog, parse_catalog
from batch_gen.pricing.cost import Estimate, estimate_job, estimate_run, history_from
from batch_gen.usage import Tokens, token_totals

CATALOG: Catalog = parse_catalog(
    {
        "success": True,
        "data": [
            {"id": "gpt-image-2", "pricing": {"currency": "USD", "input": 4, "output": 24}},
            {"id": "gpt-image-1-mini", "pricing": {"currency": "USD", "input": 2, "output": 8}},
            {"id": "mj_fast_imagine", "pricing": {"currency": "USD", "per_request": "0.168"}},
            {"id": "seedream", "pricing": {"currency": "USD", "output": 30}},
            {"id": "veo", "pricing": {"currency": "USD", "per_second": 0.4}},
        ],
    },
    fetched_at=0.0,
    source="test",
)
MODELS = ("gpt-image-2", "gpt-image-1-mini", "mj_fast_imagine", "seedream", "veo", "unknown")
COUNTS: tuple[object, ...] = (0, 1, 7, 1056, -3, 2.5, "12", None, True, False, {"n": 1})


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def plain_totals(usage: Mapping[str, Any] | None) -> dict[str, int] | None:
    """The reading of a usage document, as first written."""
    if not usage:
        return None
    inp = _int(usage.get("input_tokens", usage.get("prompt_tokens")))
    out = _int(usage.get("output_tokens", usage.get("completion_tokens")))
    total = _int(usage.get("total_tokens")) or inp + out
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": total}


def plain_history(jobs: Sequence[Job], records: Mapping[str, JobRecord]) -> dict[str, Any]:
    """history_from as first written: a dict of totals per record, summed per model."""
    sums: dict[str, dict[str, int]] = {}
    for job in jobs:
        record = records.get(job.id)
        if record is None or record.status is not JobStatus.SUCCEEDED or not record.usage:
            continue
        totals = plain_totals(record.usage)
        if not totals or not totals["total_tokens"]:
            continue
        names = ("input_tokens", "output_tokens", "total_tokens", "images", "jobs")
        entry = sums.setdefault(job.model, dict.fromkeys(names, 0))
        for name, count in totals.items():
            entry[name] += count
        entry["images"] += len(record.images) or 1
        entry["jobs"] += 1
    return {model: [entry] for model, entry in sums.items()}


def plain_run(
    jobs: Sequence[tuple[str, Mapping[str, Any], int, int]],
    history: Mapping[str, Sequence[Mapping[str, int]]],
) -> tuple[float, dict[str, tuple[int, Estimate]]]:
    """estimate_run as first written: every job estimated, an Estimate per job added."""
    per_model: dict[str, tuple[int, Estimate]] = {}
    for model, request, requests, images in jobs:
        estimate = estimate_job(
            model, request, requests=requests, images=images, catalog=CATALOG, history=history
        )
        count, so_far = per_model.get(model, (0, Estimate(0.0, estimate.method)))
        usd = None if so_far.usd is None or estimate.usd is None else so_far.usd + estimate.usd
        per_model[model] = (count + 1, Estimate(usd, estimate.method))
    return sum(estimate.usd or 0.0 for _, estimate in per_model.values()), per_model


def _usage(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.1:
        return rng.choice([None, {}])
    names = rng.choice(
        [
            ("input_tokens", "output_tokens", "total_tokens"),
            ("prompt_tokens", "completion_tokens", "total_tokens"),
            ("input_tokens", "completion_tokens"),
            ("prompt_tokens", "input_tokens", "output_tokens"),
            ("total_tokens",),
            ("input_tokens", "total_tokens", "input_tokens_details"),
        ]
    )
    return {name: rng.choice(COUNTS) for name in names if rng.random() < 0.9}


def _records_and_jobs(seed: int) -> tuple[list[Job], dict[str, JobRecord]]:
    rng = random.Random(seed)
    jobs, records = [], {}
    for n in range(400):
        request = {"model": rng.choice(MODELS), "size": rng.choice(["1024x1536", None, "auto"])}
        job = Job(f"j{n}", n + 1, "p", request, "openai.generations", f"k{n}")
        jobs.append(job)
        if rng.random() < 0.1:
            continue  # never run
        images = tuple(
            ImageRecord(i + 1, f"j{n}-{i}.png", "0" * 64, 10, "png")
            for i in range(rng.choice([0, 1, 1, 2, 4]))
        )
        records[job.id] = JobRecord(
            job.id,
            rng.choice([job.key, "an older key"]),  # history counts either
            rng.choice(list(JobStatus)),
            images=images,
            usage=_usage(rng),
        )
    return jobs, records


@pytest.mark.parametrize("seed", range(8))
def test_token_readings_match_the_plain_rule(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        usage = _usage(rng)
        assert token_totals(usage) == plain_totals(usage)
        tokens = Tokens()
        tokens.add(usage)
        tokens.add(usage)
        totals = plain_totals(usage) or dict.fromkeys(("input_tokens", "output_tokens"), 0)
        assert tokens.input == 2 * totals["input_tokens"]
        assert tokens.output == 2 * totals["output_tokens"]
        assert tokens.total == 2 * totals.get("total_tokens", 0)


@pytest.mark.parametrize("seed", range(8))
def test_history_matches_the_plain_sums(seed: int) -> None:
    jobs, records = _records_and_jobs(seed)
    history = history_from(jobs, records)
    assert history == plain_history(jobs, records)
    assert [list(entries[0]) for entries in history.values()] == [
        ["input_tokens", "output_tokens", "total_tokens", "images", "jobs"]
    ] * len(history)


@pytest.mark.parametrize("seed", range(8))
def test_run_estimates_match_job_by_job_estimates_to_the_last_bit(seed: int) -> None:
    """Same models in the same order, same job counts and methods, and the very same
    floats: sums are added job by job in manifest order, as before."""
    jobs, records = _records_and_jobs(seed)
    history = history_from(jobs, records)
    rng = random.Random(seed)
    work = [
        (
            job.model,
            {**job.request, "quality": rng.choice(["low", "high", None])},
            rng.choice([1, 1, 2]),
            rng.choice([1, 2, 3]),
        )
        for job in jobs
    ]
    total, per_model = estimate_run(work, catalog=CATALOG, history=history)
    plain_total, plain_per_model = plain_run(work, history)
    assert list(per_model.items()) == list(plain_per_model.items())
    assert total == plain_total
