"""The temp-file sweep in a folder that shards share: a run sweeps only what was written
before it started, and nothing while another shard's run holds the folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

from batch_gen.files.atomic import remove_stale_partials
from batch_gen.files.naming import partial_name


def test_only_temp_files_written_before_the_moment_are_swept(tmp_path: Path) -> None:
    old = tmp_path / partial_name("a.png", "0" * 12)
    new = tmp_path / partial_name("b.png", "1" * 12)
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    moment = time.time()
    os.utime(old, (moment - 60, moment - 60))
    os.utime(new, (moment + 1, moment + 1))
    assert remove_stale_partials(tmp_path, before=moment) == 1
    assert not old.exists()
    assert new.exists()
    assert remove_stale_partials(tmp_path) == 1  # no moment: every one
