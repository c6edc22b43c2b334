"""Job-record transitions are pure: tables of record in, record out."""

from __future__ import annotations

import pytest

from batch_gen.errors import BadResponseError, ContentPolicyError, ProviderError, ServerError
from batch_gen.models import ImageRecord, Job, JobRecord, JobStatus
from batch_gen.runner import transitions

JOB = Job(id="a", index=1, prompt="p", request={"n": 2}, api="openai.generations", key="k2")
IMAGE = ImageRecord(number=1, file="a-1.png", sha256="0" * 64, bytes=3, format="png")
RUNNING = JobRecord(id="a", key="k2", status=JobStatus.RUNNING, attempts=2, updated_at=1.0)


def test_a_fresh_start_keeps_nothing() -> None:
    record = transitions.started(JOB, None, kept=[], now=5.0)
    assert (record.status, record.attempts, record.images, record.tasks) == (
        JobStatus.RUNNING,
        0,
        (),
        None,
    )


def test_a_resumed_start_keeps_counts_tasks_and_the_images_still_there() -> None:
    base = JobRecord(
        id="a",
        key="k2",
        status=JobStatus.FAILED,
        attempts=4,
        ambiguous_retries=1,
        usage={"total_tokens": 9},
        tasks={"submit": "t"},
        error="x",
        retryable=True,
    )
    record = transitions.started(JOB, base, kept=[IMAGE], now=5.0)
    assert record.status is JobStatus.RUNNING
    assert record.error is None
    assert (record.attempts, record.ambiguous_retries, record.tasks) == (4, 1, {"submit": "t"})
    assert record.images == (IMAGE,)
    assert record.usage == {"total_tokens": 9}


@pytest.mark.parametrize(
    ("error", "retrying", "ambiguous_retries"),
    [
        (ServerError("busy"), True, 0),
        (BadResponseError("cut", ambiguous=True), True, 1),
        (BadResponseError("cut", ambiguous=True), False, 0),  # not retried: no retry to count
        (ContentPolicyError("no"), False, 0),
    ],
)
def test_a_failed_attempt_counts_once(
    error: ProviderError, retrying: bool, ambiguous_retries: int
) -> None:
    record = transitions.attempt_failed(RUNNING, error, retrying=retrying, now=2.0)
    assert (record.tries, record.attempts) == (1, 2)  # its first failure: 2 stays the most
    assert record.error == error.describe()
    assert record.ambiguous_retries == ambiguous_retries
    assert record.updated_at == 2.0


def test_an_answer_adds_its_token_totals() -> None:
    once = transitions.answered(RUNNING, {"input_tokens": 3, "output_tokens": 4}, now=2.0)
    twice = transitions.answered(once, {"prompt_tokens": 1, "completion_tokens": 1}, now=3.0)
    assert twice.usage == {"input_tokens": 4, "output_tokens": 5, "total_tokens": 9}


def _tries(steps: str, record: JobRecord | None = None) -> JobRecord:
    """The record after ``steps``: ``x`` a failed try, ``o`` an answered one."""
    record = record or transitions.started(JOB, None, kept=[], now=1.0)
    for step in steps:
        if step == "x":
            record = transitions.attempt_failed(record, ServerError("busy"), retrying=True, now=2.0)
        else:
            record = transitions.answered(record, None, now=2.0)
    return record


@pytest.mark.parametrize(
    ("steps", "attempts"),
    [
        ("o", 1),
        ("ooo", 1),  # three requests (a grid and two upscales), each at its first try
        ("xo", 2),
        ("oxxoo", 3),  # the second request needed three tries
        ("xoxo", 2),  # two requests needed two tries each
        ("xxx", 3),  # a request that never succeeded, tried three times
    ],
)
def test_attempts_are_the_most_tries_any_request_needed(steps: str, attempts: int) -> None:
    assert _tries(steps).attempts == attempts


def test_tries_of_a_request_carry_over_to_the_next_run() -> None:
    """Failed three times in one run, answered at the first try of the next: four tries."""
    first = transitions.failed(_tries("xxx"), ServerError("busy"), now=3.0)
    resumed = transitions.started(JOB, first, kept=[], now=4.0)
    assert (resumed.attempts, resumed.tries) == (3, 3)
    assert _tries("o", resumed).attempts == 4


def test_tasks_are_recorded_and_forgotten_by_step() -> None:
    one = transitions.task_recorded(RUNNING, "imagine", "t1", now=2.0)
    two = transitions.task_recorded(one, "upscale:1", "t2", now=2.0)
    assert two.tasks == {"imagine": "t1", "upscale:1": "t2"}
    assert transitions.task_recorded(one, "imagine", None, now=3.0).tasks is None


def test_images_then_success_or_failure() -> None:
    saved = transitions.images_saved(RUNNING, [IMAGE], now=2.0)
    assert saved.files == ("a-1.png",)
    done = transitions.succeeded(saved.replace(error="old", retryable=True), now=3.0)
    assert (done.status, done.error, done.retryable) == (JobStatus.SUCCEEDED, None, None)
    failed = transitions.failed(saved, ContentPolicyError("no"), now=3.0)
    assert (failed.status, failed.retryable, failed.files) == (
        JobStatus.FAILED,
        False,
        ("a-1.png",),
    )
