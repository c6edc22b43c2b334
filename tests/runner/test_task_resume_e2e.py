"""End to end: task-based APIs (Midjourney, Flux) through the real CLI against the
simulator, including a SIGKILL while tasks are being polled.

The point is crash safety: a task id is recorded before its first poll, so a run that is
killed while polling resumes the same task on the next run instead of paying again. The
simulator bills a task once, at submit, so its per-prompt submit count is the proof.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from support import SimFactory, cli_env, run_cli, start_cli

from batch_gen.providers.midjourney import prompt_with_flags
from batch_gen.simulator import Simulator

MJ_PROMPT = "a lighthouse at dusk, oil painting"
FLUX_PROMPT = "a red fox asleep in fresh snow"
SIZE = "1024x1024"
# The simulator counts a task under the prompt as sent; Midjourney's carries the --ar flag.
MJ_SENT = prompt_with_flags(MJ_PROMPT, SIZE)
FAST_POLLS = ["--poll-interval", "0.1"]


def _manifest(folder: Path) -> Path:
    path = folder / "jobs.yaml"
    path.write_text(
        "\n".join(
            [
                "version: 1",
                "defaults:",
                f"  size: {SIZE}",
                "output:",
                "  dir: out",
                "jobs:",
                "  - id: lighthouse",
                f"    prompt: {MJ_PROMPT!r}",
                "    model: mj_fast_imagine",
                "    upscale: [1, 3]",
                "  - id: fox",
                f"    prompt: {FLUX_PROMPT!r}",
                "    model: flux-pro-1.1",
                "    params:",
                "      seed: 42",
            ]
        )
        + "\n"
    )
    return path


def _images(folder: Path) -> dict[str, tuple[int, int]]:
    """Saved image files by name, with their decoded sizes (proving they decode)."""
    found = {}
    for path in sorted(folder.glob("*")):
        if path.suffix in {".png", ".jpg", ".webp"}:
            with Image.open(path) as image:
                image.load()
                found[path.name] = image.size
    return found


def _records(out: Path) -> dict[str, dict[str, Any]]:
    """The latest record of each job in the state journal."""
    records: dict[str, dict[str, Any]] = {}
    for line in (out / ".batch_gen" / "state.jsonl").read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            records[record["id"]] = record
    return records


def _recorded_tasks(out: Path) -> dict[str, dict[str, str]]:
    """The task ids recorded per job."""
    return {job: record.get("tasks") or {} for job, record in _records(out).items()}


async def _wait_until(condition: Callable[[], bool], process: asyncio.subprocess.Process) -> None:
    """Wait for ``condition`` while the CLI runs; fail if it ends or 30 s pass first."""
    for _ in range(1500):
        if condition():
            return
        if process.returncode is not None:
            out, err = await process.communicate()
            raise AssertionError(f"the run ended first:\n{out.decode()}{err.decode()}")
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting for the simulator to see the expected requests")


async def _kill(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGKILL)
    await process.wait()
    assert process.returncode == -signal.SIGKILL


def _assert_paid_once_per_step(sim: Simulator) -> None:
    """Midjourney: one imagine and one upscale per cell; Flux: one task."""
    assert sim.stats.submits_for(MJ_SENT) == 3  # imagine, U1, U3
    assert sim.stats.billed_for(MJ_SENT) == 3
    assert sim.stats.submits_for(FLUX_PROMPT) == 1
    assert sim.stats.billed_for(FLUX_PROMPT) == 1


async def test_midjourney_grid_and_upscales_and_a_flux_image_are_saved(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """A Midjourney job with ``upscale: [1, 3]`` saves the grid then two single cells; a
    Flux job saves its sample; each task is submitted once."""
    manifest = _manifest(tmp_path)
    async with simulator(mj_task_seconds=0.3, flux_task_seconds=0.3) as sim:
        result = await run_cli(
            ["run", str(manifest), *FAST_POLLS], cwd=tmp_path, env=cli_env(sim.base_url)
        )
        assert result.code == 0, result.text
        _assert_paid_once_per_step(sim)
    out = tmp_path / "out"
    images = _images(out)
    assert set(images) == {"lighthouse-1.png", "lighthouse-2.png", "lighthouse-3.png", "fox.jpg"}
    grid_width, grid_height = images["lighthouse-1.png"]
    # An upscale is one cell of the 2x2 grid.
    assert images["lighthouse-2.png"] == (grid_width // 2, grid_height // 2)
    assert images["fox.jpg"] == (1024, 1024)
    assert set(_recorded_tasks(out)["lighthouse"]) == {"imagine", "upscale:1", "upscale:3"}
    metadata = json.loads((out / "lighthouse.json").read_text())
    assert [image["index"] for image in metadata["images"]] == [1, 2, 3]
    # Which file is the grid and which each upscale; three requests, each at its first try.
    roles = {image["file"]: image["role"] for image in metadata["images"]}
    assert roles == {
        "lighthouse-1.png": "grid",
        "lighthouse-2.png": "upscale U1",
        "lighthouse-3.png": "upscale U3",
    }
    assert metadata["attempts"] == 1
    assert "role" not in json.loads((out / "fox.json").read_text())["images"][0]


async def test_a_sidecar_written_again_from_the_state_keeps_the_roles(
    tmp_path: Path, simulator: SimFactory
) -> None:
    manifest = _manifest(tmp_path)
    async with simulator(mj_task_seconds=0.1, flux_task_seconds=0.1) as sim:
        env = cli_env(sim.base_url)
        first = await run_cli(["run", str(manifest), *FAST_POLLS], cwd=tmp_path, env=env)
        assert first.code == 0, first.text
        sidecar = tmp_path / "out" / "lighthouse.json"
        sidecar.unlink()
        again = await run_cli(["run", str(manifest), *FAST_POLLS], cwd=tmp_path, env=env)
        assert again.code == 0, again.text
        _assert_paid_once_per_step(sim)
    metadata = json.loads(sidecar.read_text())
    assert [image.get("role") for image in metadata["images"]] == [
        "grid",
        "upscale U1",
        "upscale U3",
    ]


async def test_sigkill_while_polling_resumes_the_same_tasks(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """SIGKILL while the imagine and the Flux tasks are polled, and again while an upscale
    is polled: each next run polls the recorded tasks instead of submitting, so every
    step is paid exactly once and the job completes."""
    manifest = _manifest(tmp_path)
    out = tmp_path / "out"
    async with simulator(mj_task_seconds=2.0, flux_task_seconds=3.0) as sim:
        env = cli_env(sim.base_url)
        args = ["run", str(manifest), *FAST_POLLS]

        # 1. Killed while both first tasks are polled (a poll comes after the record).
        process = await start_cli(args, cwd=tmp_path, env=env)
        await _wait_until(
            lambda: sim.stats.polls_for(MJ_SENT) >= 1 and sim.stats.polls_for(FLUX_PROMPT) >= 1,
            process,
        )
        await _kill(process)
        assert sim.stats.submits_for(MJ_SENT) == 1
        assert sim.stats.submits_for(FLUX_PROMPT) == 1
        before = _recorded_tasks(out)
        assert set(before["lighthouse"]) == {"imagine"}
        assert set(before["fox"]) == {"submit"}
        assert _images(out) == {}

        # 2. Killed while the first upscale is polled.
        process = await start_cli(args, cwd=tmp_path, env=env)
        await _wait_until(lambda: sim.stats.submits_for(MJ_SENT) >= 2, process)
        polls = sim.stats.polls_for(MJ_SENT)
        await _wait_until(lambda: sim.stats.polls_for(MJ_SENT) > polls, process)
        await _kill(process)
        assert sim.stats.submits_for(MJ_SENT) == 2  # the imagine was not submitted again
        middle = _recorded_tasks(out)
        assert middle["lighthouse"]["imagine"] == before["lighthouse"]["imagine"]
        assert "upscale:1" in middle["lighthouse"]
        # The grid is recorded (its file is renamed into place when the job ends).
        assert [image["index"] for image in _records(out)["lighthouse"]["images"]] == [1]

        # 3. Runs to the end.
        result = await run_cli(args, cwd=tmp_path, env=env)
        assert result.code == 0, result.text
        _assert_paid_once_per_step(sim)
        after = _recorded_tasks(out)
    assert after["lighthouse"]["upscale:1"] == middle["lighthouse"]["upscale:1"]
    assert after["fox"] == before["fox"]
    assert set(_images(out)) == {
        "lighthouse-1.png",
        "lighthouse-2.png",
        "lighthouse-3.png",
        "fox.jpg",
    }
    assert not list(out.rglob("*.part"))


async def test_a_task_past_its_deadline_fails_naming_it_and_resumes_later(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """--task-timeout gives up polling with an error naming the task id (exit 1, the job
    retryable); the next run polls that same task to the end instead of paying again."""
    manifest = _manifest(tmp_path)
    async with simulator(mj_task_seconds=3.0, flux_task_seconds=3.0) as sim:
        env = cli_env(sim.base_url)
        first = await run_cli(
            ["run", str(manifest), *FAST_POLLS, "--task-timeout", "0.5"], cwd=tmp_path, env=env
        )
        assert first.code == 1, first.text
        tasks = _recorded_tasks(tmp_path / "out")
        assert tasks["lighthouse"]["imagine"] in first.out  # the message names the task
        assert "--task-timeout" in first.out
        second = await run_cli(["run", str(manifest), *FAST_POLLS], cwd=tmp_path, env=env)
        assert second.code == 0, second.text
        _assert_paid_once_per_step(sim)
