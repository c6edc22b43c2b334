"""Manifest fields for every image API: api, image, mask, upscale, action."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from batch_gen.errors import ManifestError
from batch_gen.manifest import load_manifest
from batch_gen.manifest.fields import (
    API_FIELDS,
    CSV_COLUMNS,
    DEFAULTS_KEYS,
    JOB_KEYS,
    UNKEYED_FIELDS,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    Image.new("RGB", (32, 32), (200, 0, 0)).save(tmp_path / "a.png")
    Image.new("RGB", (32, 32), (0, 200, 0)).save(tmp_path / "b.jpg")
    Image.new("RGBA", (32, 32), (0, 0, 0, 0)).save(tmp_path / "mask.png")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def _load(folder: Path, jobs: str) -> list[tuple[str, str, str]]:
    path = folder / "m.yaml"
    path.write_text("jobs:\n" + jobs)
    try:
        manifest = load_manifest(path)
    except ManifestError as error:
        return [(str(p.line), p.field or "", p.message) for p in error.problems]
    return [(job.id, job.api, str(job.n)) for job in manifest.jobs]


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        ("  - {id: a, prompt: p, image: a.png}\n", [("a", "openai.edits", "1")]),
        (
            "  - {id: a, prompt: p, image: [a.png, b.jpg], mask: mask.png}\n",
            [("a", "openai.edits", "1")],
        ),
        (
            "  - {id: a, prompt: p, model: gemini-3-pro-image-preview, image: a.png}\n",
            [("a", "gemini", "1")],
        ),
        (
            "  - {id: a, prompt: p, model: mj_fast_imagine, upscale: [1, 3]}\n",
            [("a", "midjourney", "3")],
        ),
        ("  - {id: a, prompt: p, model: flux-pro-1.1}\n", [("a", "flux", "1")]),
        (
            "  - {id: a, prompt: p, model: bria-gen-fill, action: gen_fill, image: a.png,"
            " mask: mask.png}\n",
            [("a", "bria.edit", "1")],
        ),
        ("  - {id: a, prompt: p, model: some-new-model, api: flux}\n", [("a", "flux", "1")]),
    ],
)
def test_the_api_follows_from_the_model_and_fields(
    folder: Path, jobs: str, expected: list[tuple[str, str, str]]
) -> None:
    """The route (and the image count) is decided by model, api:, inputs and action."""
    assert _load(folder, jobs) == expected


@pytest.mark.parametrize(
    ("jobs", "field", "fragment"),
    [
        ("  - {id: a, prompt: p, image: nope.png}\n", "image", "no such file"),
        ("  - {id: a, prompt: p, image: notes.txt}\n", "image", "is not a PNG"),
        ("  - {id: a, prompt: p, image: a.png, mask: b.jpg}\n", "mask", "a mask must be a PNG"),
        ("  - {id: a, prompt: p, mask: mask.png}\n", "mask", "needs an input image"),
        ("  - {id: a, prompt: p, upscale: [1]}\n", "upscale", "only Midjourney"),
        ("  - {id: a, prompt: p, model: mj_fast_imagine, upscale: [5]}\n", "upscale", "1 to 4"),
        ("  - {id: a, prompt: p, model: bria-erase, action: erase}\n", "image", "needs an input"),
        ("  - {id: a, prompt: p, api: fluxx}\n", "api", "did you mean 'flux'"),
        ("  - {id: a, prompt: p, action: erase, image: a.png}\n", "action", "only Bria"),
    ],
)
def test_fields_a_route_cannot_serve_are_problems(
    folder: Path, jobs: str, field: str, fragment: str
) -> None:
    """Each problem names the line and the field, before anything is sent."""
    problems = _load(folder, jobs)
    assert any(f == field and fragment in message for _, f, message in problems), problems
    assert all(line == "2" for line, _, _ in problems)


def test_input_contents_not_paths_make_the_key(folder: Path) -> None:
    """Moving an input keeps the key; changing its pixels changes it."""
    path = folder / "m.yaml"
    path.write_text("jobs:\n  - {id: a, prompt: p, image: a.png}\n")
    before = load_manifest(path).jobs[0].key
    (folder / "sub").mkdir()
    (folder / "a.png").rename(folder / "sub" / "a.png")
    path.write_text("jobs:\n  - {id: a, prompt: p, image: sub/a.png}\n")
    moved = load_manifest(path).jobs[0].key
    Image.new("RGB", (32, 32), (1, 2, 3)).save(folder / "sub" / "a.png")
    edited = load_manifest(path).jobs[0].key
    assert before == moved != edited


def test_csv_lists(folder: Path) -> None:
    """CSV cells hold ';'-separated lists for image and upscale."""
    path = folder / "m.csv"
    path.write_text(
        "id,prompt,model,image,upscale\n"
        "e,edit,gpt-image-2,a.png;b.jpg,\n"
        "m,grid,mj_fast_imagine,,1;3\n"
    )
    jobs = load_manifest(path).jobs
    assert [(job.api, len(job.inputs), job.n) for job in jobs] == [
        ("openai.edits", 2, 1),
        ("midjourney", 0, 3),
    ]


def test_api_fields_are_allowed_everywhere_and_kept_out_of_the_key(folder: Path) -> None:
    """Every API-specific field is a key in the defaults and jobs and a CSV column; those
    not keyed as written never reach a job's request."""
    for name in API_FIELDS:
        assert name in DEFAULTS_KEYS
        assert name in JOB_KEYS
        assert name in CSV_COLUMNS
    path = folder / "m.yaml"
    path.write_text("jobs:\n  - {id: a, prompt: p, api: openai-edits, image: a.png}\n")
    (job,) = load_manifest(path).jobs
    assert {"api", "image", "mask"} == UNKEYED_FIELDS
    assert not UNKEYED_FIELDS & set(job.request)
