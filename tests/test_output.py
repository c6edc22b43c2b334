from __future__ import annotations

import hashlib
import io
import json
import secrets
import struct
import zlib
from pathlib import Path

import pytest

from batch_gen.errors import BatchGenError
from batch_gen.models import ImageRecord, Job
from batch_gen.output import (
    UnsafePathError,
    commit_partial,
    extension_for,
    image_size,
    metadata_path,
    recover_image,
    remove_stale_partials,
    render_filename,
    resolve_inside,
    sha256_hex,
    sniff_format,
    temp_path_for,
    unknown_placeholders,
    write_atomic,
    write_metadata,
    write_partial,
)


def make_png(width: int, height: int) -> bytes:
    """A real, minimal grey-scale PNG built by hand."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def pillow_image(fmt: str, size: tuple[int, int], *, mode: str = "RGB", **options: object) -> bytes:
    """Encode a blank image with Pillow (skips the test when Pillow is missing)."""
    image_module = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    image_module.new(mode, size).save(buffer, fmt, **options)
    return buffer.getvalue()


def make_job(*, key: str = "0123456789abcdef" * 4, model: str = "gpt-image-2") -> Job:
    return Job(
        id="boat",
        index=7,
        prompt="A paper boat",
        request={"model": model},
        api="openai.generations",
        key=key,
    )


def make_record(data: bytes, file: str = "img/boat.png") -> ImageRecord:
    return ImageRecord(number=1, file=file, sha256=sha256_hex(data), bytes=len(data), format="png")


# --- resolve_inside ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative",
    [
        "../../x",
        "/etc/passwd",
        "a/../../b",
        "C:\\x",
        "C:x",
        "a\\b",
        "",
        ".",
        "./",
        "..",
        "a/..",
        ".batch_gen/state.jsonl",
        ".batch_gen",
        "./.batch_gen/lock",
        ".BATCH_GEN/lock",
        "a/../.batch_gen/x",
        "a/.boat.png.0123456789ab.part",
        ".x.ffffffffffff.part",
        "nul\x00byte.png",
    ],
)
def test_resolve_inside_refuses_unsafe_paths(tmp_path: Path, relative: str) -> None:
    """Empty, absolute, Windows-style, escaping and state-folder paths are refused."""
    with pytest.raises(UnsafePathError, match="unsafe output path"):
        resolve_inside(tmp_path, relative)


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("a/b.png", "a/b.png"),
        ("x..y.png", "x..y.png"),
        ("..x.png", "..x.png"),
        ("a/./b.png", "a/b.png"),
        ("a/../b.png", "b.png"),
        ("a//b.png", "a/b.png"),
        ("sub/.batch_gen/x.png", "sub/.batch_gen/x.png"),
        (".hidden.png", ".hidden.png"),
        (".notes.part", ".notes.part"),
    ],
)
def test_resolve_inside_accepts_safe_paths(tmp_path: Path, relative: str, expected: str) -> None:
    """Safe relative paths are joined to the root and normalised."""
    assert resolve_inside(tmp_path, relative) == tmp_path.joinpath(*expected.split("/"))


def test_unsafe_path_error_is_a_value_error_in_the_tree() -> None:
    """UnsafePathError belongs to the batch_gen error tree and is a ValueError."""
    assert issubclass(UnsafePathError, BatchGenError)
    assert issubclass(UnsafePathError, ValueError)


# --- render_filename --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "number", "count", "expected"),
    [
        ("{id}.{ext}", 1, 1, "boat.png"),
        ("{id}.{ext}", 2, 3, "boat-2.png"),
        ("{id}-{n}.{ext}", 1, 1, "boat-1.png"),
        ("{id}_{n}.{ext}", 2, 2, "boat_2.png"),
        ("{index}/{id}.{ext}", 1, 1, "7/boat.png"),
        ("{model}/{id}.{ext}", 1, 1, "gpt-image-2/boat.png"),
        ("{key}.{ext}", 1, 1, "0123456789ab.png"),
        ("{ext}/{id}.{ext}", 3, 4, "png/boat-3.png"),
        ("{id}", 2, 2, "boat-2"),
        ("{id}.png", 2, 2, "boat.png-2"),
        ("{id}.{ext}.bak", 2, 2, "boat-2.png.bak"),
    ],
)
def test_render_filename_substitutes_placeholders(
    template: str, number: int, count: int, expected: str
) -> None:
    """Placeholders are filled in, and -{n} is inserted before .{ext} when a job has n > 1."""
    rendered = render_filename(
        template, job=make_job(), image_number=number, image_count=count, ext="png"
    )
    assert rendered == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-image-2", "gpt-image-2"),
        ("black-forest-labs/flux 1.1:pro", "black-forest-labs_flux_1.1_pro"),
        ("ümlaut\\x", "_mlaut_x"),
    ],
)
def test_render_filename_sanitises_the_model(model: str, expected: str) -> None:
    """{model} keeps only [A-Za-z0-9._-], replacing every other character by '_'."""
    job = make_job(model=model)
    assert render_filename("{model}", job=job, image_number=1, image_count=1, ext="png") == expected


def test_render_filename_key_ignores_an_algorithm_prefix() -> None:
    """{key} is the first 12 hex digits even when the key carries an 'algo:' prefix."""
    job = make_job(key="sha256:" + "fedcba9876543210" * 4)
    assert render_filename("{key}", job=job, image_number=1, image_count=1, ext="png") == (
        "fedcba987654"
    )


def test_render_filename_rejects_unknown_placeholders() -> None:
    """An unknown placeholder is a ValueError naming it, and unknown_placeholders finds it."""
    with pytest.raises(ValueError, match=r"\{prompt\}"):
        render_filename("{prompt}.{ext}", job=make_job(), image_number=1, image_count=1, ext="png")
    assert unknown_placeholders("{id}-{prompt}.{ext}{size}") == ("prompt", "size")
    assert unknown_placeholders("{id}.{ext}") == ()


# --- formats ----------------------------------------------------------------------------


def test_png_format_and_size_from_hand_built_bytes() -> None:
    """A hand-built PNG is sniffed as png and its IHDR size is read."""
    data = make_png(37, 23)
    assert sniff_format(data) == "png"
    assert image_size(data, "png") == (37, 23)
    assert extension_for("png") == "png"


@pytest.mark.parametrize(
    ("fmt", "pillow_format", "mode", "options"),
    [
        ("jpeg", "JPEG", "RGB", {}),
        ("jpeg", "JPEG", "RGB", {"progressive": True}),
        ("jpeg", "JPEG", "RGB", {"exif": b"Exif\x00\x00" + b"\x00" * 3000}),
        ("webp", "WEBP", "RGB", {}),  # lossy: VP8
        ("webp", "WEBP", "RGB", {"lossless": True}),  # VP8L
        ("webp", "WEBP", "RGBA", {}),  # lossy with alpha: VP8X
        ("gif", "GIF", "P", {}),
        ("png", "PNG", "RGBA", {}),
    ],
)
def test_pillow_images_are_sniffed_and_measured(
    fmt: str, pillow_format: str, mode: str, options: dict[str, object]
) -> None:
    """Real JPEG (baseline, progressive, with EXIF), WebP (VP8, VP8L, VP8X), GIF and PNG."""
    data = pillow_image(pillow_format, (301, 157), mode=mode, **options)
    assert sniff_format(data) == fmt
    assert image_size(data, fmt) == (301, 157)


def test_extensions_use_jpg_for_jpeg() -> None:
    """JPEG images are saved as .jpg; other formats use their own name."""
    assert [extension_for(f) for f in ("png", "jpeg", "webp", "gif")] == [
        "png",
        "jpg",
        "webp",
        "gif",
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 64,
        b"hello, this is not an image at all",
        b"<html><body>502 Bad Gateway</body></html>",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"\xff\xd8",
    ],
)
def test_garbage_is_not_an_image(data: bytes) -> None:
    """Bytes that are not an image give no format and no size, without raising."""
    assert sniff_format(data) is None
    for fmt in ("png", "jpeg", "webp", "gif", "bmp"):
        assert image_size(data, fmt) is None


def test_truncated_headers_give_no_size() -> None:
    """Every truncation of a real image's header gives None (never an exception)."""
    images = {"png": make_png(5, 4)}
    pil = pytest.importorskip("PIL.Image")
    del pil
    images["jpeg"] = pillow_image("JPEG", (5, 4), exif=b"Exif\x00\x00" + b"\x00" * 100)
    images["webp"] = pillow_image("WEBP", (5, 4))
    images["gif"] = pillow_image("GIF", (5, 4), mode="P")
    for fmt, data in images.items():
        header_end = {"png": 24, "jpeg": data.find(b"\xff\xc0") + 9, "webp": 30, "gif": 10}[fmt]
        for cut in range(header_end):
            assert image_size(data[:cut], fmt) is None, (fmt, cut)
        assert image_size(data, fmt) == (5, 4)


