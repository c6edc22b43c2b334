from __future__ import annotations

import json
from pathlib import Path

import pytest

import batch_gen
from batch_gen.models import ImageRecord, JobRecord, JobStatus
from batch_gen.state import loading
from batch_gen.state.journal import (
    StateStore,
    read_state,
    record_from_json,
    record_to_json,
)

REPO_ROOT = Path(batch_gen.__file__).resolve().parent.parent


def journal(output: Path) -> Path:
    return output / ".batch_gen" / "state.jsonl"


def make_record(job_id: str = "boat", **changes: object) -> JobRecord:
    fields: dict[str, object] = {
        "id": job_id,
        "key": "k" * 64,
        "status": JobStatus.PENDING,
        "updated_at": 1700000000.25,
    }
    fields.update(changes)
    return JobRecord(**fields)  # type: ignore[arg-type]


def full_record() -> JobRecord:
    images = (
        ImageRecord(
            number=1,
            file="img/boat-1.png",
            sha256="a" * 64,
            bytes=1234,
            format="png",
            width=1024,
            height=1024,
            revised_prompt="A paper boat, revisée",
        ),
        ImageRecord(number=2, file="img/boat-2.jpg", sha256="b" * 64, bytes=99, format="jpeg"),
    )
    return make_record(
        status=JobStatus.SUCCEEDED,
        attempts=3,
        images=images,
        error="HTTP 500: upstream",
        retryable=True,
        ambiguous_retries=1,
        usage={"input_tokens": 12, "output_tokens": 4160, "details": {"image_tokens": 4160}},
        updated_at=1700000123.456789,
    )


def test_record_json_round_trip() -> None:
    """record_to_json/record_from_json round-trip every field, status as its string value."""
    record = full_record()
    document = record_to_json(record)
    assert document["v"] == 1
    assert document["status"] == "succeeded"
    assert document["images"][0]["file"] == "img/boat-1.png"
    assert record_from_json(json.loads(json.dumps(document))) == record


def test_record_from_json_ignores_unknown_fields_and_defaults_missing_ones() -> None:
    """Unknown fields (newer writers) are ignored; optional fields take their defaults."""
    record = record_from_json({"v": 2, "id": "a", "key": "k", "status": "running", "new": [1]})
    assert record == JobRecord(id="a", key="k", status=JobStatus.RUNNING)


@pytest.mark.parametrize(
    "document",
    [
        {"key": "k", "status": "pending"},
        {"id": "a", "status": "pending"},
        {"id": "a", "key": "k"},
        {"id": "a", "key": "k", "status": "exploded"},
        {"id": 5, "key": "k", "status": "pending"},
        {"id": "a", "key": "k", "status": "pending", "attempts": "3"},
        {"id": "a", "key": "k", "status": "pending", "images": [{"file": "x.png"}]},
        {"id": "a", "key": "k", "status": "pending", "images": ["x.png"]},
        {"id": "a", "key": "k", "status": "pending", "usage": [1, 2]},
        [1, 2, 3],
    ],
)
def test_record_from_json_rejects_malformed_documents(document: object) -> None:
    """Missing required fields or wrong types are a ValueError."""
    with pytest.raises(ValueError, match="malformed job record"):
        record_from_json(document)  # type: ignore[arg-type]


def test_store_round_trip_with_images(tmp_path: Path) -> None:
    """A record put in one session is read back equal in the next, and by read_state."""
    record = full_record()
    with StateStore.open(tmp_path) as store:
        store.put(record)
        assert store.get("boat") == record
        assert store.get("missing") is None
    with StateStore.open(tmp_path) as store:
        assert dict(store.records()) == {"boat": record}
    assert read_state(tmp_path) == {"boat": record}


def test_last_line_wins(tmp_path: Path) -> None:
    """Of several lines for one job, the last one is its state."""
    with StateStore.open(tmp_path) as store:
        store.put(make_record(status=JobStatus.PENDING))
        store.put(make_record("other"))
        store.put(make_record(status=JobStatus.RUNNING, attempts=1))
        store.put(make_record(status=JobStatus.FAILED, attempts=1, error="x", retryable=True))
        assert store.get("boat") == make_record(
            status=JobStatus.FAILED, attempts=1, error="x", retryable=True
        )
    state = read_state(tmp_path)
    assert state["boat"].status is JobStatus.FAILED
    assert set(state) == {"boat", "other"}
    assert len(journal(tmp_path).read_bytes().splitlines()) == 4


def test_torn_last_line_is_ignored_and_cut_before_the_next_put(tmp_path: Path) -> None:
    """A torn last line (killed mid-write) is ignored, and the next put starts a clean line."""
    with StateStore.open(tmp_path) as store:
        store.put(make_record("a"))
        store.put(make_record("b"))
    whole = journal(tmp_path).read_bytes()
    torn_line = json.dumps(record_to_json(make_record("c")))[:25]
    journal(tmp_path).write_bytes(whole + torn_line.encode())

    assert set(read_state(tmp_path)) == {"a", "b"}
    with StateStore.open(tmp_path) as store:
        assert set(store.records()) == {"a", "b"}
        assert journal(tmp_path).read_bytes() == whole
        store.put(make_record("c", status=JobStatus.RUNNING))
    assert set(read_state(tmp_path)) == {"a", "b", "c"}
    for line in journal(tmp_path).read_bytes().splitlines():
        json.loads(line)


