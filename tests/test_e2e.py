"""End to end: the real CLI, as a subprocess, against the simulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
from PIL import Image
from support import SIM_KEY, SimFactory, cli_env, run_cli, start_cli, write_manifest

PROMPTS = [f"A small ceramic figurine number {number}" for number in range(1, 13)]


def _images(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.suffix in {".png", ".jpg", ".webp"} and ".batch_gen" not in path.parts
    )


def _assert_decodable(paths: list[Path]) -> None:
    for path in paths:
        with Image.open(path) as image:
            image.load()


async def test_fault_mix_every_job_succeeds_and_nothing_is_billed_twice(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """429s (with and without hints), 500s and 503s are retried; each prompt is paid once."""
    scripts = {
        PROMPTS[0]: ["429", "429", "ok"],
        PROMPTS[1]: ["500", "503", "ok"],
        PROMPTS[2]: ["503"],
        PROMPTS[3]: ["429", "500", "503", "ok"],
    }
    manifest = write_manifest(tmp_path, PROMPTS)
    async with simulator(scripts=scripts, p429=0.15, p500=0.1, p503=0.1, seed=7) as sim:
        result = await run_cli(
            [
                "run",
                str(manifest),
                "--concurrency",
                "6",
                "--max-attempts",
                "10",
                "--report",
                "report.json",
            ],
            cwd=tmp_path,
            env=cli_env(sim.base_url),
        )
        assert result.code == 0, result.text
        for prompt in PROMPTS:
            assert sim.stats.billed_for(prompt) == 1, prompt
        retried = sim.stats.total_requests - len(PROMPTS)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["succeeded"] == len(PROMPTS)
    assert report["retries"] == retried >= 7
    assert report["ambiguous_retries"] == 0
    images = _images(tmp_path / "out")
    assert len(images) == len(PROMPTS)
    _assert_decodable(images)


async def test_ambiguous_failures_are_retried_and_reported(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """A dropped connection, a 524, a truncated body and bad base64 may have been billed:
    the jobs still succeed and the summary and report count each as an ambiguous retry."""
    scripts = {
        PROMPTS[0]: ["drop"],
        PROMPTS[1]: ["524"],
        PROMPTS[2]: ["truncate"],
        PROMPTS[3]: ["bad_b64"],
    }
    manifest = write_manifest(tmp_path, PROMPTS[:5])
    async with simulator(scripts=scripts) as sim:
        result = await run_cli(
            ["run", str(manifest), "--report", "report.json"],
            cwd=tmp_path,
            env=cli_env(sim.base_url),
        )
        assert result.code == 0, result.text
        assert [sim.stats.billed_for(p) for p in PROMPTS[:5]] == [2, 2, 2, 2, 1]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ambiguous_retries"] == 4
    assert report["ambiguous_jobs"] == ["job-01", "job-02", "job-03", "job-04"]
    assert report["possibly_billed"] == 4
    by_job = {job["id"]: job["possibly_billed"] for job in report["jobs"]}
    assert by_job == {"job-01": 1, "job-02": 1, "job-03": 1, "job-04": 1, "job-05": 0}
    assert "for 4 lost answers (job-01, job-02, job-03, job-04)" in result.out


async def test_sigkill_mid_run_then_resume_finishes_without_paying_twice(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """SIGKILL at an arbitrary moment, then run again: every job finishes, no saved image
    is requested again, and no file is left half written under its final name."""
    prompts = [f"A glass marble with swirl pattern {number}" for number in range(40)]
    manifest = write_manifest(tmp_path, prompts)
    async with simulator(latency=0.15, latency_jitter=0.1) as sim:
        env = cli_env(sim.base_url)
        process = await start_cli(
            ["run", str(manifest), "--concurrency", "6"], cwd=tmp_path, env=env
        )
        out = tmp_path / "out"
        for _ in range(400):
            if len(_images(out)) >= 8:
                break
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        saved_before = {path.name for path in _images(out)}
        assert 8 <= len(saved_before) < len(prompts)
        _assert_decodable(_images(out))  # nothing half written under a final name

        result = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert result.code == 0, result.text
        for number, prompt in enumerate(prompts, 1):
            billed = sim.stats.billed_for(prompt)
            if f"job-{number:02d}.png" in saved_before:
                assert billed == 1, f"{prompt} was saved before the kill but paid {billed}x"
            else:
                assert billed in (1, 2)  # in flight at the kill: paid, lost, paid again
    images = _images(out)
    assert len(images) == len(prompts)
    _assert_decodable(images)
    assert not list(out.rglob("*.part"))


async def test_wrong_key_exits_3_fast_without_printing_the_key(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """A rejected key aborts the whole run (exit 3) after at most the requests in flight,
    and the key appears nowhere: not in output, state, metadata or report."""
    secret = "sk-wrong-9f8e7d6c5b4a39281706f5e4"
    manifest = write_manifest(tmp_path, PROMPTS)
    async with simulator(latency=0.05) as sim:
        result = await run_cli(
            ["run", str(manifest), "--concurrency", "3", "--report", "report.json"],
            cwd=tmp_path,
            env=cli_env(sim.base_url, key=secret),
        )
        assert result.code == 3, result.text
        assert sim.stats.total_requests <= 3
    assert "invalid token" in result.err + result.out
    assert secret not in result.text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


async def test_missing_key_exits_3_before_sending(tmp_path: Path) -> None:
    """Without COMETAPI_KEY a real run refuses to start, naming the variable."""
    manifest = write_manifest(tmp_path, PROMPTS[:1])
    result = await run_cli(["run", str(manifest)], cwd=tmp_path, env=cli_env(None, key=None))
    assert result.code == 3
    assert "COMETAPI_KEY" in result.err


async def test_bad_manifest_exits_2_and_sends_nothing(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """Every problem is reported with file:line: field, and no request goes out."""
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        "jobs:\n  - id: one\n    promt: a typo\n  - id: one\n    prompt: duplicate id\n    n: 0\n"
    )
    async with simulator() as sim:
        result = await run_cli(["run", str(manifest)], cwd=tmp_path, env=cli_env(sim.base_url))
        assert sim.stats.total_requests == 0
    assert result.code == 2, result.text
    assert "bad.yaml:3" in result.err
    assert "did you mean 'prompt'" in result.err
    assert "bad.yaml:6" in result.err
    assert "duplicate" in result.err


async def test_edited_prompt_reruns_only_that_job(tmp_path: Path, simulator: SimFactory) -> None:
    """Like make: after editing one prompt, only that job runs again."""
    manifest = write_manifest(tmp_path, PROMPTS[:6])
    async with simulator() as sim:
        env = cli_env(sim.base_url)
        first = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert first.code == 0, first.text
        manifest.write_text(manifest.read_text().replace(PROMPTS[2], "A brand new prompt"))
        second = await run_cli(["run", str(manifest), "--report", "r.json"], cwd=tmp_path, env=env)
        assert second.code == 0, second.text
        assert sim.stats.billed_for("A brand new prompt") == 1
        assert all(sim.stats.billed_for(prompt) == 1 for prompt in PROMPTS[:6])
        assert sim.stats.total_requests == 7
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["succeeded"] == 1
    assert report["skipped"] == {"done": 5}


async def test_ctrl_c_saves_state_and_exits_130(tmp_path: Path, simulator: SimFactory) -> None:
    """SIGINT stops dispatching, lets in-flight requests finish, saves state, exits 130;
    the next run finishes the rest without paying again for what was done."""
    prompts = [f"A knitted wool hat in colour {number}" for number in range(20)]
    manifest = write_manifest(tmp_path, prompts)
    async with simulator(latency=0.3) as sim:
        env = cli_env(sim.base_url)
        process = await start_cli(
            ["run", str(manifest), "--concurrency", "2"], cwd=tmp_path, env=env
        )
        for _ in range(500):
            if _images(tmp_path / "out"):
                break
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 130, (out + err).decode()
        assert b"interrupted" in out + err
        done_before = sim.stats.total_billed
        assert 0 < done_before < len(prompts)
        status = await run_cli(["status", str(manifest), "--json"], cwd=tmp_path, env=env)
        counts = json.loads(status.out)["counts"]
        assert counts["succeeded"] == done_before  # in-flight work finished and was recorded
        result = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert result.code == 0, result.text
        assert all(sim.stats.billed_for(prompt) == 1 for prompt in prompts)


async def test_permanent_failures_are_kept_until_retry_failed(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """A refused prompt fails permanently (exit 1) and is left alone on the next run,
    unless --retry-failed; status reports it with the provider's message."""
    prompts = ["A forbidden-fruit still life", "A bowl of ordinary apples"]
    manifest = write_manifest(tmp_path, prompts)
    async with simulator() as sim:
        env = cli_env(sim.base_url)
        first = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert first.code == 1
        assert "safety" in first.out
        assert sim.stats.requests_for(prompts[0]) == 1  # never retried
        second = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert second.code == 1
        assert sim.stats.requests_for(prompts[0]) == 1
        third = await run_cli(["run", str(manifest), "--retry-failed"], cwd=tmp_path, env=env)
        assert third.code == 1
        assert sim.stats.requests_for(prompts[0]) == 2
        status = await run_cli(["status", str(manifest), "--json"], cwd=tmp_path, env=env)
    document = json.loads(status.out)
    assert document["total"] == 2
    assert document["counts"] == {"succeeded": 1, "failed": 1, "pending": 0, "running": 0}
    failed = next(job for job in document["jobs"] if job["status"] == "failed")
    assert set(failed) == {"id", "key", "status", "attempts", "files", "error"}
    assert "safety" in failed["error"]


