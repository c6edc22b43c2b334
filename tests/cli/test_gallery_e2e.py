"""The review loop through the real command line against the simulator: ``run --gallery``
writes the page, a person rejects three jobs, ``run --reject FILE`` makes exactly those
again (paying for nothing else, with a new seed), the earlier versions are kept and shown
beside the new ones, and the same file applied twice makes nothing twice."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import Chromium, DevTools, launch
from support import SimFactory, cli_env, run_cli

from batch_gen.state.journal import read_state

FLUX = {f"f{n}": f"A paper lantern, style {n}" for n in range(1, 4)}
OPENAI = {f"g{n}": f"A glass marble, colour {n}" for n in range(1, 4)}
PROMPTS = {**FLUX, **OPENAI}
FAST = ["--poll-interval", "0.05", "--no-progress"]


def write_jobs(folder: Path, prompts: dict[str, str]) -> Path:
    lines = [
        "version: 1",
        "defaults: {model: gpt-image-2, size: 256x256, quality: low}",
        "output: {dir: out}",
        "jobs:",
    ]
    for job_id, prompt in prompts.items():
        flux = ", model: flux-dev, size: 512x512" if job_id.startswith("f") else ""
        lines.append(f"  - {{id: {job_id}, prompt: '{prompt}'{flux}}}")
    path = folder / "jobs.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def page_data(path: Path) -> dict[str, Any]:
    """The JSON the page's script reads."""
    found = re.search(
        r'<script type="application/json" id="gallery-data">(.*?)</script>',
        path.read_text(encoding="utf-8"),
        flags=re.DOTALL,
    )
    assert found is not None
    document: dict[str, Any] = json.loads(found[1])
    return document


def sidecar(out: Path, job_id: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((out / f"{job_id}.json").read_text())
    return document


def export_rejections(manifest: Path, out: Path, job_ids: list[str]) -> Path:
    """The file the page's Export button downloads (docs/gallery.md), for ``job_ids``."""
    records = read_state(out)
    rejected = [
        {
            "id": job_id,
            "key": records[job_id].key,
            "sha256": [image.sha256 for image in records[job_id].images],
            "finished_at": sidecar(out, job_id)["finished_at"],
        }
        for job_id in job_ids
    ]
    document = {
        "batch_gen": "rejections",
        "version": 1,
        "manifest": str(manifest.resolve()),
        "output": str(out.resolve()),
        "rejected": rejected,
    }
    path = manifest.parent / "jobs.rejected.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_three_rejected_jobs_are_made_again_and_nothing_else(
    tmp_path: Path, simulator: SimFactory
) -> None:
    manifest = write_jobs(tmp_path, PROMPTS)
    out = tmp_path / "out"
    async with simulator(flux_task_seconds=0.1) as sim:
        env = cli_env(sim.base_url)
        first = await run_cli(["run", str(manifest), "--gallery", *FAST], cwd=tmp_path, env=env)
        assert first.code == 0, first.text
        assert f"gallery: {out / 'gallery.html'}" in first.out or "gallery: out/gallery.html" in (
            first.out
        )
        data = page_data(out / "gallery.html")
        assert [job["id"] for job in data["jobs"]] == list(PROMPTS)
        assert all(job["status"] == "succeeded" for job in data["jobs"])
        rejected = ["f1", "f2", "f3"]
        before = {job_id: digest(out / f"{job_id}.jpg") for job_id in rejected}
        file = export_rejections(manifest, out, rejected)

        remake = await run_cli(
            ["run", str(manifest), "--reject", str(file), *FAST], cwd=tmp_path, env=env
        )
        assert remake.code == 0, remake.text
        assert "rejected in review: 3 jobs to make again: f1, f2, f3" in remake.err
        assert "skipped: 3 already done" in remake.out
        assert {prompt: sim.stats.billed_for(prompt) for prompt in PROMPTS.values()} == {
            **{prompt: 2 for prompt in FLUX.values()},
            **{prompt: 1 for prompt in OPENAI.values()},
        }
        for job_id in rejected:
            kept = out / ".batch_gen" / "versions" / job_id / "1"
            assert digest(kept / f"{job_id}.jpg") == before[job_id]
            assert (
                json.loads((kept / "metadata.json").read_text())["images"][0]["sha256"]
                == (before[job_id])
            )
            assert digest(out / f"{job_id}.jpg") != before[job_id]
            # A new seed, sent to the API (its answer says it back), recorded in the sidecar.
            facts = sidecar(out, job_id)
            assert facts["seed"] == facts["provider"]["responses"][0]["seed"]
            assert "seed" not in facts["request"]
        assert not (out / ".batch_gen" / "versions" / "g1").exists()

        shown = await run_cli(["gallery", str(manifest)], cwd=tmp_path, env=env)
        assert shown.code == 0, shown.text
        assert shown.out.strip() == str(out / "gallery.html")
        jobs = {job["id"]: job for job in page_data(out / "gallery.html")["jobs"]}
        for job_id in rejected:
            previous = jobs[job_id]["prev"]
            assert previous["n"] == 1
            assert previous["images"][0]["src"] == f".batch_gen/versions/{job_id}/1/{job_id}.jpg"
        assert all("prev" not in jobs[job_id] for job_id in OPENAI)

        billed = sim.stats.total_billed
        again = await run_cli(
            ["run", str(manifest), "--reject", str(file), *FAST], cwd=tmp_path, env=env
        )
        assert again.code == 0, again.text
        assert "rejected in review: nothing to make again" in again.err
        assert "rejected in review, made again since, left alone: f1, f2, f3" in again.err
        # The seed is not in the key: a plain run finds every job done.
        plain = await run_cli(["run", str(manifest), *FAST], cwd=tmp_path, env=env)
        assert plain.code == 0, plain.text
        assert sim.stats.total_billed == billed
    assert [path.name for path in (out / ".batch_gen" / "versions" / "f1").iterdir()] == ["1"]


