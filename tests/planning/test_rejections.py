"""The rejection file: read back, and which jobs it makes again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gallery_support import Folder, make_folder

from batch_gen.errors import UsageError
from batch_gen.gallery import read_rejections, to_remake
from batch_gen.planning.rejections import Rejected, Rejections, Remake, parse_rejections

JOBS = """
- id: a
  prompt: A.
- id: b
  prompt: B.
  n: 2
- id: c
  prompt: C.
"""


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    folder = make_folder(tmp_path, JOBS)
    for job_id in ("a", "b", "c"):
        folder.succeed(job_id)
    return folder


def _entry(folder: Folder, job_id: str) -> dict[str, object]:
    record = folder.records[job_id]
    return {"id": job_id, "key": record.key, "sha256": [i.sha256 for i in record.images]}


def _file(folder: Folder, *entries: dict[str, object]) -> bytes:
    document = {
        "batch_gen": "rejections",
        "version": 1,
        "manifest": str(folder.manifest.path),
        "output": str(folder.root),
        "rejected": list(entries),
    }
    return json.dumps(document).encode()


def test_reads_what_the_page_exports(folder: Folder, tmp_path: Path) -> None:
    path = tmp_path / "jobs.rejected.json"
    path.write_bytes(_file(folder, _entry(folder, "b")))
    rejections = read_rejections(path)
    assert rejections.manifest == str(folder.manifest.path)
    record = folder.records["b"]
    assert rejections.rejected == (
        Rejected(id="b", key=record.key, sha256=tuple(i.sha256 for i in record.images)),
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not a rejection file exported by the gallery"),
        (b'{"rejected": []}', "not a rejection file exported by the gallery"),
        (
            b'{"batch_gen": "report", "version": 1, "manifest": "", "output": "", "rejected": []}',
            "not a rejection file (batch_gen is 'report')",
        ),
        (
            b'{"batch_gen": "rejections", "version": 2, "manifest": "", "output": "",'
            b' "rejected": []}',
            "rejection file version 2; this batch_gen reads version 1",
        ),
    ],
)
def test_anything_else_is_refused_with_its_reason(data: bytes, message: str) -> None:
    with pytest.raises(UsageError, match=r"^x\.json: ") as caught:
        parse_rejections(data, source="x.json")
    assert message in str(caught.value)


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the rejection file"):
        read_rejections(tmp_path / "nope.json")


def test_exactly_the_rejected_jobs_still_as_they_were_are_made_again(folder: Folder) -> None:
    entries = [_entry(folder, job_id) for job_id in ("c", "a", "b")]
    entries.append({"id": "gone", "key": "k", "sha256": []})
    rejections = parse_rejections(_file(folder, *entries), source="x")
    remake = to_remake(rejections, folder.manifest.jobs, folder.records)
    assert remake.jobs == ("a", "b", "c")
    assert remake.unknown == ("gone",)

    # Applied again after "a" was remade: its images differ now, so it is left alone.
    folder.succeed("a", seed="remade")
    remake = to_remake(rejections, folder.manifest.jobs, folder.records)
    assert remake.jobs == ("b", "c")
    assert remake.remade == ("a",)


def test_a_job_whose_key_changed_is_not_the_one_rejected(folder: Folder) -> None:
    entry = {**_entry(folder, "a"), "key": "an older key"}
    rejections = Rejections(
        batch_gen="rejections",
        version=1,
        manifest="m",
        output="o",
        rejected=(Rejected(id="A", key=str(entry["key"])),),
    )
    remake = to_remake(rejections, folder.manifest.jobs, folder.records)
    assert remake.jobs == ()
    assert remake.changed == ("a",)


def test_a_remake_that_gave_the_same_bytes_is_told_by_its_making(folder: Folder) -> None:
    """A model may answer a remake with the very same image: the entry's finished_at
    (when the rejected images were made) still tells that the job was made again."""
    entry = {**_entry(folder, "a"), "finished_at": "2026-01-01T00:00:00.000+00:00"}
    rejections = parse_rejections(_file(folder, entry), source="x")
    same = to_remake(
        rejections, folder.manifest.jobs, folder.records, finished_at=lambda _: entry["finished_at"]
    )
    assert same.jobs == ("a",)
    later = to_remake(
        rejections,
        folder.manifest.jobs,
        folder.records,
        finished_at=lambda _: "2026-01-02T00:00:00.000+00:00",
    )
    assert (later.jobs, later.remade) == ((), ("a",))
    # Without the field (a file written by hand), the images alone decide.
    unsaid = parse_rejections(_file(folder, _entry(folder, "a")), source="x")
    assert to_remake(
        unsaid, folder.manifest.jobs, folder.records, finished_at=lambda _: "x"
    ).jobs == ("a",)


def test_what_a_run_says_about_the_file() -> None:
    assert Remake(("a", "b")).lines() == ["rejected in review: 2 jobs to make again: a, b"]
    many = tuple(f"j{n}" for n in range(12))
    assert Remake((), remade=("a",), changed=("b",), unknown=many).lines() == [
        "rejected in review: nothing to make again",
        "rejected in review, made again since, left alone: a",
        "rejected in review, prompt or fields changed since, made again as changed jobs: b",
        "rejected in review, not in the manifest, left alone: j0, j1, j2, j3, j4, j5, j6, j7,"
        " j8, j9 and 2 more",
    ]
