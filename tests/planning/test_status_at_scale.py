"""``status`` reads every job of a large manifest in plain code and writes ``--json`` a slice
at a time: the rows must follow the rules as written out plainly here, and the JSON must be
the documented document, whatever the ids, errors and file names hold."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest
from support import PNG

from batch_gen.files.atomic import ExistingFiles, sha256_hex
from batch_gen.files.sidecar import write_metadata
from batch_gen.models import ImageRecord, JobRecord, JobStatus
from batch_gen.planning import status as status_module
from batch_gen.planning.status import (
    JobStatusRow,
    RecordSummary,
    StatusReport,
    format_status,
    read_summaries,
    status_of,
)
from batch_gen.state.journal import StateStore, read_state


def plain_row(job_id: str, key: str, record: JobRecord | None, root: Path) -> tuple[Any, ...]:
    """A job's (status, record, note) by the rules of ``status``, every file looked at."""
    if record is None:
        return (JobStatus.PENDING, None, "never run")
    if record.key != key:
        return (JobStatus.PENDING, None, "prompt or fields changed")
    if record.status is JobStatus.SUCCEEDED and not (
        record.images and ExistingFiles(root).holds(record.images)
    ):
        return (JobStatus.PENDING, record, "files missing or damaged")
    if record.status is JobStatus.RUNNING:
        return (JobStatus.RUNNING, record, "interrupted or in progress")
    return (record.status, record, "")


def _image(job_id: str, number: int, data: bytes) -> ImageRecord:
    return ImageRecord(number, f"{job_id}-{number}.png", sha256_hex(data), len(data), "png")