async def test_dry_run_prints_the_plan_and_sends_nothing(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """--dry-run validates and prints counts of what would run and why; no request."""
    manifest = write_manifest(tmp_path, PROMPTS[:3])
    async with simulator() as sim:
        result = await run_cli(
            ["run", str(manifest), "--dry-run"], cwd=tmp_path, env=cli_env(sim.base_url)
        )
        assert sim.stats.total_requests == 0
    assert result.code == 0
    assert "3 would run (3 requests)" in result.out


async def test_urls_are_downloaded_and_named_by_their_real_format(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """dall-e-3 answers with a .webp URL to PNG bytes: the file is saved as .png."""
    manifest = write_manifest(tmp_path, PROMPTS[:2], model="dall-e-3", size="1024x1024")
    async with simulator() as sim:
        result = await run_cli(["run", str(manifest)], cwd=tmp_path, env=cli_env(sim.base_url))
    assert result.code == 0, result.text
    images = _images(tmp_path / "out")
    assert [path.name for path in images] == ["job-01.png", "job-02.png"]
    metadata = json.loads((tmp_path / "out" / "job-01.json").read_text())
    assert metadata["revised_prompt"]
    assert metadata["images"][0]["format"] == "png"


async def test_qwen_n_above_one_is_split(tmp_path: Path, simulator: SimFactory) -> None:
    """qwen-image with n: 3 becomes three single requests, three files."""
    manifest = write_manifest(tmp_path, PROMPTS[:1], model="qwen-image", n=3)
    async with simulator() as sim:
        result = await run_cli(["run", str(manifest)], cwd=tmp_path, env=cli_env(sim.base_url))
        assert sim.stats.requests_for(PROMPTS[0]) == 3
    assert result.code == 0, result.text
    assert [p.name for p in _images(tmp_path / "out")] == [
        "job-01-1.png",
        "job-01-2.png",
        "job-01-3.png",
    ]


async def test_rpm_is_never_exceeded_in_a_short_window(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """--rpm 600 against a server enforcing 600/min over 1-second windows: no 429 at all."""
    manifest = write_manifest(tmp_path, PROMPTS)
    async with simulator(rpm_limit=600, rpm_window=1.0) as sim:
        result = await run_cli(
            ["run", str(manifest), "--rpm", "600", "--concurrency", "12"],
            cwd=tmp_path,
            env=cli_env(sim.base_url),
        )
        assert result.code == 0, result.text
        assert sim.stats.rate_limited == 0
        assert sim.stats.max_arrivals_in(1.0) <= 10


async def test_second_run_on_the_same_folder_refuses(tmp_path: Path, simulator: SimFactory) -> None:
    """Two runs on one output folder would corrupt each other: the second exits 3."""
    manifest = write_manifest(tmp_path, PROMPTS[:6])
    async with simulator(latency=0.5) as sim:
        env = cli_env(sim.base_url)
        first = await start_cli(["run", str(manifest), "--concurrency", "1"], cwd=tmp_path, env=env)
        await asyncio.sleep(0.1)
        for _ in range(100):
            if sim.stats.total_requests:
                break
            await asyncio.sleep(0.05)
        second = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        first.send_signal(signal.SIGTERM)
        await first.communicate()
    assert second.code == 3
    assert "another" in second.err.lower() or "lock" in second.err.lower()
    assert first.returncode == 130


async def test_offline_demo_manifest_runs(tmp_path: Path) -> None:
    """`run jobs/catalog.yaml --offline` writes real images without a key or a network."""
    catalog = Path(__file__).parent.parent / "jobs" / "catalog.yaml"
    result = await run_cli(
        ["run", str(catalog), "--offline", "--output", "demo", "--rpm", "0"],
        cwd=tmp_path,
        env=cli_env(None, key=None),
    )
    assert result.code == 0, result.text
    images = _images(tmp_path / "demo")
    assert len(images) == 13
    _assert_decodable(images)
    with Image.open(tmp_path / "demo" / "teapot-1.png") as image:
        assert image.size == (1536, 1024)
    assert {path.suffix for path in images} == {".png", ".jpg", ".webp"}
    status = await run_cli(
        ["status", str(catalog), "--output", "demo", "--json"],
        cwd=tmp_path,
        env=cli_env(None, key=None),
    )
    assert json.loads(status.out)["counts"]["succeeded"] == 12  # keyed for the simulator


async def test_timeouts_are_retried_then_fail_as_retryable(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """A server slower than --timeout: each try is an ambiguous retry, then the job fails
    (exit 1) as retryable, so the next run tries again."""
    manifest = write_manifest(tmp_path, PROMPTS[:1])
    async with simulator(latency=3.0) as sim:
        env = cli_env(sim.base_url)
        result = await run_cli(
            ["run", str(manifest), "--timeout", "0.3", "--max-attempts", "2"],
            cwd=tmp_path,
            env=env,
        )
        assert result.code == 1, result.text
        assert sim.stats.requests_for(PROMPTS[0]) == 2
        status = await run_cli(["status", str(manifest)], cwd=tmp_path, env=env)
    # Both tries timed out after sending: both may have been billed (the last one too).
    assert "2 lost answers (job-01)" in result.out
    assert "timed out" in result.out
    assert "retryable: " in status.out


async def test_fail_fast_stops_dispatching_after_the_first_failure(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """--fail-fast: the first permanent failure stops the run; the rest is left for later."""
    prompts = ["A forbidden-fruit basket", *PROMPTS[:5]]
    manifest = write_manifest(tmp_path, prompts)
    async with simulator() as sim:
        result = await run_cli(
            ["run", str(manifest), "--fail-fast", "--concurrency", "1"],
            cwd=tmp_path,
            env=cli_env(sim.base_url),
        )
        assert sim.stats.total_requests == 1
    assert result.code == 1
    assert "not run: 5" in result.out


async def test_wrong_base_url_path_aborts_with_exit_3(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """CometAPI answers a wrong path with a 301 HTML page: that is a configuration error
    for the whole run, not a failure of every job."""
    manifest = write_manifest(tmp_path, PROMPTS[:4])
    async with simulator() as sim:
        result = await run_cli(
            ["run", str(manifest), "--base-url", f"{sim.base_url}/api", "--concurrency", "1"],
            cwd=tmp_path,
            env=cli_env(sim.base_url),
        )
        assert sim.stats.total_requests <= 1
    assert result.code == 3, result.text
    assert "base-url" in result.out


async def test_simulator_subcommand_serves_until_interrupted(tmp_path: Path) -> None:
    """`python -m batch_gen simulator --port 0` prints its URL and answers requests."""
    process = await start_cli(
        ["simulator", "--port", "0", "--key", SIM_KEY], cwd=tmp_path, env=cli_env(None)
    )
    try:
        assert process.stdout is not None
        url = ""
        for _ in range(20):
            line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
            if "http://127.0.0.1:" in line:
                url = line[line.index("http://") :].split()[0]
                break
        assert url
        async with (
            aiohttp.ClientSession() as client,
            client.post(
                f"{url.rstrip('/')}/v1/images/generations",
                json={"model": "gpt-image-2", "prompt": "x", "size": "256x256"},
                headers={"Authorization": f"Bearer {SIM_KEY}"},
            ) as response,
        ):
            assert response.status == 200
            assert "b64_json" in (await response.json())["data"][0]
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.communicate(), 10)


async def test_offline_mixed_manifest_uses_every_api(tmp_path: Path) -> None:
    """jobs/mixed.yaml runs offline through every API (generations, edits, Gemini,
    Midjourney with upscales, Flux, Bria and a Bria edit) and saves every image."""
    mixed = Path(__file__).parent.parent / "jobs" / "mixed.yaml"
    result = await run_cli(
        ["run", str(mixed), "--offline", "--output", "mixed", "--report", "r.json"],
        cwd=tmp_path,
        env=cli_env(None, key=None),
    )
    assert result.code == 0, result.text
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["succeeded"] == 9
    images = _images(tmp_path / "mixed")
    assert len(images) == 11  # the Midjourney job saves its grid and two upscales
    _assert_decodable(images)
    assert report["cost_usd"] > 0
