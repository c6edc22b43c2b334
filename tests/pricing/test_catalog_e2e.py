"""The model catalog through the real CLI: listing, unknown models, cost and --max-cost."""

from __future__ import annotations

import json
from pathlib import Path

from support import SimFactory, cli_env, run_cli, write_manifest

PROMPTS = [f"A tin robot toy, catalogue photo {number}" for number in range(1, 11)]


async def test_models_lists_the_catalog_without_a_key(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """`models --type image --json` lists image models and prices; no key is needed."""
    async with simulator() as sim:
        result = await run_cli(
            ["models", "--type", "image", "--json"],
            cwd=tmp_path,
            env=cli_env(sim.base_url, key=None),
        )
    assert result.code == 0, result.text
    models = {model["id"]: model for model in json.loads(result.out)}
    assert "gpt-image-2" in models
    assert all(model["model_type"] == "image" for model in models.values())
    assert models["dall-e-3"]["pricing"]["per_request"] > 0


async def test_unknown_model_is_a_manifest_error_with_a_suggestion(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """A typo in a model id stops the run before any request (exit 2), naming the line
    and suggesting the right id; --no-catalog skips the check and the API refuses it."""
    manifest = write_manifest(tmp_path, PROMPTS[:2], model="gpt-imag-2")
    async with simulator() as sim:
        env = cli_env(sim.base_url)
        checked = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert sim.stats.total_requests == 0
        unchecked = await run_cli(["run", str(manifest), "--no-catalog"], cwd=tmp_path, env=env)
    assert checked.code == 2, checked.text
    assert "jobs.yaml:" in checked.err
    assert "did you mean 'gpt-image-2'" in checked.err
    assert unchecked.code == 3, unchecked.text  # the API's model_not_found aborts the run


async def test_dry_run_estimates_the_cost_and_says_how(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """The plan ends with an estimate per model and the method used for it."""
    manifest = write_manifest(tmp_path, PROMPTS[:3], model="dall-e-3", size="1024x1024")
    async with simulator() as sim:
        result = await run_cli(
            ["run", str(manifest), "--dry-run"], cwd=tmp_path, env=cli_env(sim.base_url)
        )
        assert sim.stats.total_requests == 0
    assert result.code == 0, result.text
    assert "estimated cost: $0.12 (dall-e-3: 3 jobs, per request)" in result.out


async def test_max_cost_stops_dispatching_before_the_budget_is_exceeded(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """At $0.04 a request, --max-cost 0.10 runs two jobs, refuses the third, says so,
    and reports what was spent; a later run with a bigger budget finishes the rest."""
    manifest = write_manifest(tmp_path, PROMPTS, model="dall-e-3", size="1024x1024")
    async with simulator() as sim:
        env = cli_env(sim.base_url)
        first = await run_cli(
            [
                "run",
                str(manifest),
                "--max-cost",
                "0.10",
                "--concurrency",
                "3",
                "--report",
                "r.json",
            ],
            cwd=tmp_path,
            env=env,
        )
        assert sim.stats.total_billed == 2
        second = await run_cli(["run", str(manifest), "--max-cost", "5"], cwd=tmp_path, env=env)
        assert sim.stats.total_billed == len(PROMPTS)
    assert first.code == 1, first.text
    assert "would exceed --max-cost $0.10" in first.out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["succeeded"] == 2
    assert abs(report["cost_usd"] - 0.08) < 1e-9
    assert second.code == 0, second.text
