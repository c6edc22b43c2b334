"""The files are the record: jobs adopted from their metadata files, images checked by size
(and with --verify by sha256)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import PNG

from batch_gen.files.atomic import sha256_hex
from batch_gen.files.sidecar import write_metadata
from batch_gen.models import ImageRecord, JobRecord, JobStatus
from batch_gen.planning.on_disk import survey

KEY = "k" * 64


def _image(file: str = "boat.png", data: bytes = PNG) -> dict[str, Any]:
    return {
        "index": 1,
        "file": file,
        "format": "png",
        "bytes": len(data),
        "sha256": sha256_hex(data),
    }


def _folder(tmp_path: Path, **changes: Any) -> Path:
    """An output folder holding job 'boat': its image and its metadata file."""
    (tmp_path / "boat.png").write_bytes(PNG)
    document = {"id": "boat", "key": KEY, "attempts": 2, "images": [_image()], **changes}
    write_metadata(tmp_path, "boat", document)
    return tmp_path


def test_a_job_the_state_lost_is_adopted_from_its_metadata(tmp_path: Path) -> None:
    """No record, a metadata file with the job's key, the image intact: a succeeded record,
    with the attempts it took."""
    found = survey([("boat", KEY)], {}, root=_folder(tmp_path), now=5.0)
    (adopted,) = found.adopted
    assert (adopted.id, adopted.key, adopted.status) == ("boat", KEY, JobStatus.SUCCEEDED)
    assert (adopted.attempts, adopted.updated_at, adopted.files) == (2, 5.0, ("boat.png",))
    assert found.records["boat"] == adopted
    assert found.present(adopted)


@pytest.mark.parametrize(
    ("changes", "damage"),
    [
        ({"key": "other"}, None),  # made for another version of the job
        ({"images": []}, None),
        ({"images": [_image("../boat.png")]}, None),  # an unsafe name is never adopted
        ({}, PNG[:-1] + b"\x00"),  # same size, other bytes: the sha256 decides
        ({}, PNG[:20]),
    ],
)
def test_what_is_not_adopted(tmp_path: Path, changes: dict[str, Any], damage: bytes | None) -> None:
    folder = _folder(tmp_path, **changes)
    if damage is not None:
        (folder / "boat.png").write_bytes(damage)
    found = survey([("boat", KEY)], {}, root=folder, now=0.0)
    assert found.adopted == ()
    assert "boat" not in found.records


def test_a_recorded_job_is_not_read_again(tmp_path: Path) -> None:
    """A job the state knows under its key is taken from the state: the metadata file is
    not consulted, and a damaged image shows in ``present``."""
    folder = _folder(tmp_path)
    image = ImageRecord(number=1, file="boat.png", sha256=sha256_hex(PNG), bytes=len(PNG))
    record = JobRecord(id="boat", key=KEY, status=JobStatus.SUCCEEDED, images=(image,))
    assert survey([("boat", KEY)], {"boat": record}, root=folder, now=0.0).adopted == ()

    (folder / "boat.png").write_bytes(PNG[:-1] + b"\x00")
    assert survey([("boat", KEY)], {"boat": record}, root=folder, now=0.0).present(record)
    verified = survey([("boat", KEY)], {"boat": record}, root=folder, verify=True, now=0.0)
    assert not verified.present(record)
    (folder / "boat.png").write_bytes(PNG + b"\x00")
    assert not survey([("boat", KEY)], {"boat": record}, root=folder, now=0.0).present(record)
