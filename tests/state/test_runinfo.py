"""The last run's facts: written atomically beside the journal, read back or ``{}``."""

from __future__ import annotations

from pathlib import Path

from batch_gen.state.layout import RUN_INFO_NAME, STATE_DIR_NAME
from batch_gen.state.runinfo import read_run_info, write_run_info


def test_run_info_round_trips_and_the_last_write_wins(tmp_path: Path) -> None:
    (tmp_path / STATE_DIR_NAME).mkdir()
    write_run_info(tmp_path, {"provider": "cometapi", "manifest": "jobs.yaml"})
    write_run_info(tmp_path, {"provider": "simulator"})
    assert read_run_info(tmp_path) == {"provider": "simulator"}
    assert [path.name for path in (tmp_path / STATE_DIR_NAME).iterdir()] == [RUN_INFO_NAME]


def test_missing_corrupt_or_non_object_run_info_reads_as_empty(tmp_path: Path) -> None:
    assert read_run_info(tmp_path) == {}
    path = tmp_path / STATE_DIR_NAME / RUN_INFO_NAME
    path.parent.mkdir()
    path.write_text("{not json", encoding="utf-8")
    assert read_run_info(tmp_path) == {}
    path.write_text("[1, 2]", encoding="utf-8")
    assert read_run_info(tmp_path) == {}