def test_corrupt_jpeg_segments_give_no_size() -> None:
    """A JPEG whose marker chain is broken or zero-length is rejected, not looped over."""
    assert image_size(b"\xff\xd8\xff\xe0\x00\x00" + b"\x00" * 20, "jpeg") is None
    assert image_size(b"\xff\xd8\xff\xe0\x00\x04\x00\x00\x12\x34", "jpeg") is None
    assert image_size(b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20, "jpeg") is None
    zero_size_sof = b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x00\x00\x00\x03" + b"\x00" * 20
    assert image_size(zero_size_sof, "jpeg") is None


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
    data = make_png(3, 3)
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
    data = make_png(4, 4)
    write_atomic(tmp_path / "img" / "boat.png", data)
    assert recover_image(tmp_path, make_record(data))
    assert recover_image(tmp_path, make_record(data), verify=True)


def test_recover_image_final_file_with_wrong_size(tmp_path: Path) -> None:
    """A final file of another size (and no temp file) is not in place."""
    data = make_png(4, 4)
    write_atomic(tmp_path / "img" / "boat.png", data[:-5])
    assert not recover_image(tmp_path, make_record(data))


def test_recover_image_verify_checks_the_hash(tmp_path: Path) -> None:
    """Same size, other content: in place by size, not in place with verify=True."""
    data = make_png(4, 4)
    write_atomic(tmp_path / "img" / "boat.png", bytes(len(data)))
    assert recover_image(tmp_path, make_record(data))
    assert not recover_image(tmp_path, make_record(data), verify=True)


