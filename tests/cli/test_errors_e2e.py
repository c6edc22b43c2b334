"""Errors are one line, never a traceback, with the documented exit status, and nothing
is sent: the real CLI as a subprocess against the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import (
    SIM_KEY,
    CliResult,
    SimFactory,
    cli_env,
    run_cli,
    unwritable_folder,
    write_manifest,
)

from batch_gen.simulator import Simulator

PROMPTS = ["A red cube on a table", "A blue ball on the grass"]


def _one_line(result: CliResult, code: int, *parts: str) -> str:
    """The run ended with ``code`` and said exactly one line, holding every one of
    ``parts``; nothing on stdout, no traceback."""
    assert result.code == code, result.text
    assert result.out == ""
    assert result.err.count("\n") == 1, result.err
    line = result.err.rstrip("\n")
    assert line.startswith("batch_gen: ")
    assert "Traceback" not in line
    for part in parts:
        assert part in line, line
    return line


async def _refused(
    tmp_path: Path, sim: Simulator, *args: str, env: dict[str, str] | None = None
) -> CliResult:
    manifest = write_manifest(tmp_path, PROMPTS)
    result = await run_cli(
        ["run", str(manifest), *args], cwd=tmp_path, env=env or cli_env(sim.base_url)
    )
    assert sim.stats.total_requests == 0, "nothing may be sent"
    return result


async def test_output_that_is_a_file_or_under_one(tmp_path: Path, simulator: SimFactory) -> None:
    (tmp_path / "afile").write_text("not a folder")
    async with simulator() as sim:
        result = await _refused(tmp_path, sim, "--output", "afile")
        _one_line(result, 3, f"{tmp_path}/afile", "--output", "it is a file, not a folder")
        result = await _refused(tmp_path, sim, "--output", "afile/sub")
        _one_line(result, 3, f"{tmp_path}/afile is a file, not a folder")
        result = await _refused(tmp_path, sim, "--output", "afile", "--dry-run")
        _one_line(result, 3, "it is a file, not a folder")


async def test_output_folder_that_refuses_writes(tmp_path: Path, simulator: SimFactory) -> None:
    folder = unwritable_folder(tmp_path) / "batch-out"
    async with simulator() as sim:
        result = await _refused(tmp_path, sim, "--output", str(folder))
    _one_line(result, 3, f"cannot write the output folder {folder} (--output)")
    assert not folder.exists()


async def test_output_root_or_home_is_refused_before_anything_is_written(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """A run there would write its state and sweep the whole tree for temp files. The
    real run is tried on a home folder of the test's own, so that a regression could only
    write there; the file system's root with a dry run, which writes nothing anyway."""
    home = tmp_path / "home"
    home.mkdir()
    async with simulator() as sim:
        env = cli_env(sim.base_url, HOME=str(home))
        result = await _refused(tmp_path, sim, "--output", str(home), env=env)
        _one_line(result, 2, f"--output {home}: refusing the home folder as the output folder")
        assert list(home.iterdir()) == []
        result = await _refused(tmp_path, sim, "--output", "/", "--dry-run")
        _one_line(result, 2, "--output /: refusing the root of the file system")


async def test_state_that_cannot_be_written(tmp_path: Path, simulator: SimFactory) -> None:
    (tmp_path / "o1").mkdir()
    (tmp_path / "o1" / ".batch_gen").write_text("a file where the state folder goes")
    (tmp_path / "o2" / ".batch_gen" / "state.jsonl").mkdir(parents=True)
    async with simulator() as sim:
        result = await _refused(tmp_path, sim, "--output", "o1")
        _one_line(result, 3, f"state folder {tmp_path}/o1/.batch_gen is a file")
        result = await _refused(tmp_path, sim, "--output", "o2")
        _one_line(result, 3, f"{tmp_path}/o2/.batch_gen/state.jsonl: Is a directory")
        # --debug adds the traceback before the same line, and never the key.
        debug = await _refused(tmp_path, sim, "--output", "o2", "--debug")
    assert debug.code == 3
    assert "Traceback" in debug.err
    assert debug.err.rstrip("\n").splitlines()[-1] == result.err.rstrip("\n")
    assert SIM_KEY not in debug.text


async def test_report_path_is_checked_before_anything_is_sent(
    tmp_path: Path, simulator: SimFactory
) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "reports").mkdir()
    async with simulator() as sim:
        result = await _refused(tmp_path, sim, "--report", "reports")
        _one_line(result, 3, f"--report {tmp_path}/reports", "it is a folder, not a file")
        result = await _refused(tmp_path, sim, "--report", "afile/r.json")
        _one_line(result, 3, f"--report {tmp_path}/afile/r.json", "afile is a file")
        folder = unwritable_folder(tmp_path)
        result = await _refused(tmp_path, sim, "--report", str(folder / "r.json"))
        _one_line(result, 3, f"cannot write --report {folder}/r.json")


async def test_a_key_with_a_line_break_around_it_is_stripped(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """COMETAPI_KEY=$(cat key.txt) of a file saved with CRLF: the key works."""
    manifest = write_manifest(tmp_path, PROMPTS)
    async with simulator() as sim:
        env = cli_env(sim.base_url, key=f"  {SIM_KEY}\r\n")
        result = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert result.code == 0, result.text
        assert sim.stats.total_billed == len(PROMPTS)


@pytest.mark.parametrize("key", ["\r\n", "   "])
async def test_a_blank_key_is_no_key(tmp_path: Path, simulator: SimFactory, key: str) -> None:
    async with simulator() as sim:
        result = await _refused(tmp_path, sim, env=cli_env(sim.base_url, key=key))
    _one_line(result, 3, "no API key: set COMETAPI_KEY")


async def test_a_key_broken_in_two_is_refused_without_showing_it(
    tmp_path: Path, simulator: SimFactory
) -> None:
    async with simulator() as sim:
        env = cli_env(sim.base_url, key=f"{SIM_KEY}\r\n{SIM_KEY}")
        result = await _refused(tmp_path, sim, env=env)
    line = _one_line(result, 3, "COMETAPI_KEY has a line break (CR) inside it")
    assert SIM_KEY[:10] not in line