def _state(root: Path, seed: int, *, files: bool) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Jobs and records of every kind; with ``files``, some images on disk whole, some
    short, some missing."""
    rng = random.Random(seed)
    pairs, records = [], {}
    for n in range(120):
        job_id, key = f"job-{n}", f"key-{n}"
        pairs.append((job_id, key))
        if rng.random() < 0.1:
            continue
        images = tuple(_image(job_id, i, PNG) for i in range(1, rng.choice([0, 1, 1, 3]) + 1))
        status = rng.choice(list(JobStatus))
        records[job_id] = JobRecord(
            job_id,
            key if rng.random() < 0.85 else "an older key",
            status,
            attempts=rng.choice([0, 1, 4]),
            images=images,
            error='HTTP 500: "upstream"\n},{"id":' if status is JobStatus.FAILED else None,
        )
        for image in images if files else ():
            fate = rng.random()
            if fate < 0.8:
                (root / image.file).write_bytes(PNG if fate < 0.7 else PNG[:-3])
    return pairs, records


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("files", [True, False])
def test_rows_follow_the_rules(tmp_path: Path, seed: int, files: bool) -> None:
    """Never run, another key, succeeded with its files whole, short or missing, running,
    failed, pending: each row as the plain rules say; in an output folder holding no file
    at all, no succeeded job counts as done."""
    pairs, records = _state(tmp_path, seed, files=files)
    report = status_of(iter(pairs), tmp_path, records)
    assert [(row.id, row.key) for row in report.rows] == pairs
    got = [(row.status, row.record, row.note) for row in report.rows]
    assert got == [plain_row(i, k, records.get(i), tmp_path) for i, k in pairs]
    statuses = [row.status for row in report.rows]
    assert report.counts() == {s.value: statuses.count(s) for s in _ORDER}
    assert report.all_done() is all(s is JobStatus.SUCCEEDED for s in statuses)


_ORDER = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.PENDING, JobStatus.RUNNING)


def test_a_job_the_state_lost_is_succeeded_from_its_metadata(tmp_path: Path) -> None:
    image = _image("boat", 1, PNG)
    (tmp_path / image.file).write_bytes(PNG)
    document = {"id": "boat", "key": "k", "attempts": 2, "images": [msgspec_image(image)]}
    write_metadata(tmp_path, "boat", document)
    (row,) = status_of([("boat", "k")], tmp_path, {}).rows
    assert (row.status, row.note, row.record and row.record.files) == (
        JobStatus.SUCCEEDED,
        "",
        ("boat-1.png",),
    )


def msgspec_image(image: ImageRecord) -> dict[str, Any]:
    return {"index": image.number, "file": image.file, "sha256": image.sha256, "bytes": image.bytes}


def plain_document(report: StatusReport) -> dict[str, Any]:
    """The documented shape of ``status --json``, built plainly from the rows."""
    jobs = []
    for row in report.rows:
        record = row.record
        jobs.append(
            {
                "id": row.id,
                "key": row.key,
                "status": row.status.value,
                "attempts": record.attempts if record else 0,
                "files": list(record.files) if record else [],
                "error": record.error if record and row.status is JobStatus.FAILED else None,
            }
        )
    return {"total": len(report.rows), "counts": report.counts(), "jobs": jobs}


TRICKY = ["plain", 'say "cheese"', '},{"id":', "back\\slash", "naïve ☕", "tab\tand\nnewline"]


@pytest.mark.parametrize("slice_size", [1, 2, 5, 10_000])
def test_json_is_the_documented_document_one_job_per_line(
    monkeypatch: pytest.MonkeyPatch, slice_size: int
) -> None:
    """Whatever the ids, errors and file names hold, and however the jobs are sliced for
    encoding, the pieces join into the documented document, each job on a line of its own."""
    monkeypatch.setattr(status_module, "_JSON_SLICE", slice_size)
    rows = []
    for n, text in enumerate(TRICKY * 2):
        status = list(JobStatus)[n % 4]
        record = JobRecord(
            text,
            f"k{n}",
            status,
            attempts=n,
            images=tuple(_image(text, i, PNG) for i in range(n % 3)),
            error=text,
        )
        rows.append(JobStatusRow(text, f"k{n}", status, record if n % 5 else None, ""))
    report = StatusReport(tuple(rows))
    document = b"".join(report.json_pieces())
    assert json.loads(document) == plain_document(report)
    lines = document.decode().split("\n")
    assert len(lines) == 4 + len(rows) + 3  # the head, a line per job, "]", "}" and ""
    assert [json.loads(line.rstrip(","))["key"] for line in lines[4:-3]] == [r.key for r in rows]
    assert lines[-3:] == ["  ]", "}", ""]


def test_json_of_no_jobs() -> None:
    document = b"".join(StatusReport(()).json_pieces())
    assert json.loads(document) == {
        "total": 0,
        "counts": {"succeeded": 0, "failed": 0, "pending": 0, "running": 0},
        "jobs": [],
    }


def test_a_summary_has_every_field_of_a_record_alike_but_usage() -> None:
    """Same names, names in JSON, defaults and types: a journal line is a valid summary
    exactly when it is a valid record (usage: any object or null, as a record's)."""
    record_fields = {field.name: field for field in msgspec.structs.fields(JobRecord)}
    summary_fields = {field.name: field for field in msgspec.structs.fields(RecordSummary)}
    assert list(summary_fields) == list(record_fields)
    for name, field in record_fields.items():
        mirror = summary_fields[name]
        assert (mirror.encode_name, mirror.required) == (field.encode_name, field.required)
        assert (mirror.default, mirror.default_factory) == (field.default, field.default_factory)
        if name != "usage":
            assert mirror.type == field.type


GOOD_LINE: dict[str, Any] = {
    "v": 1,
    "id": "a",
    "key": "k",
    "status": "succeeded",
    "attempts": 2,
    "images": [{"index": 1, "file": "a.png", "sha256": "0" * 64, "bytes": 3, "format": "png"}],
    "error": None,
    "retryable": False,
    "ambiguous_retries": 1,
    "usage": {"input_tokens": 3, "nested": {"x": [1, 2]}},
    "updated_at": 5.5,
    "tasks": {"imagine": "t1"},
    "in_flight": 1,
    "tries": 2,
    "from_a_newer_writer": [1],
}
BAD_VALUES: list[tuple[str, object]] = [
    ("id", None),
    ("key", 3),
    ("status", "exploded"),
    ("attempts", "2"),
    ("images", [{"file": "a.png"}]),  # no index
    ("images", [{"index": 1, "format": 5}]),
    ("images", [{"index": 1, "width": "wide"}]),
    ("images", {"index": 1}),
    ("error", 5),
    ("retryable", "yes"),
    ("ambiguous_retries", 1.5),
    ("usage", [1, 2]),
    ("usage", "tokens"),
    ("usage", 12),
    ("usage", None),
    ("usage", {}),
    ("updated_at", "now"),
    ("tasks", {"imagine": 7}),
    ("tasks", []),
    ("in_flight", None),
    ("tries", True),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_a_summary_accepts_and_refuses_what_a_record_does(name: str, value: object) -> None:
    for line in (GOOD_LINE, {**GOOD_LINE, name: value}):
        data = json.dumps(line).encode()
        try:
            record = msgspec.json.decode(data, type=JobRecord)
        except msgspec.ValidationError:
            with pytest.raises(msgspec.ValidationError):
                msgspec.json.decode(data, type=RecordSummary)
            continue
        summary = msgspec.json.decode(data, type=RecordSummary)
        shown = ("id", "key", "status", "attempts", "images", "error", "retryable", "updated_at")
        assert [getattr(summary, n) for n in shown] == [getattr(record, n) for n in shown]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("files", [True, False])
def test_status_from_summaries_is_status_from_records(
    tmp_path: Path, seed: int, files: bool
) -> None:
    """The same rows, the same text (every unfinished job listed) and the same JSON bytes."""
    pairs, records = _state(tmp_path, seed, files=files)
    with StateStore.open(tmp_path) as store:
        for record in records.values():
            store.put(record)
    whole = status_of(pairs, tmp_path, read_state(tmp_path))
    summed = status_of(pairs, tmp_path, read_summaries(tmp_path))
    assert [(r.id, r.status, r.note) for r in summed.rows] == [
        (r.id, r.status, r.note) for r in whole.rows
    ]
    assert b"".join(summed.json_pieces()) == b"".join(whole.json_pieces())
    text = format_status(whole, output_dir=tmp_path, limit=None)
    assert format_status(summed, output_dir=tmp_path, limit=None) == text
