"""End to end, the real CLI against the simulator: no paid image replaced or lost.

The simulator started here is a separate server the CLI reaches through its base URL, as
it would reach CometAPI: a "real" run. ``--offline`` runs use the CLI's own simulator.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from support import SimFactory, cli_env, run_cli, write_manifest, write_text

PROMPTS = ["A red lacquered box", "A blue glass bottle", "A green felt hat"]


def _snapshot(folder: Path) -> dict[str, str]:
    """The sha256 of every file under ``folder``, the state folder included."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "lock"
    }


async def test_colliding_jobs_are_a_manifest_error_naming_both_lines(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """{id: a, n: 2} writes a-1.png, as does a job a-1: exit 2, both lines, nothing sent."""
    manifest = write_text(
        tmp_path,
        """
        jobs:
          - {id: a, prompt: one, n: 2}
          - {id: b, prompt: two}
          - {id: A-1, prompt: three}
        """,
    )
    async with simulator() as sim:
        result = await run_cli(["run", str(manifest)], cwd=tmp_path, env=cli_env(sim.base_url))
        assert sim.stats.total_requests == 0
    assert result.code == 2, result.text
    assert "jobs.yaml:4: id: job 'A-1' would write A-1.{ext}" in result.err
    assert "the file a-1.{ext} of job 'a' at line 2" in result.err


async def test_an_offline_run_never_replaces_a_real_runs_images(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """After a real run, --offline on the same manifest stops (exit 3) naming the files,
    leaves every file byte-identical and sends nothing; --replace-foreign lets it."""
    manifest = write_manifest(tmp_path, PROMPTS)
    out = tmp_path / "out"
    async with simulator() as sim:
        env = cli_env(sim.base_url)
        real = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert real.code == 0, real.text
        sent = sim.stats.total_requests
        sidecar = json.loads((out / "job-01.json").read_text())
        assert sidecar["made_by"] == sim.base_url.split("//")[1].rstrip("/")
        # The manifest from the output folder: a moved checkout still owns its images.
        assert sidecar["manifest"] == os.path.relpath(manifest.resolve(), out.resolve())
        before = _snapshot(out)

        offline_env = cli_env(None, key=None)
        dry = await run_cli(["run", str(manifest), "--offline", "--dry-run"], cwd=tmp_path, env=env)
        refused = await run_cli(["run", str(manifest), "--offline"], cwd=tmp_path, env=offline_env)
        assert refused.code == 3, refused.text
        assert _snapshot(out) == before
        assert sim.stats.total_requests == sent
        forced = await run_cli(
            ["run", str(manifest), "--offline", "--force"], cwd=tmp_path, env=offline_env
        )
        assert forced.code == 3, forced.text  # --force is not --replace-foreign
        assert _snapshot(out) == before

    assert " 3  made by another provider" in dry.out
    assert "prompt or fields changed" not in dry.out
    assert "a run would stop here" in dry.out
    (line,) = [line for line in refused.err.splitlines() if "would replace" in line]
    assert "this run (offline simulator) would replace 3 images" in line
    assert f"in {out} made by {sidecar['made_by']} (job-01.png, job-02.png and 1 more)" in line
    assert "--replace-foreign" in line

    replaced = await run_cli(
        ["run", str(manifest), "--offline", "--replace-foreign"],
        cwd=tmp_path,
        env=cli_env(None, key=None),
    )
    assert replaced.code == 0, replaced.text
    assert json.loads((out / "job-01.json").read_text())["made_by"] == "offline simulator"


async def test_two_manifests_with_one_stem_do_not_replace_each_others_images(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """Both default to output/jobs under the working directory: the second run stops
    rather than replace the first one's images."""
    for name, prompts in (("a", PROMPTS), ("b", [f"{prompt} at night" for prompt in PROMPTS])):
        (tmp_path / name).mkdir()
        lines = ["id,prompt,size"] + [f"job-{n},{p},256x256" for n, p in enumerate(prompts)]
        (tmp_path / name / "jobs.csv").write_text("\n".join(lines) + "\n")
    async with simulator() as sim:
        env = cli_env(sim.base_url)
        first = await run_cli(["run", "a/jobs.csv"], cwd=tmp_path, env=env)
        assert first.code == 0, first.text
        before = _snapshot(tmp_path / "output" / "jobs")
        second = await run_cli(["run", "b/jobs.csv"], cwd=tmp_path, env=env)
        assert sim.stats.total_requests == len(PROMPTS)
    assert second.code == 3, second.text
    assert f"for another manifest ({tmp_path / 'a' / 'jobs.csv'})" in second.err
    assert _snapshot(tmp_path / "output" / "jobs") == before


async def test_a_manifest_finds_its_output_from_any_working_directory(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """output.dir is relative to the manifest: run from elsewhere, nothing is sent again,
    and every run states the absolute folder and what it holds."""
    project = tmp_path / "project"
    project.mkdir()
    manifest = write_manifest(project, PROMPTS)  # output.dir: out
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    async with simulator() as sim:
        env = cli_env(sim.base_url)
        first = await run_cli(["run", "project/jobs.yaml"], cwd=tmp_path, env=env)
        again = await run_cli(["run", str(manifest)], cwd=elsewhere, env=env)
        assert sim.stats.total_requests == len(PROMPTS)
    assert first.code == again.code == 0, first.text + again.text
    assert f"output {project / 'out'}: 0 of 3 jobs already done; 3 to run" in first.err
    assert f"output {project / 'out'}: 3 of 3 jobs already done; 0 to run" in again.err
    assert not (elsewhere / "out").exists()


async def test_a_checkout_moved_elsewhere_still_owns_its_images(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """A project copied to another path (a CI runner's workspace, a colleague's clone),
    output folder included, without its state: every image is adopted, nothing is sent
    and nothing is refused as another manifest's."""
    project = tmp_path / "project"
    project.mkdir()
    write_manifest(project, PROMPTS)  # output.dir: out
    async with simulator() as sim:
        env = cli_env(sim.base_url)
        first = await run_cli(["run", "project/jobs.yaml"], cwd=tmp_path, env=env)
        moved = tmp_path / "moved" / "clone"
        shutil.copytree(project, moved)
        shutil.rmtree(moved / "out" / ".batch_gen")
        again = await run_cli(["run", "jobs.yaml"], cwd=moved, env=env)
        assert sim.stats.total_requests == len(PROMPTS)
    assert first.code == again.code == 0, first.text + again.text
    assert "3 of 3 jobs already done" in again.err


async def test_a_lost_state_folder_costs_nothing(tmp_path: Path, simulator: SimFactory) -> None:
    """Without .batch_gen/ the images are adopted from their sidecars: no request, every
    job done, the records written back, and status agrees."""
    manifest = write_manifest(tmp_path, PROMPTS)
    async with simulator() as sim:
        env = cli_env(sim.base_url)
        assert (await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)).code == 0
        shutil.rmtree(tmp_path / "out" / ".batch_gen")
        status = await run_cli(["status", str(manifest), "--json"], cwd=tmp_path, env=env)
        again = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert sim.stats.total_requests == len(PROMPTS)
        after = await run_cli(["status", str(manifest), "--json"], cwd=tmp_path, env=env)
    assert json.loads(status.out)["counts"]["succeeded"] == 3
    assert again.code == 0, again.text
    assert "3 of 3 jobs already done; 0 to run" in again.err
    assert json.loads(after.out)["counts"]["succeeded"] == 3
    assert (tmp_path / "out" / ".batch_gen" / "state.jsonl").read_text().count("succeeded") == 3


async def test_a_damaged_image_is_made_again_and_only_it(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """A truncated image is made again on the next run; a same-size replacement only with
    --verify; the other jobs send nothing."""
    manifest = write_manifest(tmp_path, PROMPTS)
    out = tmp_path / "out"
    async with simulator() as sim:
        env = cli_env(sim.base_url)
        assert (await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)).code == 0
        data = (out / "job-02.png").read_bytes()
        (out / "job-02.png").write_bytes(data[: len(data) // 2])
        status = await run_cli(["status", str(manifest)], cwd=tmp_path, env=env)
        truncated = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert [sim.stats.requests_for(prompt) for prompt in PROMPTS] == [1, 2, 1]
        assert (out / "job-02.png").stat().st_size == len(data)

        (out / "job-03.png").write_bytes(bytes(reversed((out / "job-03.png").read_bytes())))
        same_size = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert [sim.stats.requests_for(prompt) for prompt in PROMPTS] == [1, 2, 1]
        verified = await run_cli(["run", str(manifest), "--verify"], cwd=tmp_path, env=env)
        assert [sim.stats.requests_for(prompt) for prompt in PROMPTS] == [1, 2, 2]
    assert "job-02  attempts=1  files missing or damaged" in status.out
    assert truncated.code == same_size.code == verified.code == 0
    assert "2 of 3 jobs already done; 1 to run" in truncated.err
    assert "3 of 3 jobs already done; 0 to run" in same_size.err
    assert "2 of 3 jobs already done; 1 to run" in verified.err


async def test_a_deleted_sidecar_is_written_again(tmp_path: Path, simulator: SimFactory) -> None:
    """The state rewrites a lost metadata file, owner included; nothing is sent."""
    manifest = write_manifest(tmp_path, PROMPTS)
    sidecar = tmp_path / "out" / "job-02.json"
    async with simulator() as sim:
        env = cli_env(sim.base_url)
        assert (await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)).code == 0
        original = json.loads(sidecar.read_text())
        sidecar.unlink()
        again = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert sim.stats.total_requests == len(PROMPTS)
    assert again.code == 0, again.text
    restored = json.loads(sidecar.read_text())
    for field in ("id", "key", "made_by", "manifest", "prompt", "request", "images"):
        assert restored[field] == original[field], field
    assert restored["usage"]["total_tokens"] == original["usage"]["total_tokens"]  # the state's
