"""--shard K/N: a stable split of a manifest's jobs by id."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter

import pytest

import batch_gen
from batch_gen.shards import Shard, parse_shard, shard_from_name, shard_number

# Pinned: the shard of an id must never change between versions, machines or Pythons.
PINNED = {
    "paper-boat": [1, 2, 2, 4, 3],
    "teapot": [1, 2, 2, 4, 5],
    "icons/cloud": [1, 1, 2, 1, 6],
    "job-01": [1, 2, 3, 2, 1],
    "Ä-ü": [1, 2, 2, 2, 7],
}
COUNTS = (1, 2, 3, 4, 7)


@pytest.mark.parametrize(("job_id", "expected"), PINNED.items())
def test_the_shard_of_an_id_is_pinned(job_id: str, expected: list[int]) -> None:
    assert [shard_number(job_id, count) for count in COUNTS] == expected


def test_the_shard_is_sha256_of_the_id_bytes_mod_n_plus_one() -> None:
    for job_id in PINNED:
        digest = int(hashlib.sha256(job_id.encode("utf-8")).hexdigest(), 16)
        assert shard_number(job_id, 5) == digest % 5 + 1


def test_the_shard_does_not_depend_on_the_process_hash_seed() -> None:
    """Python's hash() of a str differs per process; a shard must not."""
    code = "from batch_gen.shards import shard_number; print(shard_number('teapot', 7))"
    root = os.path.dirname(os.path.dirname(batch_gen.__file__))
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": root},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert seen == {"5"}


def test_every_id_is_in_exactly_one_shard_and_the_split_is_even() -> None:
    ids = [f"job-{number:05d}" for number in range(8000)]
    shards = [Shard(index, 4) for index in range(1, 5)]
    for job_id in ids:
        assert sum(shard.holds(job_id) for shard in shards) == 1
    sizes = Counter(shard_number(job_id, 4) for job_id in ids)
    assert all(1800 < size < 2200 for size in sizes.values()), sizes


def test_adding_jobs_moves_no_other_job() -> None:
    before = {f"a{number}": shard_number(f"a{number}", 4) for number in range(200)}
    grown = [f"a{number}" for number in range(400)]
    after = {job_id: shard_number(job_id, 4) for job_id in grown}
    assert all(after[job_id] == shard for job_id, shard in before.items())


@pytest.mark.parametrize(
    ("text", "expected"), [("3/4", Shard(3, 4)), (" 1 / 1 ", Shard(1, 1)), ("10/16", Shard(10, 16))]
)
def test_parse_shard(text: str, expected: Shard) -> None:
    assert parse_shard(text) == expected
    assert parse_shard(expected.label) == expected


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "3", "3/4/5", "a/b", "-1/4", "1.5/4", ""])
def test_parse_shard_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="--shard must be K/N"):
        parse_shard(text)


def test_names() -> None:
    shard = Shard(3, 4)
    assert (shard.label, shard.name) == ("3/4", "3of4")
    assert shard_from_name("3of4") == shard
    assert shard_from_name("5of4") is None
    assert shard_from_name("3-4") is None


def test_overlaps() -> None:
    """Shards of one N are disjoint; anything else may share jobs."""
    assert not Shard(1, 4).overlaps(Shard(2, 4))
    assert Shard(1, 4).overlaps(Shard(1, 4))
    assert Shard(1, 4).overlaps(Shard(1, 2))
    assert Shard(1, 4).overlaps(None)
