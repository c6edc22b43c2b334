"""YAML manifests: every problem reported at once with line and field; good files become jobs."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import manifest_problems, problem_places, write_text

from batch_gen.errors import ManifestError
from batch_gen.keys import derive_id, job_key
from batch_gen.manifest import DEFAULT_MODEL, load_manifest
from batch_gen.models import RunDefaults
from batch_gen.providers.openai_images import SPEC as OPENAI_GENERATIONS

BAD_YAML = [
    pytest.param(
        """
        jobs:
          - id: a
            size: 1024x1024
        """,
        [(2, "prompt")],
        "missing prompt",
        id="missing-prompt",
    ),
    pytest.param('jobs:\n  - prompt: "   "\n', [(2, "prompt")], "empty", id="empty-prompt"),
    pytest.param("jobs:\n  - prompt:\n", [(2, "prompt")], "empty", id="null-prompt"),
    pytest.param("jobs:\n  - prompt: [a]\n", [(2, "prompt")], "must be a string", id="list-prompt"),
    pytest.param(
        """
        jobs:
          - id: boat
            prompt: a
          - id: boat
            prompt: b
        """,
        [(4, "id")],
        "also used by the job at line 2",
        id="duplicate-id",
    ),
    pytest.param(
        "jobs:\n  - prompt: same\n  - prompt: same\n",
        [(3, "id")],
        "line 2 (derived from the same prompt",
        id="duplicate-derived-id",
    ),
    pytest.param(
        "jobs:\n  - {id: Boat, prompt: a}\n  - {id: boat, prompt: b}\n",
        [(3, "id")],
        "differs only in case from 'Boat' at line 2",
        id="ids-differing-in-case",
    ),
    pytest.param(
        "jobs:\n  - promt: a\n",
        [(2, "promt"), (2, "prompt")],
        "unknown key 'promt'; did you mean 'prompt'?",
        id="unknown-key-promt",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    modle: x\n",
        [(3, "modle")],
        "did you mean 'model'?",
        id="unknown-key-modle",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    seed: 7\n",
        [(3, "seed")],
        "provider-specific fields go under 'params'",
        id="unknown-key-hints-params",
    ),
    pytest.param(
        "job:\n  - prompt: a\n",
        [(1, "job"), (1, "jobs")],
        "did you mean 'jobs'?",
        id="unknown-top-level-key",
    ),
    pytest.param(
        "defaults: {modle: x}\njobs: [{prompt: a}]\n",
        [(1, "defaults.modle")],
        "did you mean 'model'?",
        id="unknown-key-in-defaults",
    ),
    pytest.param(
        "output: {folder: x}\njobs: [{prompt: a}]\n",
        [(1, "output.folder")],
        "unknown key 'folder'",
        id="unknown-key-in-output",
    ),
    pytest.param(
        "run: {concurency: 2}\njobs: [{prompt: a}]\n",
        [(1, "run.concurency")],
        "did you mean 'concurrency'?",
        id="unknown-key-in-run",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    n: two\n",
        [(3, "n")],
        "must be an integer from 1 to 10, got 'two'",
        id="n-word",
    ),
    pytest.param('jobs:\n  - prompt: a\n    n: "2"\n', [(3, "n")], "(a string)", id="n-quoted"),
    pytest.param("jobs:\n  - prompt: a\n    n: 0\n", [(3, "n")], "got 0", id="n-zero"),
    pytest.param("jobs:\n  - prompt: a\n    n: 11\n", [(3, "n")], "from 1 to 10", id="n-11"),
    pytest.param("jobs:\n  - prompt: a\n    n: true\n", [(3, "n")], "boolean", id="n-bool"),
    pytest.param(
        "jobs:\n  - prompt: a\n    size: 1024\n",
        [(3, "size")],
        "gpt-image-2 cannot make size '1024': write it as WIDTHxHEIGHT",
        id="size-int",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    output_compression: 101\n",
        [(3, "output_compression")],
        "from 0 to 100",
        id="compression-101",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    output_format: jpg\n",
        [(3, "output_format")],
        "did you mean 'jpeg'?",
        id="format-jpg",
    ),
    pytest.param(
        "defaults:\n  output_format: PNG\njobs: [{prompt: a}]\n",
        [(2, "defaults.output_format")],
        "did you mean 'png'?",
        id="format-in-defaults",
    ),
    pytest.param("jobs:\n  - {id: ../../x, prompt: a}\n", [(2, "id")], "escape", id="id-dotdot"),
    pytest.param("jobs:\n  - {id: /abs, prompt: a}\n", [(2, "id")], "absolute", id="id-abs"),
    pytest.param(
        "jobs:\n  - {id: a/../../b, prompt: a}\n", [(2, "id")], "escape", id="id-inner-dotdot"
    ),
    pytest.param("jobs:\n  - {id: .hidden, prompt: a}\n", [(2, "id")], "hidden", id="id-hidden"),
    pytest.param(
        "jobs:\n  - {id: 'a\\b', prompt: a}\n", [(2, "id")], "separate folders", id="id-backslash"
    ),
    pytest.param(
        "jobs:\n  - {id: 'C:\\x', prompt: a}\n", [(2, "id")], "separate folders", id="id-drive"
    ),
    pytest.param("jobs:\n  - {id: 'C:x', prompt: a}\n", [(2, "id")], "absolute", id="id-drive-rel"),
    pytest.param("jobs:\n  - {id: 'a//b', prompt: a}\n", [(2, "id")], "empty part", id="id-empty"),
    pytest.param(
        "jobs:\n  - {id: 'a b', prompt: a}\n", [(2, "id")], "only ASCII letters", id="id-space"
    ),
    pytest.param(
        f"jobs:\n  - {{id: {'a' * 201}, prompt: a}}\n", [(2, "id")], "at most 200", id="id-long"
    ),
    pytest.param(
        "jobs:\n  - {id: [a], prompt: a}\n", [(2, "id")], "must be a string", id="id-list"
    ),
    pytest.param(
        'output:\n  filename: "{idd}.{ext}"\njobs: [{prompt: a}]\n',
        [(2, "output.filename")],
        "unknown placeholder {idd} (allowed: {id}, {index}, {n}, {model}, {key}, {ext}); "
        "did you mean '{id}'?",
        id="filename-unknown-placeholder",
    ),
    pytest.param(
        'output:\n  filename: "{model}.{ext}"\njobs: [{prompt: a}]\n',
        [(2, "output.filename")],
        "every job writes one file",
        id="filename-same-for-all",
    ),
    pytest.param(
        'output:\n  filename: "{id.{ext}"\njobs: [{prompt: a}]\n',
        [(2, "output.filename")],
        "not a valid template",
        id="filename-malformed",
    ),
    pytest.param(
        'output:\n  filename: "{id:03d}.png"\njobs: [{prompt: a}]\n',
        [(2, "output.filename")],
        "format specs and conversions are not supported",
        id="filename-format-spec",
    ),
    pytest.param(
        'output:\n  filename: "{{id}}.png"\njobs: [{prompt: a}]\n',
        [(2, "output.filename")],
        "literal brace",
        id="filename-escaped-brace",
    ),
    pytest.param(
        'output:\n  filename: ".batch_gen/{id}.{ext}"\njobs: [{prompt: a}]\n',
        [(2, "output.filename")],
        "hidden",
        id="filename-hidden",
    ),
    pytest.param(
        'output:\n  filename: "/tmp/{id}.{ext}"\njobs: [{prompt: a}]\n',
        [(2, "output.filename")],
        "absolute",
        id="filename-absolute",
    ),
    pytest.param(
        'output:\n  filename: "../{id}.{ext}"\njobs: [{prompt: a}]\n',
        [(2, "output.filename")],
        "escape",
        id="filename-dotdot",
    ),
    pytest.param(
        "output: {dir: ''}\njobs: [{prompt: a}]\n",
        [(1, "output.dir")],
        "non-empty string",
        id="output-dir-empty",
    ),
    pytest.param(
        """
        run:
          concurrency: 0
          rpm: -1
          max_attempts: "3"
          timeout: true
        jobs: [{prompt: a}]
        """,
        [(2, "run.concurrency"), (3, "run.rpm"), (4, "run.max_attempts"), (5, "run.timeout")],
        "must be",
        id="bad-run-values",
    ),
    pytest.param(
        "run: {timeout: 0}\njobs: [{prompt: a}]\n", [(1, "run.timeout")], "> 0", id="timeout-0"
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    prompt: b\n",
        [(3, "prompt")],
        "duplicate key 'prompt' (first at line 2)",
        id="duplicate-job-key",
    ),
    pytest.param(
        "jobs: [{prompt: a}]\njobs: [{prompt: b}]\n",
        [(2, "jobs")],
        "duplicate key 'jobs'",
        id="duplicate-top-level-key",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    params: {seed: 1, seed: 2}\n",
        [(3, "params.seed")],
        "duplicate key",
        id="duplicate-param",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    size: 1024x1024\n    params:\n      size: 1536x1024\n",
        [(5, "params.size")],
        "set it once",
        id="param-repeats-field",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    params: {n: 0}\n",
        [(3, "params.n")],
        "from 1 to 10",
        id="param-naming-a-field-is-checked",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    params: [1]\n",
        [(3, "params")],
        "must be a mapping",
        id="params-not-mapping",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    params:\n      x: .nan\n      when: 2024-01-01\n",
        [(4, "params.x"), (5, "params.when")],
        "quote it",
        id="params-not-json",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    params: {1: x}\n",
        [(3, "params")],
        "keys must be strings",
        id="params-int-key",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    params: {x: !!int abc}\n",
        [(3, "params.x")],
        "cannot read this value",
        id="bad-explicit-tag",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    params: {x: &a [*a]}\n",
        [(3, "params.x")],
        "refers to itself",
        id="recursive-alias",
    ),
    pytest.param(
        "jobs:\n  - prompt: a\n    size: 1024x1024: x\n",
        [(3, None)],
        "invalid YAML: mapping values are not allowed here",
        id="yaml-syntax-error",
    ),
    pytest.param("jobs:\n\t- prompt: a\n", [(2, None)], "invalid YAML", id="yaml-tab"),
    pytest.param("jobs: []\n", [(1, "jobs")], "non-empty list", id="empty-jobs"),
    pytest.param("version: 1\n", [(1, "jobs")], "missing 'jobs'", id="no-jobs"),
    pytest.param("jobs:\n  - just text\n", [(2, "jobs")], "mapping", id="job-not-mapping"),
    pytest.param("- prompt: a\n", [(1, None)], "top level must be a mapping", id="top-list"),
    pytest.param("", [(1, None)], "empty", id="empty-file"),
    pytest.param("version: 2\njobs: [{prompt: a}]\n", [(1, "version")], "version 1", id="v2"),
]


@pytest.mark.parametrize(("text", "expected", "fragment"), BAD_YAML)
def test_bad_yaml(
    tmp_path: Path, text: str, expected: list[tuple[int | None, str | None]], fragment: str
) -> None:
    """Each kind of mistake is reported at its line and field, with a helpful message."""
    found = manifest_problems(write_text(tmp_path, text))
    assert [(problem.line, problem.field) for problem in found] == expected
    assert fragment in found[0].message
    assert all(problem.file == str(tmp_path / "jobs.yaml") for problem in found)


def test_every_problem_at_once(tmp_path: Path) -> None:
    """Four different problems give four problems, in file order, in one error."""
    path = write_text(
        tmp_path,
        """
        jobs:
          - id: ../x
            prompt: a
          - prompt: b
            n: 0
          - size: 1024x1024
        defaults:
          modle: x
        """,
    )
    assert problem_places(path) == [(2, "id"), (5, "n"), (6, "prompt"), (8, "defaults.modle")]
    with pytest.raises(ManifestError, match="4 problems in the manifest"):
        load_manifest(path)


def test_good_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defaults merge under job fields, params pass through, ids derive, n defaults to 1."""
    write_text(
        tmp_path,
        """
        version: 1
        defaults:
          size: 1024x1024
          quality: low
          params: {moderation: low, seed: 7}
        output:
          filename: "{id}-{n}.{ext}"
        run: {concurrency: 2, rpm: 30, max_attempts: 3, timeout: 60}
        jobs:
          - id: paper-boat
            prompt: A paper boat floating on calm water at sunrise.
          - prompt: "  A glass teapot  "
            size: 1536x1024
            n: 2
            model: gpt-image-1
            params: {background: transparent, seed: 8, style_refs: [a, {b: 1}]}
          - id: 7
            prompt: Café
            output_compression: 50
            output_format: webp
        """,
        name="catalog.yml",
    )
    monkeypatch.chdir(tmp_path)
    manifest = load_manifest(Path("catalog.yml"))

    boat, teapot, cafe = manifest.jobs
    assert boat.request == {
        "model": DEFAULT_MODEL,
        "n": 1,
        "size": "1024x1024",
        "quality": "low",
        "moderation": "low",
        "seed": 7,
    }
    assert (boat.id, boat.index, boat.line) == ("paper-boat", 1, 10)
    assert teapot.prompt == "  A glass teapot  "  # kept as written
    assert teapot.id == derive_id("  A glass teapot  ")
    assert teapot.request == {
        "model": "gpt-image-1",
        "n": 2,
        "size": "1536x1024",
        "quality": "low",
        "moderation": "low",
        "seed": 8,
        "background": "transparent",
        "style_refs": ["a", {"b": 1}],
    }
    assert (teapot.index, teapot.line, teapot.n) == (2, 12, 2)
    assert (cafe.id, cafe.request["output_compression"], cafe.request["output_format"]) == (
        "7",
        50,
        "webp",
    )
    assert boat.api == OPENAI_GENERATIONS.api
    assert boat.key == job_key(
        provider="cometapi",
        api=OPENAI_GENERATIONS.api,
        endpoint=OPENAI_GENERATIONS.endpoint,
        prompt=boat.prompt,
        request=boat.request,
    )
    assert manifest.output.dir == Path("output/catalog")
    assert manifest.output.filename == "{id}-{n}.{ext}"
    assert manifest.run == RunDefaults(concurrency=2, rpm=30, max_attempts=3, timeout=60.0)
    assert isinstance(manifest.run.timeout, float)


