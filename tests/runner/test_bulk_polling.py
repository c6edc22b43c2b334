"""Bulk polling, in process, against a task board (a fake task API that polls in bulk):
every waiting task of the run in calls of at most ``bulk_poll`` ids, a task the answers
leave out fetched singly, a refused bulk route polled singly for the rest of the run, every
call in its own ``--rpm`` slot, and a task recorded before a crash resumed by its id."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fake_provider import fake_manifest, image, run_fake
from support import PNG

from batch_gen.errors import BadResponseError, ProviderError
from batch_gen.manifest import load_manifest
from batch_gen.models import Job, JobRecord, JobStatus
from batch_gen.providers.base import (
    Answer,
    ApiRequest,
    ApiSpec,
    BulkPoll,
    Call,
    Ended,
    Generation,
    Poll,
    Ready,
    Running,
    Submitted,
)
from batch_gen.report import RunSummary
from batch_gen.runner.polling import MISSED_ROUNDS
from batch_gen.state.journal import StateStore, read_state


@dataclass
class TaskBoard:
    """A task API polled in bulk (up to ``limit`` ids a call). A task is ready once it
    has been asked about ``ready_after`` times (in bulk or alone); ``hidden`` tasks are left
    out of bulk answers; ``refuse`` refuses the bulk route; a task the board does not know
    is lost."""

    limit: int = 100
    ready_after: int = 2
    hidden: set[str] = field(default_factory=set)
    refuse: bool = False
    known: set[str] = field(default_factory=set)
    asked: Counter[str] = field(default_factory=Counter)
    calls: list[tuple[float, Call]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.spec = ApiSpec(
            api="board",
            endpoint="/board",
            title="Board",
            tasks=True,
            bulk_poll=self.limit,
            request_count=lambda job, images: max(images, 0),
        )

    def requests_for(self, job: Job, images: int) -> list[ApiRequest]:
        return [ApiRequest("/board", {"prompt": job.prompt}, 1, step="submit")][:images]

    def prepare(self, request: ApiRequest, tasks: Mapping[str, str]) -> str | None:
        return None

    def build_call(
        self, request: ApiRequest, inputs: Sequence[bytes], prepared: Poll | None
    ) -> Call:
        return Call("POST", "/board", "board submit", json=request.body)

    def read_answer(
        self, answer: Answer, request: ApiRequest, *, secret: str | None
    ) -> Generation | Submitted:
        task_id = f"t{next(self._ids)}"
        self.known.add(task_id)
        return Submitted(task_id)

    def poll_call(self, task_id: str) -> Call:
        return Call("GET", f"/board/{task_id}", f"board task {task_id}")

    def read_poll(self, answer: Answer, task_id: str, *, secret: str | None) -> Poll:
        if task_id not in self.known:
            return Ended(BadResponseError(f"task {task_id} is gone"), lost=True)
        return self._state(task_id)

    def bulk_poll_call(self, task_ids: Sequence[str]) -> Call:
        return Call("POST", "/board/list", "board list", json={"ids": list(task_ids)})

    def read_bulk_poll(
        self, answer: Answer, task_ids: Sequence[str], *, secret: str | None
    ) -> BulkPoll | None:
        if self.refuse:
            return None
        listed = [task_id for task_id in task_ids if task_id in self.known - self.hidden]
        found: dict[str, Poll | ProviderError] = {}
        for task_id in reversed(listed):  # in no particular order
            found[task_id] = self._state(task_id)
        return found

    def _state(self, task_id: str) -> Poll:
        self.asked[task_id] += 1
        if self.asked[task_id] >= self.ready_after:
            return Ready(image(PNG))
        return Running()

    async def transport(self, call: Call) -> Answer:
        self.calls.append((time.monotonic(), call))
        return Answer(200, {}, b"")

    def provider_for(self, api: str) -> TaskBoard:
        return self

    def bulk_calls(self) -> list[list[str]]:
        return [list(call.json["ids"]) for _, call in self.calls if call.path == "/board/list"]

    def single_polls(self) -> list[str]:
        return [call.path.rsplit("/", 1)[1] for _, call in self.calls if call.method == "GET"]


async def _run(path: Path, board: TaskBoard, **options: Any) -> RunSummary:
    return await run_fake(path, board, **{"poll_interval": 0.01, "concurrency": 200, **options})


async def test_150_tasks_are_polled_in_bulk_calls_of_at_most_100_ids(tmp_path: Path) -> None:
    board = TaskBoard()
    summary = await _run(fake_manifest(tmp_path, 150), board)
    assert summary.exit_status() == 0
    assert len(summary.succeeded) == 150
    calls = board.bulk_calls()
    assert calls
    assert all(len(ids) <= 100 for ids in calls)
    assert sorted(len(ids) for ids in calls[:2]) == [50, 100]  # the first round: every task
    assert board.single_polls() == []  # every poll went in bulk
    # Each task was asked about until ready: two rounds of two calls, not 300 fetches.
    assert len(calls) == 4


async def test_a_task_the_bulk_answers_leave_out_is_fetched_singly(tmp_path: Path) -> None:
    board = TaskBoard(hidden={"t2"})
    summary = await _run(fake_manifest(tmp_path, 3), board)
    assert summary.exit_status() == 0
    listed = board.bulk_calls()
    # t2 was asked about in bulk MISSED_ROUNDS times, then fetched alone, until ready.
    assert sum("t2" in ids for ids in listed) >= MISSED_ROUNDS
    assert set(board.single_polls()) == {"t2"}
    assert read_state(tmp_path / "out")["j1"].status is JobStatus.SUCCEEDED


async def test_a_task_left_out_and_gone_is_lost_by_its_single_fetch(tmp_path: Path) -> None:
    """The single fetch is what says a task is gone: the request loop's lost-task rules
    follow (patience, then one replacement per run)."""
    board = TaskBoard(hidden={"t1"})
    board.read_answer = _forgetting(board, "t1")  # type: ignore[method-assign]
    summary = await _run(fake_manifest(tmp_path, 1), board)
    assert summary.exit_status() == 0
    assert summary.possibly_billed == {"j0": 1}  # the lost task was paid for
    assert "t1" in board.single_polls()
    record = read_state(tmp_path / "out")["j0"]
    assert record.status is JobStatus.SUCCEEDED
    assert record.ambiguous_retries == 1


def _forgetting(board: TaskBoard, task_id: str) -> Any:
    """``board.read_answer``, but the board forgets task ``task_id`` at once."""
    submit = board.read_answer

    def read_answer(answer: Answer, request: ApiRequest, *, secret: str | None) -> Submitted:
        submitted = submit(answer, request, secret=secret)
        assert isinstance(submitted, Submitted)
        board.known.discard(task_id)
        return submitted

    return read_answer


async def test_a_refused_bulk_route_falls_back_to_single_polls(tmp_path: Path) -> None:
    board = TaskBoard(refuse=True)
    summary = await _run(fake_manifest(tmp_path, 5), board)
    assert summary.exit_status() == 0
    assert len(board.bulk_calls()) == 1  # refused once: never asked again this run
    assert Counter(board.single_polls()) == Counter({f"t{n}": 2 for n in range(1, 6)})


async def test_bulk_polls_take_their_own_rpm_slots(tmp_path: Path) -> None:
    board = TaskBoard(ready_after=3)
    summary = await _run(fake_manifest(tmp_path, 4), board, rpm=1200)  # one call per 50 ms
    assert summary.exit_status() == 0
    times = [at for at, _ in board.calls]
    assert len(board.bulk_calls()) >= 3  # every task asked about three times, in bulk
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 0.045  # submits and bulk polls alike, one slot each
    assert times[-1] - times[0] >= (len(times) - 1) * 0.045


async def test_a_task_recorded_before_a_crash_is_polled_in_bulk_by_its_id(
    tmp_path: Path,
) -> None:
    path = fake_manifest(tmp_path, 1)
    job = load_manifest(path).jobs[0]
    board = TaskBoard(known={"t-old"})
    with StateStore.open(tmp_path / "out") as store:
        record = JobRecord(id="j0", key=job.key, status=JobStatus.RUNNING, in_flight=1)
        store.put(record.replace(tasks={"submit": "t-old"}))
    summary = await _run(path, board)
    assert summary.exit_status() == 0
    assert [call.path for _, call in board.calls if call.method == "POST"] == [
        "/board/list",
        "/board/list",
    ]  # no new submit: the recorded task was polled until ready
    assert board.bulk_calls()[0] == ["t-old"]
