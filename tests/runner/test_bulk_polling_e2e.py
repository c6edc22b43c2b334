"""End to end: Midjourney tasks polled in bulk through the real CLI against the simulator,
which answers ``list-by-condition`` as the gateway does (unknown ids left out, no order)."""

from __future__ import annotations

import re
from pathlib import Path

from support import SimFactory, cli_env, run_cli

from batch_gen.providers.midjourney import prompt_with_flags

JOBS = 150


def _manifest(folder: Path) -> Path:
    lines = ["version: 1", "defaults:", "  model: mj_fast_imagine", "output:", "  dir: out"]
    lines.append("jobs:")
    for number in range(JOBS):
        lines += [f"  - id: kite-{number:03d}", f"    prompt: 'a kite number {number}'"]
    path = folder / "jobs.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_150_midjourney_tasks_are_polled_in_bulk(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """Every task is polled through list-by-condition, in calls of at most 100 ids, none
    fetched alone; each task is submitted (and billed) once."""
    async with simulator(mj_task_seconds=0.5) as sim:
        args = ["run", str(_manifest(tmp_path)), "--concurrency", str(JOBS), "--debug"]
        args += ["--poll-interval", "0.2", "--no-progress"]
        result = await run_cli(args, cwd=tmp_path, env=cli_env(sim.base_url))
        assert result.code == 0, result.text
        for number in range(JOBS):
            assert sim.stats.submits_for(prompt_with_flags(f"a kite number {number}", None)) == 1
        assert sim.stats.unknown_task_fetches == 0
        reads = [task.fetches for task in sim.stats.tasks.values()]
    bulk = re.findall(r"bulk poll: POST /mj/task/list-by-condition: HTTP 200", result.err)
    single = re.findall(r"GET /mj/task/\S+/fetch", result.err)
    assert single == []
    assert len(reads) == JOBS
    assert all(count >= 1 for count in reads)
    # Rounds of two calls (100 + 50 ids) until the tasks finish: far fewer calls than reads.
    assert 2 <= len(bulk) <= sum(reads) / 50
    assert len(list((tmp_path / "out").glob("kite-*.png"))) == JOBS
