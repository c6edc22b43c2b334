"""The summary reads well: one line when there was nothing to do, words that agree with
their counts, no bracket inside another; the report document keeps its fields."""

from __future__ import annotations

from collections import Counter

import pytest

from batch_gen.models import JobRecord, JobStatus
from batch_gen.planning.plan import Reason
from batch_gen.report import RunSummary, format_summary, plural, report_document
from batch_gen.usage import Tokens


def _summary(**fields: object) -> RunSummary:
    summary = RunSummary(total=12, output_dir="output/catalog", wall_seconds=5.7)
    for name, value in fields.items():
        setattr(summary, name, value)
    return summary


def _deepest_bracket(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


@pytest.mark.parametrize(
    ("summary", "text"),
    [
        (
            _summary(skipped=Counter({Reason.DONE: 12})),
            "batch_gen: nothing to do: all 12 jobs already done in output/catalog",
        ),
        (
            _summary(total=1, skipped=Counter({Reason.DONE: 1})),
            "batch_gen: nothing to do: the job is already done in output/catalog",
        ),
        (
            _summary(skipped=Counter({Reason.DONE: 10, Reason.FAILED: 2})),
            "batch_gen: nothing to do in output/catalog: of 12 jobs, 10 already done,"
            " 2 failed permanently (use --retry-failed)",
        ),
        (_summary(total=0), "batch_gen: nothing to do: the manifest has no jobs"),
    ],
)
def test_a_run_with_nothing_to_do_says_so_in_one_line(summary: RunSummary, text: str) -> None:
    assert format_summary(summary) == text


def test_a_run_that_made_images() -> None:
    summary = _summary(
        succeeded=[f"j{number}" for number in range(7)],
        skipped=Counter({Reason.DONE: 4, Reason.NOT_SELECTED: 1}),
        requests=7,
        retries=1,
        images=7,
        bytes=2_100_000,
        tokens=Tokens(input=10, output=20, total=30),
    )
    assert format_summary(summary).splitlines() == [
        "batch_gen: 7 succeeded, 0 failed, 5 skipped, of 12 jobs in 5.7s",
        "  images saved: 7 (2.1 MB, 1.23 images/s) in output/catalog",
        "  requests: 7, retries: 1",
        "  tokens: 10 in, 20 out, 30 total",
        "  skipped: 4 already done, 1 not selected by --only",
    ]


def test_one_job_is_one_job_and_nothing_saved_says_none() -> None:
    summary = _summary(total=1, failed={"a": "HTTP 400: bad size"}, requests=1, wall_seconds=0.4)
    assert format_summary(summary).splitlines() == [
        "batch_gen: 0 succeeded, 1 failed, 0 skipped, of 1 job in 0.4s",
        "  images saved: none",
        "  requests: 1, retries: 0",
        "  failed:",
        "    a: HTTP 400: bad size",
    ]


def test_no_bracket_holds_another_anywhere_in_the_summary() -> None:
    summary = _summary(
        succeeded=["a"],
        failed={"b": "HTTP 500: busy"},
        skipped=Counter({Reason.FAILED: 2, Reason.DONE: 1}),
        requests=9,
        images=1,
        bytes=1000,
        cost_usd=0.5,
        unpriced_jobs=1,
        possibly_billed=Counter({"b": 2}),
        possibly_billed_usd=0.2,
        aborted="cannot reach api.test:443: connection refused; check --base-url",
        budget_stop="stopped before c: its estimated $0.04 would exceed --max-cost $0.10;"
        " cost: $0.08 of $0.10 limit (1 job could not be priced and counted as free)",
        notes=["models not checked and costs not known: the catalog is empty"],
        stopped_early=True,
    )
    text = format_summary(summary)
    assert _deepest_bracket(text) == 1, text
    assert "1 job not priced" in text
    assert "2 lost answers" in text


@pytest.mark.parametrize(
    ("count", "text"), [(0, "0 requests"), (1, "1 request"), (2, "2 requests")]
)
def test_plural(count: int, text: str) -> None:
    assert plural(count, "request") == text


def test_the_report_document_keeps_its_fields() -> None:
    record = JobRecord(id="a", key="k", status=JobStatus.SUCCEEDED, attempts=1)
    summary = _summary(succeeded=["a"], records={"a": record}, job_keys={"a": "k", "b": "l"})
    document = report_document(summary)
    assert list(document) == [
        "manifest", "provider", "started_at", "shard", "total", "succeeded", "failed",
        "skipped", "not_run", "requests", "retries", "ambiguous_retries", "ambiguous_jobs",
        "images",
        "bytes", "tokens", "cost_usd", "unpriced_jobs", "possibly_billed",
        "possibly_billed_usd", "budget_stop", "wall_seconds", "interrupted", "aborted",
        "exit_status", "output_dir", "jobs",
    ]  # fmt: skip
    assert [list(job) for job in document["jobs"]] == [
        [
            "id", "key", "status", "attempts", "ambiguous_retries", "possibly_billed",
            "files", "error", "retryable", "usage",
        ]
    ] * 2  # fmt: skip