def test_torn_last_line_with_newline_but_bad_json_is_skipped(tmp_path: Path) -> None:
    """A complete line that is not valid JSON is skipped; later lines still load."""
    with StateStore.open(tmp_path) as store:
        store.put(make_record("a"))
    with journal(tmp_path).open("ab") as file:
        file.write(b'{"v":1,"id":"broken","key\n')
    with StateStore.open(tmp_path) as store:
        store.put(make_record("b"))
    assert set(read_state(tmp_path)) == {"a", "b"}


def test_malformed_lines_are_skipped(tmp_path: Path) -> None:
    """Lines that parse but are not valid records, or are not JSON, are skipped, not fatal."""
    good = json.dumps(record_to_json(make_record("good")))
    lines = [
        '{"v":1,"id":"no-key","status":"pending"}',
        good,
        "[1,2,3]",
        "not json at all",
        "",
        '{"v":1,"id":"bad-status","key":"k","status":"exploded"}',
        "\xff\xfe",
    ]
    journal(tmp_path).parent.mkdir(parents=True)
    journal(tmp_path).write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    assert read_state(tmp_path) == {"good": make_record("good")}
    with StateStore.open(tmp_path) as store:
        assert dict(store.records()) == {"good": make_record("good")}


def test_a_malformed_last_snapshot_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    """When a job's last line is valid JSON but not a valid record, its previous one wins."""
    with StateStore.open(tmp_path) as store:
        store.put(make_record("a", status=JobStatus.RUNNING))
        store.put(make_record("b"))
    with journal(tmp_path).open("a", encoding="utf-8") as file:
        file.write('{"v":1,"id":"a","key":"k","status":"exploded"}\n')
    assert read_state(tmp_path) == {
        "a": make_record("a", status=JobStatus.RUNNING),
        "b": make_record("b"),
    }


def _line(job_id: str, **changes: object) -> str:
    return json.dumps(record_to_json(make_record(job_id, **changes)), separators=(",", ":"))


