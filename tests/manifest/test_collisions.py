"""Jobs whose files would land on one path are a manifest error naming both jobs' lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import manifest_problems, write_text

from batch_gen.manifest import load_manifest


@pytest.mark.parametrize(
    ("jobs", "filename", "line", "fragments"),
    [
        # image 1 of a job with n: 2 is a-1.{ext}, as is the only image of a job a-1
        (
            "  - {id: a, prompt: x, n: 2}\n  - {id: a-1, prompt: y}\n",
            "{id}.{ext}",
            4,
            ["job 'a-1' would write a-1.{ext}", "job 'a' at line 3"],
        ),
        # compared ignoring case, as macOS and Windows disks do
        (
            "  - {id: A-1, prompt: y}\n  - {id: a, prompt: x, n: 2}\n",
            "{id}.{ext}",
            4,
            ["would write a-1.{ext}, the file A-1.{ext} of job 'A-1' at line 3"],
        ),
        # the extension is decided by the bytes: a jpeg and a png job may share a name
        (
            "  - {id: a, prompt: x}\n  - {id: b, prompt: x, output_format: jpeg}\n",
            "img.{ext}-{index}",
            None,
            [],
        ),
        # a template without {id}: two identical jobs share a key, so one {key} name
        (
            "  - {id: a, prompt: x}\n  - {id: b, prompt: x}\n",
            "{key}.{ext}",
            4,
            ["of job 'a' at line 3", "put {id} in output.filename"],
        ),
        # an image may not take a metadata file's name
        (
            "  - {id: a.json, prompt: x}\n  - {id: a, prompt: y}\n",
            "{id}",
            4,
            ["job 'a' would write its metadata file a.json, the file of job 'a.json' at line 3"],
        ),
    ],
)
def test_colliding_files(
    tmp_path: Path, jobs: str, filename: str, line: int | None, fragments: list[str]
) -> None:
    path = write_text(tmp_path, f'output: {{filename: "{filename}"}}\njobs:\n{jobs}')
    if line is None:
        assert len(load_manifest(path).jobs) == 2
        return
    (problem,) = manifest_problems(path)
    assert problem.line == line
    for fragment in fragments:
        assert fragment in problem.message