@pytest.mark.parametrize(
    "template", ["{id}.{ext}", "{index}-{model}/{key}-{n}.{ext}", "img_{key}", "{id}/{n}.png"]
)
def test_good_filename_templates(tmp_path: Path, template: str) -> None:
    """Templates made of literal text and known placeholders are accepted as written."""
    path = write_text(tmp_path, f'output: {{filename: "{template}"}}\njobs: [{{prompt: a}}]\n')
    assert load_manifest(path).output.filename == template


def test_minimal_yaml_defaults(tmp_path: Path) -> None:
    """Without output or run sections: output/<stem>, the default file name, no run values."""
    manifest = load_manifest(write_text(tmp_path, "jobs:\n  - prompt: a\n", name="icons.YAML"))
    assert manifest.output.dir == Path("output/icons")
    assert manifest.output.filename == "{id}.{ext}"
    assert manifest.run == RunDefaults()
    assert manifest.jobs[0].request == {"model": DEFAULT_MODEL, "n": 1}


def test_yaml_merge_keys(tmp_path: Path) -> None:
    """YAML anchors and merge keys work; the job's own keys win over merged ones."""
    path = write_text(
        tmp_path,
        """
        defaults: &common {size: 1024x1024, n: 2}
        jobs:
          - <<: *common
            prompt: a
            n: 3
        """,
    )
    assert load_manifest(path).jobs[0].request == {
        "model": DEFAULT_MODEL,
        "n": 3,
        "size": "1024x1024",
    }


def test_null_sections_are_empty(tmp_path: Path) -> None:
    """A section with every key commented out (null) counts as empty, not as an error."""
    path = write_text(tmp_path, "defaults:\noutput:\nrun:\njobs:\n  - prompt: a\n    params:\n")
    assert load_manifest(path).jobs[0].request == {"model": DEFAULT_MODEL, "n": 1}


def test_alias_bomb_is_a_problem(tmp_path: Path) -> None:
    """Nested aliases that expand to billions of values are refused, not expanded."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    lines += ["jobs:", "  - prompt: a", "    params: {p: *a8}"]
    found = manifest_problems(write_text(tmp_path, "\n".join(lines) + "\n"))
    assert any(problem.field == "params.p" and "too many" in problem.message for problem in found)


def test_yaml_bom_tolerated(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark at the start of a YAML file is ignored."""
    path = tmp_path / "jobs.yaml"
    path.write_bytes(b"\xef\xbb\xbfjobs:\n  - prompt: a\n")
    assert load_manifest(path).jobs[0].prompt == "a"
