"""The real CLI in CI: the GitHub step summary and annotations (only under GitHub
Actions), --junit, and a pull request's plan made without a key; against the simulator."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from support import SimFactory, cli_env, run_cli, write_manifest

# The simulator refuses prompts with this word as moderation_blocked: a permanent failure.
REFUSED = "forbidden-fruit"


def prompts(count: int, *, refused: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
    return [
        f"A {REFUSED} still life {n}" if n in refused else f"A glass marble number {n}"
        for n in range(1, count + 1)
    ]


def job_line(number: int) -> int:
    """Where job-NN starts in write_manifest's YAML: 8 lines of header, 2 per job."""
    return 9 + 2 * (number - 1)


def github_env(base_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    summary = tmp_path / "step_summary.md"
    summary.write_text("written by an earlier command of the step\n")
    return cli_env(
        base_url,
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_WORKSPACE=str(tmp_path),
        **extra,
    )


async def test_a_failed_job_under_github_actions(tmp_path: Path, simulator: SimFactory) -> None:
    manifest = write_manifest(tmp_path, prompts(4, refused={3}))
    async with simulator() as sim:
        env = github_env(sim.base_url, tmp_path)
        result = await run_cli(
            ["run", str(manifest), "--junit", "reports/junit.xml"], cwd=tmp_path, env=env
        )
    assert result.code == 1, result.text
    (annotation,) = [line for line in result.out.splitlines() if line.startswith("::")]
    assert annotation.startswith(
        f"::error file=jobs.yaml,line={job_line(3)},title=batch_gen%3A job job-03 failed::"
    )
    assert "rejected by the safety system" in annotation
    summary = (tmp_path / "step_summary.md").read_text()
    assert summary.startswith("written by an earlier command of the step\n### batch_gen: ")
    assert "| 3 | 0 | 1 | 0 | 0 | $" in summary
    assert f"| <code>job-03</code> | {job_line(3)} | 1 |" in summary
    suite = ET.parse(tmp_path / "reports" / "junit.xml").getroot()[0]
    failures = [case for case in suite.iter("testcase") if case.find("failure") is not None]
    assert [case.get("name") for case in failures] == ["job-03"]
    assert failures[0].get("line") == str(job_line(3))
    assert "safety system" in (failures[0].find("failure").get("message") or "")  # type: ignore[union-attr]


async def test_without_github_actions_nothing_is_printed_or_appended(
    tmp_path: Path, simulator: SimFactory
) -> None:
    manifest = write_manifest(tmp_path, prompts(2, refused={1}))
    async with simulator() as sim:
        env = github_env(sim.base_url, tmp_path)
        del env["GITHUB_ACTIONS"]
        result = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
    assert result.code == 1
    assert "::" not in result.out
    assert (tmp_path / "step_summary.md").read_text() == (
        "written by an earlier command of the step\n"
    )


async def test_ten_error_annotations_then_a_notice(tmp_path: Path, simulator: SimFactory) -> None:
    manifest = write_manifest(tmp_path, prompts(14, refused=set(range(1, 14))))
    async with simulator() as sim:
        result = await run_cli(
            ["run", str(manifest), "--concurrency", "8"],
            cwd=tmp_path,
            env=github_env(sim.base_url, tmp_path),
        )
    commands = [line for line in result.out.splitlines() if line.startswith("::")]
    assert [line.split(" ")[0] for line in commands] == ["::error"] * 10 + ["::notice::3"]
    assert commands[-1].startswith("::notice::3 more errors of batch_gen are not shown")


async def test_the_junit_path_is_checked_before_anything_is_sent(
    tmp_path: Path, simulator: SimFactory
) -> None:
    manifest = write_manifest(tmp_path, prompts(2))
    (tmp_path / "taken").write_text("a file, not a folder")
    async with simulator() as sim:
        result = await run_cli(
            ["run", str(manifest), "--junit", "taken/junit.xml"],
            cwd=tmp_path,
            env=cli_env(sim.base_url),
        )
        assert sim.stats.total_requests == 0
    assert result.code == 3
    assert "--junit" in result.err
    assert "is a file, not a folder" in result.err


async def test_a_pull_request_plan_needs_no_key_and_sends_nothing(
    tmp_path: Path, simulator: SimFactory
) -> None:
    manifest = write_manifest(tmp_path, prompts(3))
    async with simulator() as sim:
        done = await run_cli(["run", str(manifest)], cwd=tmp_path, env=cli_env(sim.base_url))
        assert done.code == 0, done.text
        # The pull request: one prompt changed, one job added, one removed.
        text = manifest.read_text()
        text = text.replace("number 1'", "number one'").replace("job-03", "job-04")
        manifest.write_text(text)
        before = sim.stats.total_requests
        env = github_env(sim.base_url, tmp_path, COMETAPI_KEY="")
        result = await run_cli(
            ["run", str(manifest), "--dry-run", "--plan-md", "plan/pr.md"], cwd=tmp_path, env=env
        )
        assert sim.stats.total_requests == before  # nothing sent, no key asked for
    assert result.code == 0, result.text
    plan = (tmp_path / "plan" / "pr.md").read_text()
    assert plan in (tmp_path / "step_summary.md").read_text()
    assert "### batch_gen plan: <code>jobs.yaml</code>" in plan
    assert "| 1 | 1 | 0 | 1 | 1 | 2 | $" in plan  # new, changed, redo, done, removed, requests
    assert re.search(r"estimated \*\*\$\d+\.\d{4}\*\*", plan)
    assert "<summary>1 new job</summary>" in plan
    assert "<summary>1 changed job</summary>" in plan
    assert "<summary>1 job removed from the manifest</summary>" in plan
    assert "<code>job-03</code> | job-03.png, job-03.json" in plan


async def test_flags_that_do_not_go_together(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, prompts(1))
    env = cli_env(None)
    cases = [
        (["--plan-md", "p.md"], "--plan-md writes a dry run's plan: add --dry-run"),
        (["--dry-run", "--junit", "j.xml"], "--junit reports a run's outcome"),
        (["--shard", "1/2", "--only", "job-01"], "--only and --shard both choose"),
        (["--shard", "3/2"], "--shard must be K/N with 1 <= K <= N, got '3/2'"),
        (["--shard", "two"], "--shard must be K/N, e.g. 3/4"),
    ]
    for flags, words in cases:
        result = await run_cli(["run", str(manifest), "--offline", *flags], cwd=tmp_path, env=env)
        assert result.code == 2, (flags, result.text)
        assert words in result.err, (flags, result.err)
        assert len(result.err.strip().splitlines()) == 1


async def test_manifest_problems_are_annotated_at_their_lines(tmp_path: Path) -> None:
    lines = ["version: 1", "jobs:"]
    for number in range(12):
        lines += [f"  - id: bad-{number}", f"    prompt: p{number}", "    n: two"]
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "bad.yaml").write_text("\n".join(lines) + "\n")
    env = cli_env(None, GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(tmp_path))
    result = await run_cli(["run", "jobs/bad.yaml", "--offline"], cwd=tmp_path, env=env)
    assert result.code == 2
    commands = [line for line in result.out.splitlines() if line.startswith("::")]
    assert len(commands) == 11
    assert commands[0].startswith("::error file=jobs/bad.yaml,line=5,title=batch_gen%3A manifest")
    assert "n%3A must be an integer" not in commands[0]  # a message is data: ':' stays
    assert "::n: must be an integer from 1 to 10" in commands[0]
    assert commands[-1].startswith("::notice::")
    good = write_manifest(tmp_path, prompts(1))
    missing_key = await run_cli(["run", str(good)], cwd=tmp_path, env={**env, "COMETAPI_KEY": ""})
    assert missing_key.code == 3
    assert missing_key.out.startswith("::error title=batch_gen::no API key: set COMETAPI_KEY")
