"""The recipes for more than one process: one machine (xargs -P), a Slurm array and a
Kubernetes Indexed Job, each run as its scheduler would run it, against the simulator."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from support import SIM_KEY, SimFactory, cli_env, run_cli, wait_until

from batch_gen.state.journal import read_state

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PROMPTS = {f"cup-{n:02d}": f"A stoneware cup, glaze number {n}" for n in range(1, 17)}


def repository(tmp_path: Path) -> Path:
    """A checkout holding jobs/catalog.yaml (relative paths, as the recipes use them)."""
    (tmp_path / "jobs").mkdir()
    lines = [
        "version: 1",
        "defaults: {model: gpt-image-2, size: 256x256, quality: low}",
        "output: {dir: ../output/catalog}",
        "jobs:",
    ]
    lines += [f"  - {{id: {job_id}, prompt: '{prompt}'}}" for job_id, prompt in PROMPTS.items()]
    (tmp_path / "jobs" / "catalog.yaml").write_text("\n".join(lines) + "\n")
    return tmp_path


async def shell(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str]
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str]:
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, (out + err).decode()


def all_made_once(sim: Any) -> None:
    for prompt in PROMPTS.values():
        assert sim.stats.billed_for(prompt) == 1, prompt
    assert sim.stats.rate_limited == 0


async def status(repo: Path, env: Mapping[str, str], output: Path) -> dict[str, Any]:
    result = await run_cli(
        ["status", "jobs/catalog.yaml", "--output", str(output), "--json"], cwd=repo, env=env
    )
    assert result.code == 0, result.text
    document: dict[str, Any] = json.loads(result.out)
    return document


async def test_one_machine_with_xargs(tmp_path: Path, simulator: SimFactory) -> None:
    repo = repository(tmp_path)
    async with simulator(rpm_limit=480) as sim:
        env = cli_env(sim.base_url, PYTHON=sys.executable)
        script = str(EXAMPLES / "one-machine.sh")
        code, text = await finish(
            await shell(["sh", script, "jobs/catalog.yaml", "4", "480"], cwd=repo, env=env)
        )
        assert code == 0, text
        assert f"{len(PROMPTS)} jobs in output/catalog: {len(PROMPTS)} succeeded" in text
        all_made_once(sim)
    states = sorted(p.name for p in (tmp_path / "output/catalog/.batch_gen").glob("state*"))
    assert states == [f"state-{k}of4.jsonl" for k in range(1, 5)]


async def test_a_slurm_array(tmp_path: Path, simulator: SimFactory) -> None:
    repo = repository(tmp_path)
    script = EXAMPLES / "slurm" / "images.sbatch"
    found = re.search(r"^#SBATCH --array=(\d+)-(\d+)$", script.read_text(), flags=re.MULTILINE)
    assert found is not None
    first, last = int(found.group(1)), int(found.group(2))
    output = tmp_path / "shared" / "catalog"
    async with simulator(rpm_limit=480) as sim:
        base = cli_env(sim.base_url, PYTHON=sys.executable, OUTPUT=str(output), RPM="480")

        def task(number: int) -> dict[str, str]:
            return {
                **base,
                "SLURM_ARRAY_TASK_ID": str(number),
                "SLURM_ARRAY_TASK_MIN": str(first),
                "SLURM_ARRAY_TASK_MAX": str(last),
                "SLURM_ARRAY_TASK_COUNT": str(last - first + 1),
            }

        tasks = [
            await shell(["bash", str(script)], cwd=repo, env=task(number))
            for number in range(first, last + 1)
        ]
        for code, text in [await finish(process) for process in tasks]:
            assert code == 0, text
        all_made_once(sim)
        # A requeued task runs its shard again: nothing is made twice.
        code, text = await finish(await shell(["bash", str(script)], cwd=repo, env=task(first)))
        assert code == 0, text
        assert "nothing to do" in text
        all_made_once(sim)
        report = await status(repo, base, output)
    assert report["counts"]["succeeded"] == len(PROMPTS)


async def test_a_kubernetes_indexed_job(tmp_path: Path, simulator: SimFactory) -> None:
    repo = repository(tmp_path)
    spec = yaml.safe_load((EXAMPLES / "kubernetes" / "indexed-job.yaml").read_text())["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"]
    values = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    assert values["SHARDS"] == str(spec["completions"])
    # Exit 130 (stopped by SIGTERM: an eviction) is retried; 1, 2 and 3 are not.
    (fail_index,) = [
        rule for rule in spec["podFailurePolicy"]["rules"] if rule["action"] == "FailIndex"
    ]
    assert fail_index["onExitCodes"]["values"] == [1, 2, 3]
    output = tmp_path / "volume" / "catalog"
    async with simulator(rpm_limit=480, latency=0.2) as sim:
        env = {
            **cli_env(sim.base_url, key=SIM_KEY),
            **values,
            "OUTPUT": str(output),  # the volume's mount, here a folder
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        }

        async def pod(index: int) -> asyncio.subprocess.Process:
            command = [*container["command"], *container["args"]]
            return await shell(command, cwd=repo, env={**env, "JOB_COMPLETION_INDEX": str(index)})

        pods = [await pod(index) for index in range(spec["completions"])]
        # Pod 2 is evicted (SIGTERM) once any pod has made something, wherever it is then
        # (planning, or sending), and started again.
        made = await wait_until(
            lambda: len(read_state(output)) > 0 and _done(output) > 0, within=60
        )
        assert made
        pods[2].send_signal(signal.SIGTERM)
        code, text = await finish(pods[2])
        assert code == 130, text
        pods[2] = await pod(2)
        for code, text in [await finish(process) for process in pods]:
            assert code == 0, text
        for prompt in PROMPTS.values():  # only a request abandoned at the eviction may repeat
            assert 1 <= sim.stats.billed_for(prompt) <= 2, prompt
        report = await status(repo, cli_env(sim.base_url), output)
    assert report["counts"]["succeeded"] == len(PROMPTS)


def _done(output: Path) -> int:
    return sum(1 for record in read_state(output).values() if record.status == "succeeded")
