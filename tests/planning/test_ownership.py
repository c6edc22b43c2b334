"""Ownership: what a run would replace or delete, who made it, and the line that stops it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import PNG

from batch_gen.files.atomic import ExistingFiles
from batch_gen.files.sidecar import Owner, write_metadata
from batch_gen.models import ImageRecord, Job, JobRecord, JobStatus
from batch_gen.planning.ownership import (
    UNKNOWN,
    AtRisk,
    Owners,
    at_risk,
    foreign,
    made_elsewhere,
    refusal,
)

US = Owner("api.cometapi.com", "/work/jobs.yaml")


def _job(job_id: str, provider: str = "cometapi", n: int = 1) -> Job:
    return Job(
        id=job_id, index=1, prompt="p", request={"n": n}, api="x", key=_key_for(job_id, provider)
    )


def _key_for(job_id: str, provider: str) -> str:
    return f"{job_id}@{provider}"


def _owners(root: Path, *, last: str | None = None) -> Owners:
    return Owners(
        root, ExistingFiles(root), last_provider=last, key_for=lambda job, p: _key_for(job.id, p)
    )


def _made(root: Path, job_id: str, key: str, files: list[str], **owner: Any) -> JobRecord:
    """Images and a metadata file of ``job_id`` on disk; its succeeded record."""
    images = []
    for number, file in enumerate(files, 1):
        (root / file).write_bytes(PNG)
        images.append({"index": number, "file": file, "bytes": len(PNG), "sha256": "0" * 64})
    write_metadata(root, job_id, {"id": job_id, "key": key, **owner, "images": images})
    return JobRecord(
        id=job_id,
        key=key,
        status=JobStatus.SUCCEEDED,
        images=tuple(ImageRecord(number=i, file=f) for i, f in enumerate(files, 1)),
    )


@pytest.mark.parametrize(
    ("owner", "is_foreign"),
    [
        (US, False),
        (Owner("offline simulator", US.manifest), True),
        (Owner(US.made_by, "/elsewhere/jobs.yaml"), True),
        (Owner(None, "/elsewhere/jobs.yaml"), True),
        (Owner("127.0.0.1:8080", None), True),
        (Owner(None, None), False),  # not known to be another's: not refused
        (Owner(US.made_by, None), False),
    ],
)
def test_foreign_is_another_provider_or_another_manifest(owner: Owner, is_foreign: bool) -> None:
    item = AtRisk("a.png", "a", owner)
    assert foreign([item], US) == ([item] if is_foreign else [])


def test_the_refusal_names_a_few_files_the_count_whose_and_how_to_go_on() -> None:
    found = [
        AtRisk(f"{name}.png", name, Owner("offline simulator", US.manifest)) for name in "dcba"
    ]
    found.append(AtRisk("e.png", "e", Owner(US.made_by, "/old/jobs.yaml")))
    line = refusal(found, US, root=Path("/work/out"))
    assert line == (
        "stopped before sending anything: this run (api.cometapi.com) would replace 5 images"
        " in /work/out made by the offline simulator and for another manifest"
        " (/old/jobs.yaml) (a.png, b.png and 3 more); to keep them, write elsewhere with"
        " --output DIR; to replace them, run again with --replace-foreign"
    )
    assert "\n" not in line
    dry = refusal(found[:1], US, root=Path("/work/out"), dry_run=True)
    assert dry.startswith(
        "a run would stop here: this run (api.cometapi.com) would replace 1 image"
    )


def test_at_risk_finds_own_files_names_taken_and_files_of_other_jobs(tmp_path: Path) -> None:
    """The job's earlier files (the state's and the metadata's), any file at one of its
    names (case and extension aside), and a file the state has for another job."""
    sim = {"made_by": "offline simulator", "manifest": US.manifest}
    records = {
        "a": _made(tmp_path, "a", _key_for("a", "simulator"), ["a.png", "a-old.webp"], **sim),
        "x": _made(tmp_path, "x", "x-key", ["B.JPG"], made_by=US.made_by, manifest="/other.yaml"),
    }
    (tmp_path / "c.gif").write_bytes(PNG)  # nobody's: neither recorded nor described
    jobs = [_job("a"), _job("b"), _job("c"), _job("d")]
    found = at_risk(
        jobs,
        records=records,
        owners=_owners(tmp_path),
        existing=ExistingFiles(tmp_path),
        template="{id}.{ext}",
    )
    by_file = {item.file: (item.job_id, item.owner) for item in found}
    assert by_file == {
        "a.png": ("a", Owner("offline simulator", US.manifest)),
        "a-old.webp": ("a", Owner("offline simulator", US.manifest)),
        "B.JPG": ("b", Owner(US.made_by, "/other.yaml")),
        "c.gif": ("c", UNKNOWN),
    }
    assert {item.file for item in foreign(found, US)} == {"a.png", "a-old.webp", "B.JPG"}
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (
        at_risk(
            jobs,
            records={},
            owners=_owners(empty),
            existing=ExistingFiles(empty),
            template="{id}.{ext}",
        )
        == []
    )


def test_old_metadata_is_attributed_through_the_last_runs_provider(tmp_path: Path) -> None:
    """Metadata written before owners were recorded: the images are the last run's
    provider's when their key is the job's key for that provider."""
    record = _made(tmp_path, "a", _key_for("a", "simulator"), ["a.png"])
    owners = _owners(tmp_path, last="simulator")
    assert owners.of(_job("a"), record.key) == Owner("offline simulator", None)
    assert owners.of(_job("a"), "edited") == UNKNOWN
    assert _owners(tmp_path).of(_job("a"), record.key) == UNKNOWN


def test_made_elsewhere_tells_another_provider_from_an_edit(tmp_path: Path) -> None:
    sim = {"made_by": "offline simulator", "manifest": US.manifest}
    records = {
        "a": _made(tmp_path, "a", _key_for("a", "simulator"), ["a.png"], **sim),
        "b": _made(tmp_path, "b", "edited", ["b.png"], made_by=US.made_by),
        "c": _made(tmp_path, "c", _key_for("c", "cometapi"), ["c.png"], **sim),
    }
    jobs = [_job("a"), _job("b"), _job("c")]
    owners = _owners(tmp_path)
    assert made_elsewhere(jobs, records, owners=owners, made_by=US.made_by) == {"a"}
