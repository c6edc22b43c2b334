"""Building jobs: which level wins, and what a job's key depends on."""

from __future__ import annotations

from pathlib import Path

from support import write_text

from batch_gen.manifest import load_manifest


def test_key_is_stable_across_spelling(tmp_path: Path) -> None:
    """Writing n: 1, reordering fields, or moving a field into defaults keeps the key."""
    plain = write_text(tmp_path, "jobs:\n  - prompt: a\n    size: 1x1\n", name="a.yaml")
    spelled = write_text(tmp_path, "jobs:\n  - {n: 1, size: 1x1, prompt: a}\n", name="b.yaml")
    moved = write_text(tmp_path, "defaults: {size: 1x1}\njobs:\n  - prompt: a\n", name="c.yaml")
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
          size: 1x1
          params: {background: opaque}
        jobs:
          - prompt: a
            background: transparent
            params: {size: 2x2}
        """,
    )
    request = load_manifest(path).jobs[0].request
    assert (request["size"], request["background"]) == ("2x2", "transparent")
