"""Building jobs: which level wins, and what a job's key depends on."""

from __future__ import annotations

from pathlib import Path

from support import PNG, manifest_problems, write_text

from batch_gen.manifest import key_for, load_manifest, with_provider


def test_key_is_stable_across_spelling(tmp_path: Path) -> None:
    """Writing n: 1, reordering fields, or moving a field into defaults keeps the key."""
    plain = write_text(tmp_path, "jobs:\n  - prompt: a\n    size: 1024x1024\n", name="a.yaml")
    spelled = write_text(tmp_path, "jobs:\n  - {n: 1, size: 1024x1024, prompt: a}\n", name="b.yaml")
    moved = write_text(
        tmp_path, "defaults: {size: 1024x1024}\njobs:\n  - prompt: a\n", name="c.yaml"
    )
    keys = {load_manifest(path).jobs[0].key for path in (plain, spelled, moved)}
    assert len(keys) == 1


def test_key_depends_on_provider(tmp_path: Path) -> None:
    """The provider is part of every key."""
    path = write_text(tmp_path, "jobs:\n  - prompt: a\n")
    assert load_manifest(path).jobs[0].key != load_manifest(path, provider="other").jobs[0].key


def test_level_decides_between_fields_and_params(tmp_path: Path) -> None:
    """A job's own field or param wins over the defaults, whichever way each is written."""
    path = write_text(
        tmp_path,
        """
        defaults:
          size: 1024x1024
          params: {background: opaque}
        jobs:
          - prompt: a
            background: transparent
            params: {size: 1536x1024}
        """,
    )
    request = load_manifest(path).jobs[0].request
    assert (request["size"], request["background"]) == ("1536x1024", "transparent")


def test_keys_of_a_manifest_that_was_valid_before_are_pinned(tmp_path: Path) -> None:
    """Reading ids and prompts as written, the models' limits and notes of one's own
    (``x-``) leave every key of a manifest that was valid before byte-identical: a changed
    key would run a user's done jobs again."""
    path = write_text(
        tmp_path,
        """
        defaults: {model: gpt-image-2, size: 1024x1024, quality: low}
        jobs:
          - {id: '0123', prompt: "quoted"}
          - {id: boat, prompt: a paper boat, n: 2, params: {seed: 42, flag: yes}}
          - {id: 42, prompt: 'yes'}
          - {prompt: derived id here}
          - {id: mj, model: mj_fast_imagine, prompt: a cat, upscale: [1, 3]}
          - {id: fl, model: flux-dev, prompt: a dog, size: 512x512}
        """,
    )
    assert [(job.id, job.key[:16]) for job in load_manifest(path).jobs] == [
        ("0123", "5e782fe3637ecbf3"),
        ("boat", "d22c9798db53d44b"),
        ("42", "be89c53343d4b492"),
        ("derived-id-here-399fc8", "ca09ea374c6f4280"),
        ("mj", "b7291fad13b30582"),
        ("fl", "25e15681784ecc81"),
    ]


def test_jobs_sharing_their_fields_are_each_checked_and_keyed(tmp_path: Path) -> None:
    """Jobs written with the same fields share one check of them: each job still gets its
    own key (that of key_for) and its own problems, at its own lines."""
    path = write_text(
        tmp_path,
        """
        defaults: {model: dall-e-2}
        jobs:
          - {id: a, prompt: one, size: 256x256}
          - {id: b, prompt: two, size: 256x256}
          - {id: c, prompt: three, size: 1536x1024}
          - {id: d, prompt: four, size: 1536x1024}
          - {id: e, prompt: five, size: 256x256, action: enhance}
          - {id: f, prompt: six, size: 256x256, action: enhance}
        """,
    )
    problems = manifest_problems(path)
    places = [(problem.line, problem.field) for problem in problems]
    assert places == [(5, "size"), (6, "size"), (7, "action"), (8, "action")]
    fine = write_text(
        tmp_path,
        "jobs:\n"
        + "".join(f"  - {{id: j{i}, prompt: p{i % 3}, size: 1024x1024}}\n" for i in range(9)),
        name="fine.yaml",
    )
    manifest = load_manifest(fine)
    assert [job.key for job in manifest.jobs] == [key_for(job, "cometapi") for job in manifest.jobs]
    assert len({job.key for job in manifest.jobs}) == 3


def test_a_prompt_too_long_is_found_in_every_job_of_a_shape(tmp_path: Path) -> None:
    """The prompt-length limit is the one check that reads the prompt: it runs per job."""
    long = "x" * 1001
    path = write_text(
        tmp_path,
        f"defaults: {{model: dall-e-2}}\njobs:\n  - {{id: a, prompt: ok}}\n"
        f"  - {{id: b, prompt: {long}}}\n  - {{id: c, prompt: ok too}}\n"
        f"  - {{id: d, prompt: {long}}}\n",
    )
    places = [(problem.line, problem.field) for problem in manifest_problems(path)]
    assert places == [(4, "prompt"), (6, "prompt")]


def test_values_equal_in_python_are_not_one_value(tmp_path: Path) -> None:
    """True == 1 and 0.0 == -0.0 in Python: a job's check and key must not come from
    another job whose value only compares equal."""
    path = write_text(
        tmp_path,
        """
        jobs:
          - {id: a, prompt: p, params: {seed: 1, scale: 0.0}}
          - {id: b, prompt: p, params: {seed: true, scale: 0.0}}
          - {id: c, prompt: p, params: {seed: 1, scale: -0.0}}
        """,
    )
    jobs = load_manifest(path).jobs
    assert [job.request["seed"] for job in jobs] == [1, True, 1]
    assert len({job.key for job in jobs}) == 3
    refused = write_text(
        tmp_path,
        "jobs:\n  - {id: a, prompt: p, n: 1}\n  - {id: b, prompt: p, n: true}\n",
        name="n.yaml",
    )
    assert [(p.line, p.field) for p in manifest_problems(refused)] == [(3, "n")]


def test_keys_for_another_provider_are_those_it_would_load(tmp_path: Path) -> None:
    """with_provider re-keys every job, shared shapes and input files alike, exactly as
    loading the manifest for that provider keys it."""
    (tmp_path / "a.png").write_bytes(PNG)
    path = write_text(
        tmp_path,
        """
        jobs:
          - {id: a, prompt: one, size: 1024x1024}
          - {id: b, prompt: two, size: 1024x1024}
          - {id: c, prompt: one, model: flux-dev}
          - {id: d, prompt: edit me, image: a.png}
          - {id: e, prompt: again, image: a.png}
        """,
    )
    rekeyed = with_provider(load_manifest(path), "simulator")
    expected = load_manifest(path, provider="simulator")
    assert [job.key for job in rekeyed.jobs] == [job.key for job in expected.jobs]
    assert len({job.key for job in rekeyed.jobs}) == 5
