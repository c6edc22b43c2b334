"""`status`: counts and rows from the state, and the job index that makes it fast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batch_gen import cli
from batch_gen.models import JobRecord, JobStatus
from batch_gen.planning.status import LISTED, JobStatusRow, StatusReport, format_status
from batch_gen.state.layout import INDEX_NAME, STATE_DIR_NAME


def _status_json(
    capsys: pytest.CaptureFixture[str], manifest: Path, *options: str
) -> dict[str, object]:
    """status --json; its exit status is 0 exactly when every job succeeded."""
    code = cli.main(["status", str(manifest), "--json", *options])
    document: dict[str, object] = json.loads(capsys.readouterr().out)
    counts = document["counts"]
    assert isinstance(counts, dict)
    assert code == (0 if counts["succeeded"] == document["total"] else 1)
    return document


def _csv(folder: Path, prompts: list[str]) -> Path:
    path = folder / "icons.csv"
    lines = ["id,prompt,size"] + [f"i{n},{p},256x256" for n, p in enumerate(prompts)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_status_from_the_index_equals_status_from_the_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index gives exactly the answer a full validation would; an edited manifest
    (a different file) is never answered from a stale index."""
    monkeypatch.chdir(tmp_path)
    manifest = _csv(tmp_path, ["a red cube", "a blue ball", "a green cone"])
    assert cli.main(["run", str(manifest), "--offline", "--no-progress"]) == 0
    capsys.readouterr()
    index = tmp_path / "output" / "icons" / STATE_DIR_NAME / INDEX_NAME
    assert index.is_file()
    from_index = _status_json(capsys, manifest)
    index.unlink()
    from_manifest = _status_json(capsys, manifest)
    assert from_index == from_manifest
    assert from_index["counts"] == {"succeeded": 3, "failed": 0, "pending": 0, "running": 0}

    assert cli.main(["run", str(manifest), "--offline", "--no-progress"]) == 0  # rewrites it
    manifest.write_text(manifest.read_text().replace("a blue ball", "a blue box"))
    capsys.readouterr()
    edited = _status_json(capsys, manifest)
    assert edited["counts"] == {"succeeded": 2, "failed": 0, "pending": 1, "running": 0}


def test_status_of_a_bad_manifest_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """status validates the manifest like run does."""
    manifest = tmp_path / "bad.yaml"
    manifest.write_text("jobs: []\n")
    assert cli.main(["status", str(manifest)]) == 2
    assert "bad.yaml" in capsys.readouterr().err


def test_an_edited_input_image_shows_as_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Input images are part of the key: after editing one (the manifest unchanged),
    status reports that job pending, and the next run redoes only it."""
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (64, 64), (200, 10, 10)).save(tmp_path / "ref.png")
    manifest = tmp_path / "edits.yaml"
    manifest.write_text(
        "jobs:\n"
        "  - {id: plain, prompt: a red cube}\n"
        "  - {id: edited, prompt: make it blue, image: ref.png}\n"
    )
    # --output lets status find the state (and so a job index) without reading the YAML.
    assert cli.main(["run", str(manifest), "--offline", "--no-progress", "--output", "o"]) == 0
    capsys.readouterr()
    assert _status_json(capsys, manifest, "--output", "o")["counts"]["succeeded"] == 2
    Image.new("RGB", (64, 64), (10, 10, 200)).save(tmp_path / "ref.png")
    counts = _status_json(capsys, manifest, "--output", "o")["counts"]
    assert counts == {"succeeded": 1, "failed": 0, "pending": 1, "running": 0}


def _report(*rows: tuple[str, JobStatus, int]) -> StatusReport:
    return StatusReport(
        tuple(
            JobStatusRow(
                job_id,
                f"k-{job_id}",
                status,
                JobRecord(id=job_id, key=f"k-{job_id}", status=status, attempts=attempts),
                "never run" if status is JobStatus.PENDING else "",
            )
            for job_id, status, attempts in rows
        )
    )


def test_status_text_aligns_its_rows_and_says_a_run_is_in_progress() -> None:
    report = _report(
        ("done", JobStatus.SUCCEEDED, 1),
        ("a", JobStatus.PENDING, 0),
        ("a-much-longer-id", JobStatus.RUNNING, 12),
    )
    text = format_status(report, output_dir=Path("out"), in_progress=["pid 7 on vm"])
    lines = text.splitlines()
    assert lines[0] == "3 jobs in out: 1 succeeded, 0 failed, 1 pending, 1 running"
    assert lines[1] == "a run is in progress (pid 7 on vm): these counts are changing"
    assert lines[2:] == [
        "  pending   a                 attempts=0   never run",
        "  running   a-much-longer-id  attempts=12",
    ]
    assert not report.all_done()
    assert "in progress" not in format_status(report, output_dir=Path("out"))


def test_status_text_lists_the_first_unfinished_jobs_unless_all() -> None:
    report = _report(*((f"job-{n:03d}", JobStatus.PENDING, 0) for n in range(LISTED + 5)))
    short = format_status(report, output_dir=Path("out")).splitlines()
    assert len(short) == 1 + LISTED + 1
    assert short[-1] == "  ... and 5 more; --all to list them"
    everything = format_status(report, output_dir=Path("out"), limit=None).splitlines()
    assert len(everything) == 1 + LISTED + 5
    assert everything[-1].startswith(f"  pending   job-{LISTED + 4:03d}")


def test_all_done_only_when_every_job_succeeded() -> None:
    assert _report(("a", JobStatus.SUCCEEDED, 1)).all_done()
    assert _report().all_done()  # an empty state folder's report: nothing left to do
    assert not _report(("a", JobStatus.SUCCEEDED, 1), ("b", JobStatus.FAILED, 3)).all_done()
