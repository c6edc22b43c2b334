"""Shards share an output folder: a journal and a lock each, and readers merge them all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batch_gen.errors import OutputLockedError
from batch_gen.models import JobRecord, JobStatus
from batch_gen.shards import Shard, shard_number
from batch_gen.state.folder import runs_in_progress, state_files
from batch_gen.state.journal import StateStore, merge_records, read_shard_states, read_state

STATE = ".batch_gen"


def record(
    job_id: str, *, at: float, status: JobStatus = JobStatus.SUCCEEDED, **more: object
) -> JobRecord:
    return JobRecord(id=job_id, key="k", status=status, updated_at=at, **more)  # type: ignore[arg-type]


def ids_of(shard: int, count: int, *, many: int = 3) -> list[str]:
    """``many`` ids that fall in shard ``shard`` of ``count``."""
    found = [f"job-{n}" for n in range(500) if shard_number(f"job-{n}", count) == shard]
    return found[:many]


def test_unsharded_runs_keep_the_old_file_names(tmp_path: Path) -> None:
    with StateStore.open(tmp_path) as store:
        store.put(record("a", at=1))
    assert sorted(os.listdir(tmp_path / STATE)) == ["lock", "state.jsonl"]


def test_a_shard_keeps_its_own_journal_and_lock(tmp_path: Path) -> None:
    with StateStore.open(tmp_path, shard=Shard(3, 4)) as store:
        store.put(record("a", at=1))
        assert store.path == tmp_path / STATE / "state-3of4.jsonl"
        (running,) = runs_in_progress(tmp_path)
        assert running.shard == Shard(3, 4)
        assert running.holder["shard"] == "3/4"
        assert running.describe().startswith(f"shard 3/4: pid {os.getpid()}")
    assert sorted(os.listdir(tmp_path / STATE)) == ["lock-3of4", "state-3of4.jsonl"]
    assert runs_in_progress(tmp_path) == []


def test_shards_of_one_n_hold_the_folder_side_by_side(tmp_path: Path) -> None:
    stores = [StateStore.open(tmp_path, shard=Shard(k, 4)) for k in range(1, 5)]
    try:
        assert [store.alone for store in stores] == [True, False, False, False]
        assert len(runs_in_progress(tmp_path)) == 4
    finally:
        for store in stores:
            store.close()


def test_the_same_shard_twice_is_refused(tmp_path: Path) -> None:
    with (
        StateStore.open(tmp_path, shard=Shard(2, 4)),
        pytest.raises(OutputLockedError) as caught,
    ):
        StateStore.open(tmp_path, shard=Shard(2, 4))
    message = str(caught.value)
    assert message.startswith(f"shard 2/4 of the output folder {tmp_path} is in use")
    assert f"pid {os.getpid()}" in message


@pytest.mark.parametrize(
    ("first", "second", "words"),
    [
        (Shard(1, 4), Shard(1, 2), "in use by a run of shard 1/4 "),
        (Shard(1, 4), None, "in use by a run of shard 1/4 "),
        (None, Shard(3, 4), "in use by an unsharded run "),
    ],
)
def test_runs_that_may_make_the_same_jobs_refuse_each_other(
    tmp_path: Path, first: Shard | None, second: Shard | None, words: str
) -> None:
    with StateStore.open(tmp_path, shard=first):
        with pytest.raises(OutputLockedError) as caught:
            StateStore.open(tmp_path, shard=second)
        # The refused run let go of its own lock at once.
        assert len(runs_in_progress(tmp_path)) == 1
    message = str(caught.value)
    assert words in message
    assert "paid for twice" in message
    if first is not None:
        assert f"--shard K/{first.count}" in message
    with StateStore.open(tmp_path, shard=second):  # once the first is gone
        pass


def test_read_state_merges_every_journal_newest_record_winning(tmp_path: Path) -> None:
    with StateStore.open(tmp_path) as store:
        store.put(record("a", at=5, status=JobStatus.FAILED))
        store.put(record("b", at=5))
    one, two = ids_of(1, 2, many=1)[0], ids_of(2, 2, many=1)[0]
    with StateStore.open(tmp_path, shard=Shard(1, 2)) as store:
        store.put(record(one, at=7))
    with StateStore.open(tmp_path, shard=Shard(2, 2)) as store:
        store.put(record(two, at=8))
    # An older copy of "a" in another journal (written by hand: a store would take "a"
    # over) never hides the newer one.
    stale = tmp_path / STATE / "state-1of3.jsonl"
    stale.write_text('{"v":1,"id":"a","key":"k","status":"succeeded","updated_at":1}\n')
    state = read_state(tmp_path)
    assert set(state) == {"a", "b", one, two}
    assert state["a"].status is JobStatus.FAILED
    names = [path.name for _, path in state_files(tmp_path)]
    assert names == ["state.jsonl", "state-1of2.jsonl", "state-2of2.jsonl", "state-1of3.jsonl"]
    assert [shard for shard, _ in read_shard_states(tmp_path)] == [
        None,
        Shard(1, 2),
        Shard(2, 2),
        Shard(1, 3),
    ]


def test_merge_records_on_a_tie_keeps_the_earlier_journal() -> None:
    first = record("a", at=3, attempts=1)
    second = record("a", at=3, attempts=2)
    assert merge_records([{"a": first}, {"a": second}])["a"] == first
    assert merge_records([{"a": first}, {"a": record("a", at=4)}])["a"].updated_at == 4
    assert merge_records([]) == {}


def test_changing_n_loses_nothing(tmp_path: Path) -> None:
    """A shard of a new N takes over the newer records of its jobs (a failure, a task id,
    a possibly billed request) from the journals of the old N, and only of its jobs."""
    old = {k: ids_of(k, 4, many=4) for k in range(1, 5)}
    for k, ids in old.items():
        with StateStore.open(tmp_path, shard=Shard(k, 4)) as store:
            for job_id in ids:
                store.put(
                    record(
                        job_id, at=10, status=JobStatus.RUNNING, tasks={"submit": "t"}, in_flight=1
                    )
                )
    everything = {job_id for ids in old.values() for job_id in ids}
    with StateStore.open(tmp_path, shard=Shard(1, 2)) as store:
        mine = {job_id for job_id in everything if Shard(1, 2).holds(job_id)}
        assert set(store.records()) == mine
        assert all(store.get(job_id).tasks == {"submit": "t"} for job_id in mine)  # type: ignore[union-attr]
        store.put(record(next(iter(mine)), at=20))
    assert set(read_state(tmp_path)) == everything
    with StateStore.open(tmp_path) as store:  # unsharded again: every job, newest wins
        assert set(store.records()) == everything
        assert sum(1 for r in store.records().values() if r.status is JobStatus.SUCCEEDED) == 1
    # Taken over once: opening again copies nothing more.
    size = (tmp_path / STATE / "state.jsonl").stat().st_size
    with StateStore.open(tmp_path):
        pass
    assert (tmp_path / STATE / "state.jsonl").stat().st_size == size


def test_a_refused_shard_leaves_no_lock_and_no_open_journal(tmp_path: Path) -> None:
    with StateStore.open(tmp_path), pytest.raises(OutputLockedError):
        StateStore.open(tmp_path, shard=Shard(1, 2))
    assert not (tmp_path / STATE / "state-1of2.jsonl").exists()
