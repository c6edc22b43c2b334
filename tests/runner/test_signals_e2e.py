"""Stopping by signal, through the real CLI against the simulator on loopback: a hangup
(a closed terminal, a dropped SSH session) stops a run like Ctrl-C, unless the run was
started under ``nohup``."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest
from support import SimFactory, cli_env, run_cli, start_cli, write_manifest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP here")

PROMPTS = [f"A paper lantern in shade {number}" for number in range(16)]


def _saved(folder: Path) -> int:
    return len(list(folder.glob("*.png")))


async def _wait_for_an_image(folder: Path) -> None:
    for _ in range(500):
        if _saved(folder):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("no image was saved")


async def test_sighup_stops_gracefully_with_a_summary_and_exit_130(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """The first SIGHUP stops dispatching and lets in-flight requests finish: the summary
    is printed, the state saved, the exit status is 130, and the next run finishes the
    rest without paying again."""
    manifest = write_manifest(tmp_path, PROMPTS)
    async with simulator(latency=0.3) as sim:
        env = cli_env(sim.base_url)
        process = await start_cli(
            ["run", str(manifest), "--concurrency", "2"], cwd=tmp_path, env=env
        )
        await _wait_for_an_image(tmp_path / "out")
        process.send_signal(signal.SIGHUP)
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 130, (out + err).decode()
        assert b"stopping: " in err  # told at once what the signal does
        assert b"interrupted: state saved" in out  # the summary, at the end
        done_before = sim.stats.total_billed
        assert 0 < done_before < len(PROMPTS)
        status = await run_cli(["status", str(manifest), "--json"], cwd=tmp_path, env=env)
        assert json.loads(status.out)["counts"]["succeeded"] == done_before
        again = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert again.code == 0, again.text
        assert all(sim.stats.billed_for(prompt) == 1 for prompt in PROMPTS)


async def test_a_run_started_under_nohup_outlives_a_hangup(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """``nohup`` starts a process ignoring SIGHUP to keep it running after its terminal
    closes: the run keeps that choice and finishes every job."""
    manifest = write_manifest(tmp_path, PROMPTS[:6])
    async with simulator(latency=0.2) as sim:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "batch_gen",
            "run",
            str(manifest),
            "--concurrency",
            "2",
            cwd=tmp_path,
            env=cli_env(sim.base_url),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # as nohup does
        )
        await _wait_for_an_image(tmp_path / "out")
        process.send_signal(signal.SIGHUP)
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, (out + err).decode()
        assert b"stopping" not in err
    assert _saved(tmp_path / "out") == 6