def test_recover_image_moves_a_recorded_temp_into_place(tmp_path: Path) -> None:
    """Saved and recorded but not yet renamed (a crash between steps 2 and 3): moved into place."""
    data = make_png(4, 4)
    final = tmp_path / "img" / "boat.png"
    temp = write_partial(final, data, sha256=sha256_hex(data))
    assert recover_image(tmp_path, make_record(data))
    assert final.read_bytes() == data
    assert not temp.exists()


def test_recover_image_temp_replaces_a_wrong_final(tmp_path: Path) -> None:
    """A valid temp file wins over a final file of the wrong size."""
    data = make_png(4, 4)
    final = tmp_path / "img" / "boat.png"
    write_atomic(final, b"stale")
    write_partial(final, data, sha256=sha256_hex(data))
    assert recover_image(tmp_path, make_record(data))
    assert final.read_bytes() == data


def test_recover_image_ignores_a_temp_with_other_content(tmp_path: Path) -> None:
    """A temp file whose hash does not match the record is not moved into place."""
    data = make_png(4, 4)
    final = tmp_path / "img" / "boat.png"
    temp = temp_path_for(final, sha256_hex(data))
    write_atomic(temp, bytes(len(data)))
    assert not recover_image(tmp_path, make_record(data))
    assert not final.exists()


def test_recover_image_nothing_present(tmp_path: Path) -> None:
    """With neither final nor temp file, the image must be requested again."""
    assert not recover_image(tmp_path, make_record(make_png(4, 4)))


def test_recover_image_unsafe_recorded_name(tmp_path: Path) -> None:
    """A recorded file name that escapes the root is never touched: not in place."""
    data = make_png(2, 2)
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


# --- metadata ---------------------------------------------------------------------------


def test_write_metadata_writes_readable_json(tmp_path: Path) -> None:
    """Metadata is indented UTF-8 JSON with a trailing newline, beside the images."""
    document = {"prompt": "Ein Boot auf dem Wasser, früh am Morgen", "model": "gpt-image-2", "n": 2}
    path = write_metadata(tmp_path, "boats/boat", document)
    assert path == metadata_path(tmp_path, "boats/boat") == tmp_path / "boats" / "boat.json"
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert "früh" in text
    assert '\n  "prompt"' in text
    assert json.loads(text) == document
    assert sorted(p.name for p in path.parent.iterdir()) == ["boat.json"]


def test_write_metadata_refuses_an_escaping_job_id(tmp_path: Path) -> None:
    """A job id that leads outside the output folder is refused before anything is written."""
    with pytest.raises(UnsafePathError):
        write_metadata(tmp_path / "out", "../evil", {})
    assert list(tmp_path.iterdir()) == []
