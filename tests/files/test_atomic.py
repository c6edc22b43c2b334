"""The crash-safe write protocol: temp file, record, rename; recovery and clean-up."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

import pytest
from support import PNG

from batch_gen.files.atomic import (
    ExistingFiles,
    commit_partial,
    recover_image,
    remove_stale_partials,
    sha256_hex,
    temp_path_for,
    write_atomic,
    write_partial,
)
from batch_gen.models import ImageRecord


def make_record(data: bytes, file: str = "img/boat.png") -> ImageRecord:
    return ImageRecord(number=1, file=file, sha256=sha256_hex(data), bytes=len(data), format="png")


def test_sha256_hex_matches_hashlib() -> None:
    """sha256_hex is the lowercase hex SHA-256."""
    assert sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()


# --- writes -----------------------------------------------------------------------------


def test_write_atomic_creates_folders_and_leaves_no_temp(tmp_path: Path) -> None:
    """A successful write creates parents, replaces any old file, and leaves no temp file."""
    target = tmp_path / "a" / "b" / "img.png"
    write_atomic(target, b"first")
    write_atomic(target, b"second", durable=True)
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["img.png"]


def test_write_atomic_uses_the_given_temp_name(tmp_path: Path) -> None:
    """With temp=..., the bytes pass through that name, which is gone afterwards."""
    target = tmp_path / "img.png"
    temp = temp_path_for(target, sha256_hex(b"data"))
    write_atomic(target, b"data", temp=temp)
    assert target.read_bytes() == b"data"
    assert not temp.exists()


def test_write_atomic_removes_the_temp_when_the_rename_fails(tmp_path: Path) -> None:
    """When os.replace fails (target is a non-empty folder), the temp file is removed."""
    target = tmp_path / "img.png"
    target.mkdir()
    (target / "keep").write_bytes(b"x")
    with pytest.raises(OSError):  # noqa: PT011 - the platform decides which OSError
        write_atomic(target, b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.png"]


def test_write_atomic_fails_cleanly_when_the_folder_cannot_exist(tmp_path: Path) -> None:
    """A parent that is a file makes the write fail with OSError and leaves nothing behind."""
    (tmp_path / "blocker").write_bytes(b"x")
    with pytest.raises(OSError):  # noqa: PT011 - the platform decides which OSError
        write_atomic(tmp_path / "blocker" / "img.png", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_partial_then_commit_follows_the_protocol(tmp_path: Path) -> None:
    """write_partial writes the deterministic temp; commit_partial moves it into place."""
    data = PNG
    final = tmp_path / "sub" / "boat.png"
    temp = write_partial(final, data, sha256=sha256_hex(data))
    assert temp == temp_path_for(final, sha256_hex(data))
    assert temp.name == f".boat.png.{sha256_hex(data)[:12]}.part"
    assert not final.exists()
    commit_partial(temp, final, durable=True)
    assert final.read_bytes() == data
    assert not temp.exists()


# --- recovery ---------------------------------------------------------------------------


def test_recover_image_final_file_in_place(tmp_path: Path) -> None:
    """A final file with the recorded size counts as in place."""
    data = PNG
    write_atomic(tmp_path / "img" / "boat.png", data)
    assert recover_image(tmp_path, make_record(data))
    assert recover_image(tmp_path, make_record(data), verify=True)


def test_recover_image_final_file_with_wrong_size(tmp_path: Path) -> None:
    """A final file of another size (and no temp file) is not in place."""
    data = PNG
    write_atomic(tmp_path / "img" / "boat.png", data[:-5])
    assert not recover_image(tmp_path, make_record(data))


def test_recover_image_verify_checks_the_hash(tmp_path: Path) -> None:
    """Same size, other content: in place by size, not in place with verify=True."""
    data = PNG
    write_atomic(tmp_path / "img" / "boat.png", bytes(len(data)))
    assert recover_image(tmp_path, make_record(data))
    assert not recover_image(tmp_path, make_record(data), verify=True)


def test_recover_image_moves_a_recorded_temp_into_place(tmp_path: Path) -> None:
    """Saved and recorded but not yet renamed (a crash between steps 2 and 3): moved into place."""
    data = PNG
    final = tmp_path / "img" / "boat.png"
    temp = write_partial(final, data, sha256=sha256_hex(data))
    assert recover_image(tmp_path, make_record(data))
    assert final.read_bytes() == data
    assert not temp.exists()


def test_recover_image_temp_replaces_a_wrong_final(tmp_path: Path) -> None:
    """A valid temp file wins over a final file of the wrong size."""
    data = PNG
    final = tmp_path / "img" / "boat.png"
    write_atomic(final, b"stale")
    write_partial(final, data, sha256=sha256_hex(data))
    assert recover_image(tmp_path, make_record(data))
    assert final.read_bytes() == data


def test_recover_image_ignores_a_temp_with_other_content(tmp_path: Path) -> None:
    """A temp file whose hash does not match the record is not moved into place."""
    data = PNG
    final = tmp_path / "img" / "boat.png"
    temp = temp_path_for(final, sha256_hex(data))
    write_atomic(temp, bytes(len(data)))
    assert not recover_image(tmp_path, make_record(data))
    assert not final.exists()


def test_recover_image_nothing_present(tmp_path: Path) -> None:
    """With neither final nor temp file, the image must be requested again."""
    assert not recover_image(tmp_path, make_record(PNG))


def test_recover_image_unsafe_recorded_name(tmp_path: Path) -> None:
    """A recorded file name that escapes the root is never touched: not in place."""
    data = PNG
    write_atomic(tmp_path / "outside.png", data)
    assert not recover_image(tmp_path / "out", make_record(data, file="../outside.png"))


def test_remove_stale_partials(tmp_path: Path) -> None:
    """Leftover temp files are deleted everywhere but in .batch_gen; nothing else is."""
    keep = [
        "img/boat.png",
        "img/x.part",
        ".notes.part",
        ".user.png.not-hex-zzzz.part",
        "notes.part.txt",
        ".batch_gen/.state.jsonl.0123456789ab.part",
        ".batch_gen/state.jsonl",
    ]
    stale = [
        ".top.png.0123456789ab.part",
        "img/.boat.png.abcdef012345.part",
        "a/b/c/.deep.json.ffffffffffff.part",
    ]
    for name in keep + stale:
        write_atomic(tmp_path / name, b"x")
    (tmp_path / "dir.0123456789ab.part").mkdir()
    (tmp_path / ".dir.0123456789ab.part").mkdir()

    assert remove_stale_partials(tmp_path) == len(stale)
    for name in keep:
        assert (tmp_path / name).exists(), name
    for name in stale:
        assert not (tmp_path / name).exists(), name
    assert (tmp_path / ".dir.0123456789ab.part").is_dir()
    assert remove_stale_partials(tmp_path) == 0
    assert remove_stale_partials(tmp_path / "missing") == 0


def test_remove_stale_partials_removes_what_the_writers_leave(tmp_path: Path) -> None:
    """Both temp-name forms (deterministic and random) are recognised as stale."""
    write_partial(tmp_path / "boat.png", b"data", sha256=sha256_hex(b"data"))
    (tmp_path / f".other.png.{secrets.token_hex(6)}.part").write_bytes(b"x")
    assert remove_stale_partials(tmp_path) == 2
    assert list(tmp_path.iterdir()) == []


def test_existing_files_lists_each_folder_once_as_a_snapshot(tmp_path: Path) -> None:
    """Files present at the first look of their folder count; folders and later files do not."""
    write_atomic(tmp_path / "img" / "boat.png", PNG)
    write_atomic(tmp_path / "top.png", PNG)
    (tmp_path / "img" / "sub").mkdir()
    existing = ExistingFiles(tmp_path)
    assert existing("img/boat.png")
    assert existing("top.png")
    assert not existing("img/sub")
    assert not existing("missing/boat.png")
    write_atomic(tmp_path / "img" / "late.png", PNG)
    assert not existing("img/late.png")


def test_existing_files_hold_images_by_size_and_with_verify_by_sha256(tmp_path: Path) -> None:
    """A file in place has the recorded size; --verify also compares the sha256, so only it
    sees a same-size replacement. A missing file is never in place."""
    write_atomic(tmp_path / "img" / "boat.png", PNG)
    record = make_record(PNG)
    assert ExistingFiles(tmp_path).holds([record])
    assert ExistingFiles(tmp_path).holds([record], verify=True)
    assert not ExistingFiles(tmp_path).holds([record, make_record(PNG, "img/gone.png")])

    (tmp_path / "img" / "boat.png").write_bytes(PNG[:-1] + b"\x00")  # same size, other bytes
    assert ExistingFiles(tmp_path).holds([record])
    assert not ExistingFiles(tmp_path).holds([record], verify=True)
    (tmp_path / "img" / "boat.png").write_bytes(PNG[:10])  # truncated
    assert not ExistingFiles(tmp_path).holds([record])


@pytest.mark.parametrize(
    ("on_disk", "asked", "found"),
    [
        ("a-1.png", "a-1.\x00", "a-1.png"),
        ("A-1.JPG", "a-1.\x00", "A-1.JPG"),
        ("sub/a.webp", "sub/A.\x00", "sub/a.webp"),
        ("a-1.txt", "a-1.\x00", None),
        ("a.png", "a.png", "a.png"),
        ("b.png", "a.\x00", None),
        ("apng", "a\x00", "apng"),
        ("x-webp.img", "x-\x00.img", "x-webp.img"),
    ],
)
def test_existing_files_like_ignores_case_and_extension(
    tmp_path: Path, on_disk: str, asked: str, found: str | None
) -> None:
    """``like`` finds the file a name would land on where case is ignored; the extension
    mark stands for any image extension."""
    write_atomic(tmp_path / on_disk, PNG)
    assert ExistingFiles(tmp_path).like(asked) == found


def test_existing_files_is_empty(tmp_path: Path) -> None:
    """A missing or empty folder holds nothing, nor one with only the state folder; a
    sub-folder counts as something."""
    assert ExistingFiles(tmp_path / "missing").is_empty()
    (tmp_path / ".batch_gen").mkdir()
    assert ExistingFiles(tmp_path).is_empty()
    (tmp_path / "sub").mkdir()
    assert not ExistingFiles(tmp_path).is_empty()


def test_remove_stale_partials_stays_out_of_other_output_folders_and_links(
    tmp_path: Path,
) -> None:
    """A subfolder with a state folder of its own is another run's output folder (its
    temp files may be in flight): left alone, as are folders reached by a link."""
    mine = tmp_path / "img" / ".boat.png.abcdef012345.part"
    theirs = tmp_path / "other-run" / ".cat.png.abcdef012345.part"
    elsewhere = tmp_path.parent / f"{tmp_path.name}-linked" / ".dog.png.abcdef012345.part"
    for path in (mine, theirs, elsewhere):
        write_atomic(path, b"x")
    (tmp_path / "other-run" / ".batch_gen").mkdir()
    (tmp_path / "link").symlink_to(elsewhere.parent, target_is_directory=True)

    assert remove_stale_partials(tmp_path) == 1
    assert not mine.exists()
    assert theirs.exists()
    assert elsewhere.exists()
