"""One job's life, in process, against a scripted fake API (no HTTP): retries, fates,
tasks recorded before their first poll, one rule for every task ending, deadlines."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from fake_provider import FakeApi, fake_manifest, image, ready, run_fake
from support import PNG

from batch_gen.errors import (
    AuthenticationError,
    BadResponseError,
    ContentPolicyError,
    ServerError,
    TransportError,
)
from batch_gen.models import JobStatus
from batch_gen.providers.base import Ended, Running, Submitted
from batch_gen.retry import RetryPolicy
from batch_gen.runner.tasks import LOST_TASK_PATIENCE
from batch_gen.state.journal import read_state


async def test_a_retryable_failure_is_retried_and_counted_once(tmp_path: Path) -> None:
    api = FakeApi().enqueue(ServerError("busy", status=503), image())
    summary = await run_fake(fake_manifest(tmp_path), api)
    assert summary.succeeded == ["j0"]
    assert (summary.requests, summary.retries, summary.ambiguous_retries) == (2, 1, 0)
    record = read_state(tmp_path / "out")["j0"]
    assert (record.status, record.attempts, record.ambiguous_retries) == (JobStatus.SUCCEEDED, 2, 0)
    assert (tmp_path / "out" / "j0.png").read_bytes() == PNG


async def test_attempts_count_the_most_tries_a_request_needed_not_the_requests(
    tmp_path: Path,
) -> None:
    """Three requests, the second tried twice: 2 attempts, in the state and the sidecar."""
    api = FakeApi().enqueue(image(), ServerError("busy", status=503), image(), image())
    summary = await run_fake(fake_manifest(tmp_path, n=3), api)
    assert (summary.requests, summary.retries) == (4, 1)
    assert read_state(tmp_path / "out")["j0"].attempts == 2
    assert json.loads((tmp_path / "out" / "j0.json").read_text())["attempts"] == 2


async def test_a_lost_answer_is_a_possibly_billed_retry(tmp_path: Path) -> None:
    lost = TransportError("dropped", ambiguous=True)
    summary = await run_fake(fake_manifest(tmp_path), FakeApi().enqueue(lost, image()))
    assert (summary.retries, summary.ambiguous_retries) == (1, 1)
    assert summary.ambiguous_jobs == {"j0"}
    assert read_state(tmp_path / "out")["j0"].ambiguous_retries == 1


async def test_a_permanent_refusal_fails_the_job_without_a_retry(tmp_path: Path) -> None:
    api = FakeApi().enqueue(ContentPolicyError("refused"))
    summary = await run_fake(fake_manifest(tmp_path), api)
    assert list(summary.failed) == ["j0"]
    assert summary.requests == 1
    record = read_state(tmp_path / "out")["j0"]
    assert (record.status, record.retryable, record.attempts) == (JobStatus.FAILED, False, 1)
    assert summary.exit_status() == 1


async def test_the_last_attempt_fails_the_job_retryable(tmp_path: Path) -> None:
    api = FakeApi().enqueue(*(ServerError("busy", status=500) for _ in range(3)))
    summary = await run_fake(fake_manifest(tmp_path), api)
    record = read_state(tmp_path / "out")["j0"]
    assert (record.status, record.retryable, record.attempts) == (JobStatus.FAILED, True, 3)
    assert summary.retries == 2
    assert not api.script


async def test_a_fatal_error_aborts_the_run_and_dispatches_nothing_more(tmp_path: Path) -> None:
    api = FakeApi().enqueue(AuthenticationError("invalid token", status=401))
    summary = await run_fake(fake_manifest(tmp_path, jobs=3), api)
    assert summary.exit_status() == 3
    assert "invalid token" in (summary.aborted or "")
    assert len(api.calls) == 1
    assert read_state(tmp_path / "out")["j0"].status is JobStatus.RUNNING


async def test_fail_fast_stops_dispatching_after_the_first_failure(tmp_path: Path) -> None:
    api = FakeApi().enqueue(ContentPolicyError("no"), image(), image())
    summary = await run_fake(fake_manifest(tmp_path, jobs=3), api, fail_fast=True)
    assert summary.stopped_early
    assert list(summary.failed) == ["j0"]
    assert summary.not_run == 2
    assert len(api.calls) == 1


async def test_images_of_a_job_are_numbered_and_kept_across_a_failure(tmp_path: Path) -> None:
    api = FakeApi().enqueue(image(), ContentPolicyError("no"))
    summary = await run_fake(fake_manifest(tmp_path, n=2), api)
    record = read_state(tmp_path / "out")["j0"]
    assert record.files == ("j0-1.png",)
    assert record.status is JobStatus.FAILED
    assert (tmp_path / "out" / "j0-1.png").exists()
    assert summary.images == 1


# --- tasks: the one loop --------------------------------------------------------------


async def test_a_task_is_recorded_before_its_first_poll(tmp_path: Path) -> None:
    api = FakeApi(tasks=True)
    seen: list[dict[str, str] | None] = []
    original = api.read_poll

    def read_poll(answer: Any, task_id: str, *, secret: str | None) -> Any:
        seen.append(read_state(tmp_path / "out")["j0"].tasks)  # what a crash would leave
        return original(answer, task_id, secret=secret)

    api.read_poll = read_poll  # type: ignore[method-assign]
    api.enqueue(Submitted("t-1"), Running(), ready())
    summary = await run_fake(fake_manifest(tmp_path), api)
    assert summary.succeeded == ["j0"]
    assert seen == [{"submit:1": "t-1"}, {"submit:1": "t-1"}]
    assert [call.method for call in api.calls] == ["POST", "GET", "GET"]


async def test_a_recorded_task_is_polled_not_submitted_again(tmp_path: Path) -> None:
    path = fake_manifest(tmp_path)
    first = FakeApi(tasks=True).enqueue(Submitted("t-1"), ContentPolicyError("stop here"))
    await run_fake(path, first, retry=RetryPolicy(max_attempts=1))
    # The refusal came from a poll: the task stays recorded, paid for.
    assert read_state(tmp_path / "out")["j0"].tasks == {"submit:1": "t-1"}
    second = FakeApi(tasks=True).enqueue(ready())
    summary = await run_fake(path, second, retry_failed=True)
    assert summary.succeeded == ["j0"]
    assert [call.path for call in second.calls] == ["/fake/t-1"]


@pytest.mark.parametrize(
    ("ending", "polls"),
    [
        (Ended(ServerError("task failed")), 1),
        (Ended(BadResponseError("task gone"), lost=True), 1 + LOST_TASK_PATIENCE),
    ],
)
async def test_an_ended_task_is_forgotten_and_counted_as_possibly_billed(
    tmp_path: Path, ending: Ended, polls: int
) -> None:
    """It was paid for and made no image; the retry submits a new task. A task not found
    is polled a few more times first."""
    api = FakeApi(tasks=True).enqueue(
        Submitted("t-1"), *(ending for _ in range(polls)), Submitted("t-2"), ready()
    )
    summary = await run_fake(fake_manifest(tmp_path), api)
    record = read_state(tmp_path / "out")["j0"]
    assert record.status is JobStatus.SUCCEEDED
    assert record.tasks == {"submit:1": "t-2"}
    assert summary.ambiguous_retries == 1
    assert summary.possibly_billed == {"j0": 1}
    assert [call.method for call in api.calls] == ["POST", *["GET"] * polls, "POST", "GET"]


async def test_a_job_replaces_a_lost_task_once_per_run(tmp_path: Path) -> None:
    lost = Ended(BadResponseError("task gone"), lost=True)
    patience = 1 + LOST_TASK_PATIENCE
    api = FakeApi(tasks=True).enqueue(
        Submitted("t-1"),
        *(lost for _ in range(patience)),
        Submitted("t-2"),
        *(lost for _ in range(patience)),
    )
    summary = await run_fake(
        fake_manifest(tmp_path), api, retry=RetryPolicy(max_attempts=5, scale=0)
    )
    assert [call.method for call in api.calls].count("POST") == 2
    assert summary.possibly_billed == {"j0": 2}
    record = read_state(tmp_path / "out")["j0"]
    assert record.status is JobStatus.FAILED
    assert record.retryable


async def test_a_failed_poll_is_retried_on_the_same_task_and_never_possibly_billed(
    tmp_path: Path,
) -> None:
    lost_poll = TransportError("dropped", ambiguous=True)
    api = FakeApi(tasks=True).enqueue(Submitted("t-1"), lost_poll, ready())
    summary = await run_fake(fake_manifest(tmp_path), api)
    assert summary.succeeded == ["j0"]
    assert summary.ambiguous_retries == 0
    assert [call.path for call in api.calls] == ["/fake", "/fake/t-1", "/fake/t-1"]


async def test_a_task_past_its_deadline_fails_naming_the_task(tmp_path: Path) -> None:
    api = FakeApi(tasks=True).enqueue(Submitted("t-9"), *(Running() for _ in range(50)))
    summary = await run_fake(
        fake_manifest(tmp_path),
        api,
        task_timeout=0.05,
        poll_interval=0.02,
        retry=RetryPolicy(max_attempts=1),
    )
    assert "t-9" in summary.failed["j0"]
    assert "--task-timeout" in summary.failed["j0"]
    assert read_state(tmp_path / "out")["j0"].tasks == {"submit:1": "t-9"}


async def test_every_call_takes_its_own_rate_slot(tmp_path: Path) -> None:
    """At 1,200 rpm (one call per 50 ms), a submit and two polls span at least 100 ms."""
    api = FakeApi(tasks=True).enqueue(Submitted("t-1"), Running(), ready())
    times: list[float] = []
    send = api.transport

    async def timed(call: Any) -> Any:
        import time

        times.append(time.monotonic())
        return await send(call)

    api.transport = timed  # type: ignore[method-assign]
    await run_fake(fake_manifest(tmp_path), api, rpm=1200)
    assert len(times) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= 0.045 for gap in gaps), gaps
