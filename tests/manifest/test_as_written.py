"""Values are taken as written: YAML 1.1 never turns an id into a number, a prompt into a
boolean, or a count into octal behind the user's back. CSV cells are text already."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import manifest_problems, write_text

from batch_gen.files.naming import EXT_MARK, UnsuffixedNames
from batch_gen.manifest import load_manifest
from batch_gen.models import DEFAULT_FILENAME

# Plain YAML scalars that YAML 1.1 reads as something else than their text.
REINTERPRETED = [
    "0123",  # octal 83
    "0x1F",  # hex 31
    "010",  # octal 8
    "1_000",  # 1000
    "1e3",  # a string already (YAML 1.1 floats need a dot)
    "0o17",  # a string already
    "1.5",  # a float
    "yes",
    "on",
    "off",
    "2024-01-02",  # a date
]


@pytest.mark.parametrize("written", REINTERPRETED)
def test_an_unquoted_id_is_taken_as_written(tmp_path: Path, written: str) -> None:
    """``id: 0123`` names the file 0123.png, exactly as the quoted ``id: '0123'`` does."""
    plain = load_manifest(write_text(tmp_path, f"jobs:\n  - id: {written}\n    prompt: a\n"))
    quoted = load_manifest(
        write_text(tmp_path, f"jobs:\n  - id: '{written}'\n    prompt: a\n", name="q.yaml")
    )
    assert plain.jobs[0].id == quoted.jobs[0].id == written
    assert plain.jobs[0].key == quoted.jobs[0].key
    assert UnsuffixedNames(DEFAULT_FILENAME)(plain.jobs[0]) == [f"{written}.{EXT_MARK}"]


@pytest.mark.parametrize("written", [*REINTERPRETED, "12:30"])  # base 60: 750
def test_an_unquoted_prompt_is_taken_as_written(tmp_path: Path, written: str) -> None:
    """``prompt: yes`` is the prompt "yes", with the key of ``prompt: 'yes'``."""
    plain = load_manifest(write_text(tmp_path, f"jobs:\n  - id: a\n    prompt: {written}\n"))
    quoted = load_manifest(
        write_text(tmp_path, f"jobs:\n  - id: a\n    prompt: '{written}'\n", name="q.yaml")
    )
    assert plain.jobs[0].prompt == written
    assert plain.jobs[0].key == quoted.jobs[0].key


def test_ids_that_yaml_would_make_equal_stay_apart(tmp_path: Path) -> None:
    """``id: 010`` (octal 8 to YAML 1.1) and ``id: 8`` are two jobs, two files."""
    path = write_text(tmp_path, "jobs:\n  - {id: 010, prompt: a}\n  - {id: 8, prompt: b}\n")
    assert [job.id for job in load_manifest(path).jobs] == ["010", "8"]


def test_text_fields_are_taken_as_written(tmp_path: Path) -> None:
    """Every field that takes text reads it as written, in the defaults, a job, its params
    and the output section."""
    path = write_text(
        tmp_path,
        """
        defaults: {user: 0123}
        output: {dir: 2024, filename: "{id}.{ext}"}
        jobs:
          - prompt: a
            quality: 010
            params: {background: off}
        """,
    )
    manifest = load_manifest(path)
    request = manifest.jobs[0].request
    assert (request["user"], request["quality"], request["background"]) == ("0123", "010", "off")
    assert manifest.output.dir == tmp_path / "2024"


def test_csv_ids_and_prompts_are_taken_as_written(tmp_path: Path) -> None:
    """CSV cells are text: 0123 stays 0123, and 010 and 8 are two ids."""
    path = tmp_path / "jobs.csv"
    path.write_text("id,prompt\n0123,0123\n010,yes\n8,1e3\n", encoding="utf-8")
    jobs = load_manifest(path).jobs
    assert [(job.id, job.prompt) for job in jobs] == [
        ("0123", "0123"),
        ("010", "yes"),
        ("8", "1e3"),
    ]


REFUSED = [
    pytest.param(
        "jobs:\n  - id: a\n    prompt: null\n",
        [(3, "prompt")],
        "YAML reads 'null' as no value: quote it to mean the text",
        id="prompt-null",
    ),
    pytest.param(
        "jobs:\n  - id: a\n    prompt: ~\n", [(3, "prompt")], "YAML reads '~'", id="prompt-tilde"
    ),
    pytest.param(
        "jobs:\n  - id: null\n    prompt: a\n",
        [(2, "id")],
        "YAML reads 'null' as no value: quote it",
        id="id-null",
    ),
    pytest.param(
        "jobs:\n  - id:\n    prompt: a\n",
        [(2, "id")],
        "id is empty: leave it out to derive one from the prompt",
        id="id-empty",
    ),
    pytest.param(
        "jobs:\n  - id: .inf\n    prompt: a\n", [(2, "id")], "would be hidden", id="id-inf"
    ),
    pytest.param(
        "jobs:\n  - id: +5\n    prompt: a\n", [(2, "id")], "'+' is not allowed", id="id-plus"
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    n: 010\n",
        [(3, "n")],
        "YAML reads '010' as 8, not as written: write the number in decimal digits",
        id="n-octal",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    n: 0x2\n", [(3, "n")], "YAML reads '0x2' as 2", id="n-hex"
    ),
    pytest.param(
        "run: {concurrency: 1_0}\njobs: [{prompt: a}]\n",
        [(1, "run.concurrency")],
        "YAML reads '1_0' as 10",
        id="run-underscore",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    params: {seed: 0777}\n",
        [(3, "params.seed")],
        "or quote it to pass text",
        id="param-octal",
    ),
]


@pytest.mark.parametrize(("text", "expected", "fragment"), REFUSED)
def test_what_cannot_be_taken_as_written_is_refused_with_a_hint(
    tmp_path: Path, text: str, expected: list[tuple[int, str]], fragment: str
) -> None:
    """A null spelled out, or a number YAML would read otherwise, is refused at its line."""
    found = manifest_problems(write_text(tmp_path, text))
    assert [(problem.line, problem.field) for problem in found] == expected
    assert fragment in found[0].message


def test_decimal_numbers_are_read_as_numbers(tmp_path: Path) -> None:
    """Counts and params written in decimal keep their meaning (and their keys)."""
    path = write_text(
        tmp_path, "run: {concurrency: +4}\njobs:\n  - {prompt: a, n: 10, params: {seed: 0}}\n"
    )
    manifest = load_manifest(path)
    assert manifest.run.concurrency == 4
    assert (manifest.jobs[0].request["n"], manifest.jobs[0].request["seed"]) == (10, 0)