async def test_a_changed_prompt_keeps_the_earlier_version(tmp_path: Path) -> None:
    manifest = write_jobs(tmp_path, OPENAI)
    out = tmp_path / "out"
    env = cli_env(None, key=None)
    first = await run_cli(["run", str(manifest), "--offline", *FAST], cwd=tmp_path, env=env)
    assert first.code == 0, first.text
    earlier = digest(out / "g2.png")
    write_jobs(tmp_path, {**OPENAI, "g2": "A glass marble, cracked"})
    second = await run_cli(
        ["run", str(manifest), "--offline", "--gallery", *FAST], cwd=tmp_path, env=env
    )
    assert second.code == 0, second.text
    kept = out / ".batch_gen" / "versions" / "g2" / "1"
    assert digest(kept / "g2.png") == earlier
    assert json.loads((kept / "metadata.json").read_text())["prompt"] == OPENAI["g2"]
    jobs = {job["id"]: job for job in page_data(out / "gallery.html")["jobs"]}
    assert jobs["g2"]["prev"]["prompt"] == OPENAI["g2"]
    assert set(jobs) == set(OPENAI)
    assert "prev" not in jobs["g1"]


async def test_gallery_after_a_failed_run_and_of_a_folder_never_run(tmp_path: Path) -> None:
    manifest = write_jobs(tmp_path, {"g1": "A forbidden-fruit bowl", "g2": "A plain bowl"})
    env = cli_env(None, key=None)
    empty = await run_cli(["gallery", str(manifest), "-q"], cwd=tmp_path, env=env)
    assert (empty.code, empty.out) == (0, "")
    assert [job["status"] for job in page_data(tmp_path / "out" / "gallery.html")["jobs"]] == [
        "pending",
        "pending",
    ]
    failed = await run_cli(
        ["run", str(manifest), "--offline", "--gallery", *FAST], cwd=tmp_path, env=env
    )
    assert failed.code == 1, failed.text
    jobs = page_data(tmp_path / "out" / "gallery.html")["jobs"]
    assert [job["status"] for job in jobs] == ["failed", "succeeded"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dry-run", "--gallery"],
            "batch_gen: --gallery writes the page at the end of a run, and a dry run runs"
            " nothing: drop --dry-run, or write it with 'batch_gen gallery'",
        ),
        (
            ["--reject", "missing.json"],
            "batch_gen: cannot read the rejection file missing.json: No such file or directory",
        ),
    ],
)
async def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    manifest = write_jobs(tmp_path, OPENAI)
    result = await run_cli(
        ["run", str(manifest), "--offline", *args], cwd=tmp_path, env=cli_env(None, key=None)
    )
    assert (result.code, result.err.strip()) == (2, message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with launch() as running:
        yield running


async def test_the_rebuilt_gallery_shows_the_previous_version_in_a_browser(
    tmp_path: Path, browser: Chromium
) -> None:
    manifest = write_jobs(tmp_path, {"g1": "A glass marble, colour 1"})
    env = cli_env(None, key=None)
    assert (
        await run_cli(["run", str(manifest), "--offline", *FAST], cwd=tmp_path, env=env)
    ).code == 0
    write_jobs(tmp_path, {"g1": "A glass marble, colour 9"})
    rebuilt = await run_cli(
        ["run", str(manifest), "--offline", "--gallery", *FAST], cwd=tmp_path, env=env
    )
    assert rebuilt.code == 0, rebuilt.text
    async with DevTools.connect(browser) as tools:
        page = await tools.new_page()
        await page.open((tmp_path / "out" / "gallery.html").as_uri())
        await page.wait_for("document.documentElement.dataset.ready === 'true'")
        await page.press("Home")
        await page.press("Enter")
        assert await page.evaluate("document.getElementById('lb-previous').hidden") is False
        loaded = """(() => { const all = [...document.querySelectorAll('#lb-previous img')];
          return all.every((i) => i.complete) ? all.filter((i) => i.naturalWidth > 0).length
            + '/' + all.length : null; })()"""
        assert await page.wait_for(loaded) == "1/1"
        source = await page.evaluate("document.querySelector('#lb-previous img').src")
        assert source.endswith("/out/.batch_gen/versions/g1/1/g1.png")
        text = await page.evaluate("document.getElementById('lb-previous').textContent")
        assert text.startswith("Previous: version 1")
