"""examples/github/images.yml, run as a GitHub runner would (tests/workflow_runner.py)
against the simulator: on main with a cache miss, with the cache restored, with a failed
job (the cache is saved all the same), and on a pull request (a plan, no key, nothing
sent)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest
from support import SIM_KEY, SimFactory, cli_env
from workflow_runner import Job, Runner

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "github" / "images.yml"
SHARDED = ROOT / "examples" / "github" / "images-sharded.yml"
REFUSED = "A forbidden-fruit bowl"  # the simulator refuses it: a failed job


def succeeded(job: Job) -> bool:
    """Whether every step ran well."""
    return all(step.outcome in ("success", "skipped") for step in job.steps)


def manifest_text(prompts: dict[str, str]) -> str:
    lines = [
        "version: 1",
        "defaults: {model: gpt-image-2, size: 256x256, quality: low}",
        "jobs:",
    ]
    lines += [f"  - {{id: {job_id}, prompt: '{prompt}'}}" for job_id, prompt in prompts.items()]
    return "\n".join(lines) + "\n"


BASE = {f"tile-{n}": f"A ceramic tile with pattern {n}" for n in range(1, 5)}


class Repo:
    """A repository holding jobs/catalog.yaml. Each job of a run gets a fresh checkout at
    the same path, as on GitHub's hosted runners (/home/runner/work/<repo>/<repo>):
    nothing survives from one job to the next but what the cache and artifacts carry."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.source = tmp_path / "source"
        (self.source / "jobs").mkdir(parents=True)
        self.workspace = tmp_path / "work" / "repo"

    def write(self, prompts: dict[str, str]) -> None:
        (self.source / "jobs" / "catalog.yaml").write_text(manifest_text(prompts))

    def checkout(self, name: str) -> Path:
        shutil.rmtree(self.workspace, ignore_errors=True)
        shutil.copytree(self.source, self.workspace)
        return self.workspace


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def runner(
    repo: Repo,
    base_url: str,
    *,
    event: str,
    run_id: int,
    cache: dict[str, Path],
    workflow: Path = WORKFLOW,
) -> Runner:
    env = cli_env(base_url, key=None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    scratch = repo.tmp / f"scratch-{run_id}"
    scratch.mkdir()
    return Runner(
        workflow,
        event=event,
        run_id=run_id,
        base_env=env,
        secrets={"COMETAPI_KEY": SIM_KEY},
        workspace_of=repo.checkout,
        scratch=scratch,
        cache=cache,
    )


async def run(runner: Runner) -> dict[str, Job]:
    # In a thread: the simulator answers on this test's event loop.
    return await asyncio.to_thread(runner.run)


def uploaded(runner: Runner, name: str) -> set[str]:
    return {path for path, _ in runner.artifacts[name]}


async def test_main_with_a_cache_miss_a_restored_cache_and_a_failed_job(
    repo: Repo, simulator: SimFactory
) -> None:
    cache: dict[str, Path] = {}
    repo.write(BASE)
    async with simulator() as sim:
        # 1. Nothing cached: every job is made, and the folder is saved.
        first = runner(repo, sim.base_url, event="push", run_id=1, cache=cache)
        jobs = await run(first)
        assert jobs["plan"].result == "skipped"
        generate = jobs["generate"]
        assert succeeded(generate)
        assert generate.step("actions/cache/restore@v4").stdout == "miss"
        assert generate.step("Generate").outcome == "success", generate.step("Generate").stderr
        assert "| 4 | 0 | 0 | 0 | 0 | $" in generate.step("Generate").summary
        assert list(cache) == ["images-1-1"]
        assert all(sim.stats.billed_for(prompt) == 1 for prompt in BASE.values())
        files = uploaded(first, "images")
        assert {f"tile-{n}.png" for n in range(1, 5)} <= files
        assert {"images.xml", "images.json"} <= files  # the reports folder
        assert not any(part.startswith(".") for path in files for part in path.split("/"))

        # 2. The cache restored: nothing is paid for again.
        billed = sim.stats.total_billed
        second = await run(runner(repo, sim.base_url, event="push", run_id=2, cache=cache))
        generate = second["generate"]
        assert generate.step("actions/cache/restore@v4").stdout == "hit"
        assert succeeded(generate)
        assert "| 0 | 4 | 0 | 0 | 0 | $" in generate.step("Generate").summary
        assert sim.stats.total_billed == billed

        # 3. A refused prompt fails the run; what was paid for is saved all the same.
        repo.write({**BASE, "tile-5": "A ceramic tile with pattern 5", "bowl": REFUSED})
        third_runner = runner(repo, sim.base_url, event="push", run_id=3, cache=cache)
        third = await run(third_runner)
        generate = third["generate"]
        assert generate.result == "failure"
        step = generate.step("Generate")
        assert step.outcome == "failure"
        annotations = [line for line in step.stdout.splitlines() if line.startswith("::error")]
        assert annotations == [next(line for line in annotations if "job bowl failed" in line)]
        assert annotations[0].startswith("::error file=jobs/catalog.yaml,line=9,")
        assert "<summary>1 failed job</summary>" in step.summary
        assert generate.step("actions/cache/save@v4").outcome == "success"
        assert "images-3-1" in cache
        assert (cache["images-3-1"] / "tile-5.png").exists()
        assert "tile-5.png" in uploaded(third_runner, "images")
        assert sim.stats.billed_for("A ceramic tile with pattern 5") == 1

        # 4. The next run restores that save: tile-5 is not paid for twice.
        fourth = await run(runner(repo, sim.base_url, event="push", run_id=4, cache=cache))
        assert fourth["generate"].step("Generate").outcome == "failure"  # bowl: failed for good
        assert sim.stats.billed_for("A ceramic tile with pattern 5") == 1
    gallery = [job.step("Gallery") for job in (jobs["generate"], third["generate"])]
    assert all(step.outcome == "success" for step in gallery), [s.stderr for s in gallery]
    assert "gallery.html" in files


async def test_a_pull_request_gets_a_plan_without_a_key(repo: Repo, simulator: SimFactory) -> None:
    cache: dict[str, Path] = {}
    repo.write(BASE)
    async with simulator() as sim:
        await run(runner(repo, sim.base_url, event="push", run_id=1, cache=cache))
        requests = sim.stats.total_requests
        changed = {**BASE, "tile-2": "A ceramic tile, glazed blue", "tile-9": "A new tile"}
        del changed["tile-4"]
        repo.write(changed)
        pull = runner(repo, sim.base_url, event="pull_request", run_id=2, cache=cache)
        jobs = await run(pull)
        assert sim.stats.total_requests == requests  # the plan sent nothing
    assert jobs["generate"].result == "skipped"
    plan = jobs["plan"]
    assert succeeded(plan)
    assert plan.step("actions/cache/restore@v4").stdout == "hit"
    summary = plan.step("Plan").summary
    assert "### batch_gen plan: <code>jobs/catalog.yaml</code>" in summary
    assert "| 1 | 1 | 0 | 2 | 1 | 2 | $" in summary  # new, changed, redo, done, removed
    assert "<code>tile-4</code>" in summary  # removed: its files stay until prune
    ((name, plan_md),) = pull.artifacts["plan"]
    assert name == "plan.md"
    assert plan_md.decode() == summary
    assert list(cache) == ["images-1-1"]  # a pull request saves nothing


async def test_shards_as_artifacts_merged_by_a_final_job(repo: Repo, simulator: SimFactory) -> None:
    cache: dict[str, Path] = {}
    prompts = {f"tile-{n}": f"A ceramic tile with pattern {n}" for n in range(1, 13)}
    repo.write(prompts)
    async with simulator() as sim:
        first = await run(
            runner(repo, sim.base_url, event="push", run_id=1, cache=cache, workflow=SHARDED)
        )
        shards = [first[f"shard {{'shard': {k}}}"] for k in range(1, 5)]
        for shard in shards:
            assert succeeded(shard), shard.step("Generate").stderr
            assert "shard " in shard.step("Generate").summary
        merge = first["merge"]
        assert succeeded(merge), [step.stderr for step in merge.steps]
        assert merge.step("Status").outcome == "success"
        assert all(sim.stats.billed_for(prompt) == 1 for prompt in prompts.values())
        (saved,) = cache.values()
        states = sorted(path.name for path in (saved / ".batch_gen").glob("state*.jsonl"))
        assert states == [f"state-{k}of4.jsonl" for k in range(1, 5)]
        assert len(list(saved.glob("tile-*.png"))) == 12

        # One prompt changed, one job added: only those two are made, by their shards.
        changed = {**prompts, "tile-3": "A ceramic tile, glazed green", "tile-13": "A new tile"}
        repo.write(changed)
        billed = sim.stats.total_billed
        second = await run(
            runner(repo, sim.base_url, event="push", run_id=2, cache=cache, workflow=SHARDED)
        )
        assert second["merge"].step("Status").outcome == "success"
        assert sim.stats.total_billed == billed + 2
        assert all(sim.stats.billed_for(prompt) == 1 for prompt in changed.values())
