"""Four shards of one manifest as parallel processes on one output folder, against one
simulator that enforces a strict rate window and counts every charge: each job is made
exactly once, no request is refused for its rate, ``status`` is exact over the merged
state; a shard killed with SIGKILL and run again finishes only its own jobs."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from support import SimFactory, cli_env, run_cli, start_cli, wait_until

from batch_gen.models import JobStatus
from batch_gen.shards import Shard, shard_number
from batch_gen.state.folder import runs_in_progress
from batch_gen.state.journal import StateStore, read_shard_states, read_state

SHARDS = 4
# The provider's limit, policed over windows of a few seconds: 40 requests in any 5.
WINDOW_RPM, WINDOW = 480, 5.0
PER_SHARD_RPM = WINDOW_RPM // SHARDS  # each process takes a quarter of it


def prompt(job_id: str) -> str:
    return f"A porcelain bird, {job_id}"


def write_jobs(folder: Path, ids: list[str]) -> Path:
    lines = [
        "version: 1",
        "defaults: {model: gpt-image-2, size: 256x256, quality: low}",
        "output: {dir: out}",
        "jobs:",
    ]
    lines += [f"  - {{id: {job_id}, prompt: '{prompt(job_id)}'}}" for job_id in ids]
    path = folder / "jobs.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def shard_args(manifest: Path, k: int) -> list[str]:
    return ["run", str(manifest), "--shard", f"{k}/{SHARDS}", "--rpm", str(PER_SHARD_RPM)]


async def test_four_shards_in_parallel_then_one_killed_and_resumed(
    tmp_path: Path, simulator: SimFactory
) -> None:
    first = [f"bird-{n:02d}" for n in range(40)]
    manifest = write_jobs(tmp_path, first)
    async with simulator(rpm_limit=WINDOW_RPM, rpm_window=WINDOW, image_labels=False) as sim:
        env = cli_env(sim.base_url)
        processes = [
            await start_cli(shard_args(manifest, k), cwd=tmp_path, env=env)
            for k in range(1, SHARDS + 1)
        ]
        # Once every shard holds its lock, a second process on shard 2 is refused.
        held = await wait_until(lambda: len(runs_in_progress(tmp_path / "out")) == 4, within=30)
        assert held
        twice = await run_cli(shard_args(manifest, 2), cwd=tmp_path, env=env)
        outputs = [await process.communicate() for process in processes]
        for process, (out, err) in zip(processes, outputs, strict=True):
            assert process.returncode == 0, (out + err).decode()
        assert twice.code == 3
        assert "shard 2/4 of the output folder" in twice.err

        for job_id in first:
            assert sim.stats.billed_for(prompt(job_id)) == 1, job_id
        assert sim.stats.rate_limited == 0
        assert sim.stats.max_arrivals_in(WINDOW) <= WINDOW_RPM * WINDOW / 60
        states = dict(read_shard_states(tmp_path / "out"))
        assert [shard.name for shard in states if shard] == ["1of4", "2of4", "3of4", "4of4"]
        for shard, records in states.items():
            assert shard is not None
            assert {job_id for job_id in first if shard.holds(job_id)} == set(records)

        status = await run_cli(["status", str(manifest), "--json"], cwd=tmp_path, env=env)
        assert status.code == 0, status.text
        report = json.loads(status.out)
        assert report["total"] == 40
        assert report["counts"] == {"succeeded": 40, "failed": 0, "pending": 0, "running": 0}

        # New jobs; shard 3 is killed (SIGKILL) part way through its share of them.
        added = [f"wren-{n:02d}" for n in range(60)]
        third = [job_id for job_id in added if shard_number(job_id, SHARDS) == 3][:8]
        others = [job_id for job_id in added if shard_number(job_id, SHARDS) != 3][:12]
        manifest = write_jobs(tmp_path, first + third + others)
        processes = [
            await start_cli(shard_args(manifest, k), cwd=tmp_path, env=env)
            for k in range(1, SHARDS + 1)
        ]
        victim = processes[2]

        def done_of_third() -> set[str]:
            state = read_state(tmp_path / "out")
            return {i for i in third if i in state and state[i].status is JobStatus.SUCCEEDED}

        for _ in range(400):
            if len(done_of_third()) >= 2:
                break
            await asyncio.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        await victim.communicate()
        assert victim.returncode == -signal.SIGKILL
        for process in processes[:2] + processes[3:]:
            out, err = await process.communicate()
            assert process.returncode == 0, (out + err).decode()
        finished = done_of_third()
        assert 2 <= len(finished) < len(third)
        requested = {job_id: sim.stats.requests_for(prompt(job_id)) for job_id in first + added}

        rerun = await run_cli(shard_args(manifest, 3), cwd=tmp_path, env=env)
        assert rerun.code == 0, rerun.text
        mine = [job_id for job_id in first if shard_number(job_id, SHARDS) == 3] + third
        assert f"shard 3/4: {len(mine)} of the manifest's 60 jobs" in rerun.err
        done_before = len(mine) - len(third) + len(finished)
        assert f"{done_before} of {len(mine)} jobs already done" in rerun.err
        for job_id in first + others + sorted(finished):  # nothing of these asked again
            assert sim.stats.requests_for(prompt(job_id)) == requested[job_id], job_id
        for job_id in first + others + sorted(finished):
            assert sim.stats.billed_for(prompt(job_id)) == 1, job_id
        for job_id in third:  # at most the request in flight at the kill is paid again
            assert 1 <= sim.stats.billed_for(prompt(job_id)) <= 2, job_id
        assert sim.stats.rate_limited == 0

        status = await run_cli(["status", str(manifest), "--json"], cwd=tmp_path, env=env)
    assert status.code == 0, status.text
    assert json.loads(status.out)["counts"]["succeeded"] == 60


async def test_a_shard_never_sweeps_temp_files_while_another_shard_runs(tmp_path: Path) -> None:
    """Another shard's temp files may be in flight: only a run alone in the folder sweeps,
    and then only what was written before it started."""
    manifest = write_jobs(tmp_path, [f"bird-{n:02d}" for n in range(6)])
    out = tmp_path / "out"
    out.mkdir()
    partial = out / ".bird-99.png.0123456789ab.part"
    partial.write_bytes(b"half an image another shard is writing")
    env = cli_env(None)
    args = ["run", str(manifest), "--offline", "--shard", "1/2"]
    with StateStore.open(out, shard=Shard(2, 2)):
        result = await run_cli(args, cwd=tmp_path, env=env)
        assert result.code == 0, result.text
        assert partial.exists()
    result = await run_cli([*args, "--force"], cwd=tmp_path, env=env)
    assert result.code == 0, result.text
    assert not partial.exists()
