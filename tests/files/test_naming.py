"""File names: the template language and which relative paths are safe to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_gen.errors import BatchGenError
from batch_gen.files.naming import (
    UnsafePathError,
    render_filename,
    resolve_inside,
    unknown_placeholders,
)
from batch_gen.models import Job


def make_job(*, key: str = "0123456789abcdef" * 4, model: str = "gpt-image-2") -> Job:
    return Job(
        id="boat",
        index=7,
        prompt="A paper boat",
        request={"model": model},
        api="openai.generations",
        key=key,
    )


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
