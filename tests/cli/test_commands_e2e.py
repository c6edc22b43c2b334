"""The command line as a seasoned user drives it: the real CLI as a subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from support import SimFactory, cli_env, run_cli, start_cli, wait_until, write_manifest

from batch_gen.cli.parser import version

PROMPTS = [f"A wooden toy number {number}" for number in range(1, 6)]


async def test_version(tmp_path: Path) -> None:
    result = await run_cli(["--version"], cwd=tmp_path, env=cli_env(None))
    assert (result.code, result.out) == (0, f"batch_gen {version()}\n")


async def test_dry_run_lists_every_job_in_aligned_columns(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, [*PROMPTS, "A much longer prompt"] * 10)
    text = manifest.read_text()
    manifest.write_text(text.replace("  - id: job-03\n", "  - id: job-03-with-a-long-id\n"))
    result = await run_cli(
        ["run", str(manifest), "--offline", "--dry-run", "--list"],
        cwd=tmp_path,
        env=cli_env(None, key=None),
    )
    assert result.code == 0, result.text
    lines = result.out.splitlines()
    table = lines[: lines.index(next(line for line in lines if line.startswith("estimated")))]
    assert table[0].split() == ["ID", "ACTION", "REASON", "MODEL", "N", "API", "REQUESTS"]
    assert len(table) == 1 + 60  # every job, not the first 50
    # Aligned: each column starts at the same place on every row.
    starts = [match.start() for match in re.finditer(r"(?<=  )\S", table[0])]
    for row in table[1:]:
        assert [row[start - 2 : start] for start in starts] == ["  "] * len(starts), row
        assert row.rstrip().endswith(" 1")
    assert "job-03-with-a-long-id  run" in result.out


async def test_dry_run_as_json_lists_every_job_and_prints_nothing_else(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, PROMPTS)
    env = cli_env(None, key=None)
    first = await run_cli(
        ["run", str(manifest), "--offline", "--only", "job-01"], cwd=tmp_path, env=env
    )
    assert first.code == 0, first.text
    result = await run_cli(
        ["run", str(manifest), "--offline", "--dry-run", "--json"], cwd=tmp_path, env=env
    )
    assert result.code == 0, result.text
    assert result.err == ""
    plan = json.loads(result.out)
    assert (plan["total"], plan["run"], plan["skip"], plan["requests"]) == (5, 4, 1, 4)
    assert plan["output"] == str(tmp_path / "out")
    assert plan["reasons"] == {"done": 1, "new": 4}
    assert plan["stop"] is None
    assert plan["estimated_cost"]["usd"] > 0
    assert [job["id"] for job in plan["jobs"]] == [f"job-0{n}" for n in range(1, 6)]
    assert plan["jobs"][0] == {
        "id": "job-01",
        "action": "skip",
        "reason": "done",
        "why": "already done",
        "model": "gpt-image-2",
        "n": 1,
        "api": plan["jobs"][1]["api"],
        "requests": 0,
    }
    assert plan["jobs"][1]["action"] == "run"
    assert plan["jobs"][1]["requests"] == 1


async def test_list_and_json_need_a_dry_run(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, PROMPTS)
    result = await run_cli(
        ["run", str(manifest), "--offline", "--list"], cwd=tmp_path, env=cli_env(None)
    )
    assert result.code == 2
    assert result.err == "batch_gen: --list and --json show a dry run's plan: add --dry-run\n"
    assert not (tmp_path / "out").exists()


def test_a_reader_that_goes_away_ends_the_dry_run_quietly(tmp_path: Path) -> None:
    """``batch_gen run ... --dry-run --list | head -1``: no traceback, no complaint, and
    the status a shell reports for ``git log | head`` (141), not 1."""
    manifest = write_manifest(tmp_path, [f"A small clay figure {n}" for n in range(3000)])
    argv = ["run", str(manifest), "--offline", "--dry-run", "--list", "--no-catalog"]
    process = subprocess.Popen(
        [sys.executable, "-m", "batch_gen", *argv],
        cwd=tmp_path,
        env=cli_env(None, key=None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        assert process.stdout.readline().startswith(b"ID ")
        process.stdout.close()  # as head does after its line
        err = process.stderr.read().decode()
        assert process.wait(timeout=60) == 141
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    assert err.splitlines() == [
        f"batch_gen: output {tmp_path}/out: 0 of 3000 jobs already done; 3000 to run"
    ]


async def test_quiet_prints_nothing_on_success_and_the_first_line_on_failure(
    tmp_path: Path, simulator: SimFactory
) -> None:
    manifest = write_manifest(tmp_path, PROMPTS[:2])
    async with simulator() as sim:
        env = cli_env(sim.base_url)
        result = await run_cli(["run", str(manifest), "--quiet"], cwd=tmp_path, env=env)
        assert (result.code, result.out, result.err) == (0, "", "")
        refused = write_manifest(tmp_path, ["A forbidden-fruit still life", *PROMPTS[:1]])
        result = await run_cli(["run", str(refused), "-q"], cwd=tmp_path, env=env)
    assert result.code == 1
    assert result.out == ""
    assert re.fullmatch(
        r"batch_gen: 1 succeeded, 1 failed, 0 skipped, of 2 jobs in \S+s\n", result.err
    )


async def test_status_says_a_run_is_in_progress_and_answers_is_everything_done(
    tmp_path: Path, simulator: SimFactory
) -> None:
    manifest = write_manifest(tmp_path, PROMPTS)
    lock = tmp_path / "out" / ".batch_gen" / "lock"
    async with simulator(latency=1.5) as sim:
        env = cli_env(sim.base_url)
        run = await start_cli(["run", str(manifest), "--concurrency", "1"], cwd=tmp_path, env=env)
        try:
            assert await wait_until(lambda: sim.stats.total_requests >= 1, within=30)
            assert lock.exists()
            status = await run_cli(["status", str(manifest)], cwd=tmp_path, env=env)
            assert status.code == 1, status.text
            assert f"a run is in progress (pid {run.pid} on " in status.out
            json_status = await run_cli(["status", str(manifest), "--json"], cwd=tmp_path, env=env)
            assert json_status.code == 1
            assert set(json.loads(json_status.out)) == {"total", "counts", "jobs"}
            assert f"batch_gen: a run is in progress (pid {run.pid} on " in json_status.err
        finally:
            run.terminate()
            await run.communicate()
        result = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert result.code == 0, result.text
        done = await run_cli(["status", str(manifest)], cwd=tmp_path, env=env)
        quiet = await run_cli(["status", str(manifest), "-q"], cwd=tmp_path, env=env)
    assert done.code == 0
    assert "in progress" not in done.out
    assert (quiet.code, quiet.out, quiet.err) == (0, "", "")


async def test_status_lists_the_first_unfinished_jobs_unless_all(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, [f"A paper lantern {n}" for n in range(25)])
    env = cli_env(None)
    short = await run_cli(["status", str(manifest)], cwd=tmp_path, env=env)
    full = await run_cli(["status", str(manifest), "--all"], cwd=tmp_path, env=env)
    assert (short.code, full.code) == (1, 1)
    assert len(short.out.splitlines()) == 1 + 20 + 1
    assert short.out.splitlines()[-1] == "  ... and 5 more; --all to list them"
    assert len(full.out.splitlines()) == 1 + 25
