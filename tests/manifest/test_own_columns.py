"""Columns and keys of the user's own: names starting with ``x-`` are never read, so notes
can sit beside the prompts without changing a job or its key; unknown names say so."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import manifest_problems, write_text

from batch_gen.manifest import load_manifest


def _csv(folder: Path, text: str, name: str = "jobs.csv") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_columns_of_ones_own_are_ignored(tmp_path: Path) -> None:
    """``x-notes`` (any case) holds anything; jobs and keys are those without it."""
    noted = _csv(
        tmp_path,
        'id,x-notes,prompt,X-Reviewer,size\nboat,"ask Ann, twice",a boat,,1024x1024\n'
        "cup,,a cup,bob,\n",
    )
    plain = _csv(tmp_path, "id,prompt,size\nboat,a boat,1024x1024\ncup,a cup,\n", "p.csv")
    assert load_manifest(noted).jobs == load_manifest(plain).jobs


def test_yaml_keys_of_ones_own_are_ignored(tmp_path: Path) -> None:
    """``x-`` keys at the top level (a home for YAML anchors), in the defaults, the output
    and run sections, and in jobs are never read: even a value YAML cannot give as JSON."""
    noted = write_text(
        tmp_path,
        """
        x-common: &common {model: dall-e-3, size: 1792x1024}
        defaults: {quality: hd, x-why: the client asked for hd}
        output: {x-note: 2024-01-01}
        run: {x-note: .nan}
        jobs:
          - <<: *common
            id: boat
            prompt: a boat
            x-notes: ask Ann
            x-when: 2024-01-01
        """,
    )
    plain = write_text(
        tmp_path,
        """
        defaults: {quality: hd}
        jobs:
          - {id: boat, prompt: a boat, model: dall-e-3, size: 1792x1024}
        """,
        name="p.yaml",
    )
    (job,) = load_manifest(noted).jobs
    (same,) = load_manifest(plain).jobs
    assert (job.id, job.request, job.key) == (same.id, same.request, same.key)


def test_params_named_like_that_still_pass_through(tmp_path: Path) -> None:
    """Params are the provider's, whatever their names: an ``x-`` param is sent and keyed."""
    path = write_text(tmp_path, "jobs:\n  - {prompt: a, params: {x-trace: on}}\n")
    assert load_manifest(path).jobs[0].request["x-trace"] is True


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (
            "jobs:\n  - prompt: a\n    notes: ask Ann\n",
            "notes",
            "unknown key 'notes'; provider-specific fields go under 'params' "
            "(keys starting with 'x-' are ignored: 'x-notes' keeps a note of your own)",
        ),
        (
            "jobs:\n  - prompt: a\n    promt: b\n",
            "promt",
            "unknown key 'promt'; did you mean 'prompt'? "
            "(keys starting with 'x-' are ignored: 'x-promt' keeps a note of your own)",
        ),
        (
            "notes: a list\njobs: [{prompt: a}]\n",
            "notes",
            "unknown key 'notes' (keys starting with 'x-' are ignored: 'x-notes' keeps a note "
            "of your own)",
        ),
    ],
)
def test_unknown_keys_mention_the_convention(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    problems = manifest_problems(write_text(tmp_path, text))
    assert (problems[0].field, problems[0].message) == (field, message)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "prompt,notes",
            "unknown column 'notes'; provider-specific fields go in 'params.<name>' columns "
            "(columns starting with 'x-' are ignored: 'x-notes' keeps a note of your own)",
        ),
        (
            "prompt,sise",
            "unknown column 'sise'; did you mean 'size'? "
            "(columns starting with 'x-' are ignored: 'x-sise' keeps a note of your own)",
        ),
    ],
)
def test_unknown_columns_mention_the_convention(tmp_path: Path, header: str, message: str) -> None:
    (problem,) = manifest_problems(_csv(tmp_path, f"{header}\na,b\n"))
    assert (problem.line, problem.message) == (1, message)
