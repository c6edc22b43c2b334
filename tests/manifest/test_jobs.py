"""Building jobs: which level wins, and what a job's key depends on."""

from __future__ import annotations

from pathlib import Path

from support import write_text

from batch_gen.manifest import load_manifest


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
