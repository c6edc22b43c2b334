"""Files every shard of a folder writes: replaced whole, never through a shared temp file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from batch_gen.models import Job
from batch_gen.state.jobindex import read_job_index, write_job_index
from batch_gen.state.layout import private_temp_name, replace_with
from batch_gen.state.runinfo import read_run_info, write_run_info


def job(job_id: str) -> Job:
    return Job(job_id, 1, "p", {}, "openai.generations", f"key-{job_id}")


def test_temp_names_are_private_to_each_writer() -> None:
    names = {private_temp_name("run.json") for _ in range(50)}
    assert len(names) == 50
    assert all(name.startswith(".run.json.") and name.endswith(".tmp") for name in names)


def test_many_writers_at_once_leave_one_whole_file(tmp_path: Path) -> None:
    (tmp_path / ".batch_gen").mkdir()

    def write(number: int) -> None:
        for _ in range(30):
            write_run_info(tmp_path, {"provider": "simulator", "writer": number, "pad": "x" * 5000})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    info = read_run_info(tmp_path)
    assert info["provider"] == "simulator"
    assert info["writer"] in range(4)
    assert os.listdir(tmp_path / ".batch_gen") == ["run.json"]  # no temp file left


def test_a_failed_replace_leaves_the_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")
    (tmp_path / "blocker").mkdir()
    with pytest.raises(IsADirectoryError):
        replace_with(tmp_path / "blocker", b"new")  # a folder cannot be replaced by a file
    assert sorted(os.listdir(tmp_path)) == ["blocker", "file"]


def test_one_shards_jobs_never_replace_the_index_of_the_whole_manifest(tmp_path: Path) -> None:
    (tmp_path / ".batch_gen").mkdir()
    every = [job("a"), job("b")]
    write_job_index(tmp_path, manifest_sha256="f" * 64, provider="p", jobs=every)
    write_job_index(tmp_path, manifest_sha256="", provider="p", jobs=every[:1])
    assert read_job_index(tmp_path, manifest_sha256="f" * 64, provider="p") == [
        ("a", "key-a"),
        ("b", "key-b"),
    ]