@pytest.mark.parametrize(
    "lines",
    [
        # two records on one line and a blank line: as many values as lines
        [_line("a") + " " + _line("b"), "", _line("c")],
        [_line("a") + _line("b"), "   ", _line("c")],
        # one record spread over two lines, two on another: as many values as lines
        [_line("a") + _line("b"), '{"v":1,"id":"x",', '"key":"k","status":"pending"}', _line("c")],
        # a value that is not an object, between good ones
        [_line("a"), "[1]", _line("c", attempts=2)],
        # an earlier snapshot on a good line, the later one sharing a line with another
        [_line("c"), _line("c", attempts=3) + " " + _line("d"), ""],
    ],
)
def test_lines_holding_other_than_one_record_are_read_line_by_line(
    tmp_path: Path, lines: list[str]
) -> None:
    """Whatever the quick reading of a journal takes, it gives what reading each line on its
    own gives: a line that is not exactly one valid record is skipped (its values are not
    taken even when the count of values matches the count of lines)."""
    journal(tmp_path).parent.mkdir(parents=True)
    journal(tmp_path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected: dict[str, JobRecord] = {}
    for line in lines:
        try:
            record = record_from_json(json.loads(line))
        except ValueError:  # not JSON, several values, or not a record
            continue
        expected[record.id] = record
    assert read_state(tmp_path) == expected
    assert "c" in expected


def test_a_journal_the_store_wrote_is_read_without_the_line_by_line_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick reading takes every journal the store writes (lines, compaction), ids
    needing escapes too; only others go line by line."""

    def refuse(*args: object) -> None:
        raise AssertionError("read line by line")

    monkeypatch.setattr(loading, "_load_exact", refuse)
    records = [full_record(), make_record('say "cheese"'), make_record("naïve ☕")]
    with StateStore.open(tmp_path) as store:
        for record in records:
            store.put(record)
            store.put(record.replace(attempts=4))
    assert read_state(tmp_path) == {r.id: r.replace(attempts=4) for r in records}


@pytest.mark.parametrize("slice_size", [1, 7, 64, 300, 1 << 20])
def test_a_journal_read_in_slices_of_any_size_loads_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slice_size: int
) -> None:
    """The journal is read a slice at a time: lines cut by a slice's end, and lines longer
    than a slice, load as they do whole, the last line for a job winning."""
    monkeypatch.setattr(loading, "_SLICE", slice_size)
    records = [full_record(), *(make_record(f"job-{n}", attempts=n) for n in range(30))]
    with StateStore.open(tmp_path) as store:
        for record in records:
            store.put(record)
        store.put(make_record("job-3", status=JobStatus.SUCCEEDED, attempts=9))
    expected = {record.id: record for record in records}
    expected["job-3"] = make_record("job-3", status=JobStatus.SUCCEEDED, attempts=9)
    assert read_state(tmp_path) == expected


@pytest.mark.parametrize("job_id", ['say "cheese"', "back\\slash", "naïve ☕", "tab\tand\nnewline"])
def test_ids_needing_json_escapes_round_trip_and_last_wins(tmp_path: Path, job_id: str) -> None:
    """Ids with quotes, backslashes, non-ASCII or control characters load, last line winning."""
    with StateStore.open(tmp_path) as store:
        store.put(make_record(job_id, status=JobStatus.PENDING))
        store.put(make_record("other"))
        store.put(make_record(job_id, status=JobStatus.SUCCEEDED, attempts=1))
    assert read_state(tmp_path) == {
        job_id: make_record(job_id, status=JobStatus.SUCCEEDED, attempts=1),
        "other": make_record("other"),
    }
    assert len(journal(tmp_path).read_bytes().splitlines()) == 3


def bloated_journal(output: Path) -> dict[str, JobRecord]:
    """Write a journal with 3,301 lines for 4 jobs, as a killed run leaves it."""
    latest: dict[str, JobRecord] = {}
    lines = []
    for attempt in range(1100):
        for job_id in ("a", "b", "c"):
            latest[job_id] = make_record(job_id, status=JobStatus.RUNNING, attempts=attempt)
            lines.append(json.dumps(record_to_json(latest[job_id])))
    latest["boat"] = full_record()
    lines.append(json.dumps(record_to_json(latest["boat"])))
    journal(output).parent.mkdir(parents=True)
    journal(output).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return latest


def test_open_compacts_a_bloated_journal_and_keeps_every_record(tmp_path: Path) -> None:
    """Opening a journal with far more lines than jobs rewrites it with one line per job."""
    expected = bloated_journal(tmp_path)
    size_before = journal(tmp_path).stat().st_size
    assert read_state(tmp_path) == expected

    with StateStore.open(tmp_path) as store:
        assert len(journal(tmp_path).read_bytes().splitlines()) == 4
        assert dict(store.records()) == expected
        store.put(make_record("d"))
    assert len(journal(tmp_path).read_bytes().splitlines()) == 5
    assert journal(tmp_path).stat().st_size < size_before / 100
    assert read_state(tmp_path) == {**expected, "d": make_record("d")}
    assert sorted(p.name for p in journal(tmp_path).parent.iterdir()) == ["lock", "state.jsonl"]


def test_close_compacts_a_journal_bloated_during_the_run(tmp_path: Path) -> None:
    """A run that wrote many snapshots per job leaves a compact journal when it closes."""
    with StateStore.open(tmp_path) as store:
        for attempt in range(1100):
            for job_id in ("a", "b", "c"):
                store.put(make_record(job_id, status=JobStatus.RUNNING, attempts=attempt))
        expected = dict(store.records())
        assert len(journal(tmp_path).read_bytes().splitlines()) == 3300
    assert len(journal(tmp_path).read_bytes().splitlines()) == 3
    assert read_state(tmp_path) == expected


def test_small_journal_is_not_compacted(tmp_path: Path) -> None:
    """A journal within 2x its live records plus slack is left as it is on open."""
    with StateStore.open(tmp_path) as store:
        for attempt in range(50):
            store.put(make_record(attempts=attempt))
    with StateStore.open(tmp_path):
        pass
    assert len(journal(tmp_path).read_bytes().splitlines()) == 50


def test_put_cost_does_not_grow_with_the_store(tmp_path: Path) -> None:
    """The bytes one put appends are the same with 10 or 5,000 records in the store."""

    def appended_bytes(store: StateStore, job_id: str) -> int:
        before = journal(tmp_path).stat().st_size
        store.put(make_record(job_id, status=JobStatus.SUCCEEDED, attempts=1))
        return journal(tmp_path).stat().st_size - before

    with StateStore.open(tmp_path) as store:
        for number in range(10):
            store.put(make_record(f"job-{number:05d}"))
        at_ten = appended_bytes(store, "job-00003")
        for number in range(10, 5000):
            store.put(make_record(f"job-{number:05d}"))
        at_five_thousand = appended_bytes(store, "job-04003")
        assert len(store.records()) == 5000
    assert at_ten == at_five_thousand
    record = make_record("job-00003", status=JobStatus.SUCCEEDED, attempts=1)
    line = json.dumps(record_to_json(record), separators=(",", ":"))
    assert at_ten == len(line) + 1
    assert at_ten < 300


def test_put_after_close_is_refused(tmp_path: Path) -> None:
    """A closed store refuses writes; closing twice is harmless."""
    store = StateStore.open(tmp_path)
    store.close()
    store.close()
    with pytest.raises(ValueError, match="closed"):
        store.put(make_record())


def test_read_state_works_while_locked(tmp_path: Path) -> None:
    """read_state reads the journal without the lock, including records not yet fsynced."""
    assert read_state(tmp_path) == {}
    with StateStore.open(tmp_path) as store:
        store.put(make_record("a"))
        assert read_state(tmp_path) == {"a": make_record("a")}
