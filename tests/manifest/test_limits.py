"""The models' documented limits are manifest problems, with file, line and field: a prompt
too long or a size the model does not make is refused before anything is sent (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import PNG, SimFactory, cli_env, manifest_problems, run_cli, write_text

from batch_gen.manifest import load_manifest

LONG_GPT = "x" * 32_001
LONG_DALL_E_3 = "x" * 4_001

BAD = [
    pytest.param(
        f"jobs:\n  - id: a\n    prompt: {LONG_GPT}\n",
        [(3, "prompt")],
        "prompt is 32,001 characters; gpt-image-2 takes at most 32,000",
        id="default-model-prompt",
    ),
    pytest.param(
        f"defaults: {{model: dall-e-3}}\njobs:\n  - id: a\n    prompt: {LONG_DALL_E_3}\n",
        [(4, "prompt")],
        "dall-e-3 takes at most 4,000",
        id="dall-e-3-prompt",
    ),
    pytest.param(
        "jobs:\n  - id: a\n    prompt: a boat\n    model: dall-e-3\n    size: 1536x1024\n",
        [(5, "size")],
        "dall-e-3 cannot make size '1536x1024': use 1024x1024, 1792x1024, 1024x1792 or auto",
        id="job-size",
    ),
    pytest.param(
        "defaults:\n  size: 1536x1024\njobs:\n  - id: a\n    prompt: a boat\n    model: dall-e-3\n",
        [(4, "size")],
        "or auto (size from the defaults)",
        id="size-from-the-defaults",
    ),
    pytest.param(
        "jobs:\n  - id: a\n    prompt: a boat\n    params: {size: 1000x1000}\n",
        [(2, "size")],
        "gpt-image-2 cannot make size '1000x1000': both sides must be multiples of 16",
        id="size-as-a-param",
    ),
    pytest.param(
        "defaults: {size: 1000x1000}\njobs:\n  - {id: a, prompt: a, params: {size: 1024x1024}}\n"
        "  - {id: b, prompt: b}\n",
        [(4, "size")],
        "(size from the defaults)",
        id="only-the-job-using-the-default",
    ),
]


@pytest.mark.parametrize(("text", "expected", "fragment"), BAD)
def test_limits_are_manifest_problems(
    tmp_path: Path, text: str, expected: list[tuple[int, str]], fragment: str
) -> None:
    found = manifest_problems(write_text(tmp_path, text))
    assert [(problem.line, problem.field) for problem in found] == expected
    assert fragment in found[0].message


def test_a_job_params_size_is_not_blamed_on_the_defaults(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "defaults: {size: 1024x1024}\njobs:\n  - {id: a, prompt: a, params: {size: 1000x1000}}\n",
    )
    (problem,) = manifest_problems(path)
    assert "from the defaults" not in problem.message


def test_csv_rows_are_checked_on_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text(
        f"id,prompt,model,size\na,ok,dall-e-2,512x512\nb,{'x' * 1_001},dall-e-2,\n"
        "c,ok,dall-e-2,1536x1024\n",
        encoding="utf-8",
    )
    found = manifest_problems(path)
    assert [(problem.line, problem.field) for problem in found] == [(3, "prompt"), (4, "size")]
    assert "dall-e-2 takes at most 1,000" in found[0].message


def test_edits_have_the_generations_limits(tmp_path: Path) -> None:
    """An input image sends the job to the edits route: its model's limits still hold."""
    (tmp_path / "in.png").write_bytes(PNG)
    path = write_text(tmp_path, f"jobs:\n  - id: a\n    image: in.png\n    prompt: {LONG_GPT}\n")
    (problem,) = manifest_problems(path)
    assert (problem.line, problem.field) == (4, "prompt")


def test_undocumented_families_are_not_limited(tmp_path: Path) -> None:
    """Midjourney, Flux, Gemini, Bria and OpenAI-compatible models without documented
    limits take any prompt: the upstream decides."""
    models = ["mj_fast_imagine", "flux-dev", "gemini-2.5-flash-image", "bria-text-to-image"]
    jobs = "".join(
        f"  - {{id: j{number}, model: {model}, prompt: {LONG_GPT}}}\n"
        for number, model in enumerate([*models, "qwen-image", "my-own-model"])
    )
    manifest = load_manifest(write_text(tmp_path, f"jobs:\n{jobs}"))
    assert len(manifest.jobs) == 6


async def test_a_five_megabyte_prompt_exits_2_and_sends_nothing(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """Through the real CLI: the problem names file, line and field; no request goes out."""
    manifest = tmp_path / "big.yaml"
    manifest.write_text(
        "jobs:\n  - id: small\n    prompt: a boat\n  - id: huge\n    prompt: "
        + "x" * 5_000_000
        + "\n",
        encoding="utf-8",
    )
    async with simulator() as sim:
        result = await run_cli(["run", str(manifest)], cwd=tmp_path, env=cli_env(sim.base_url))
        assert sim.stats.total_requests == 0
    assert result.code == 2, result.text
    assert (
        "big.yaml:5: prompt: prompt is 5,000,000 characters; gpt-image-2 takes at most 32,000"
        in result.err
    )
