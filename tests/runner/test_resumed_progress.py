"""A resumed run's progress counts the whole manifest: the jobs already done are shown as
done from the start, and the run ends with every job of the manifest counted."""

from __future__ import annotations

from pathlib import Path

from fake_provider import FakeApi, image
from support import write_manifest

from batch_gen.config import RunOptions
from batch_gen.manifest import load_manifest
from batch_gen.progress import NullProgress
from batch_gen.providers.base import Endpoint
from batch_gen.report import RunSummary
from batch_gen.retry import RetryPolicy
from batch_gen.runner import run_batch

PROMPTS = [f"A tin robot, model {number}" for number in range(5)]


class Recorder(NullProgress):
    def __init__(self) -> None:
        super().__init__()
        self.starts: list[tuple[int, int]] = []

    def start(self, total: int, *, done: int = 0) -> None:
        super().start(total, done=done)
        self.starts.append((total, done))


async def _run(path: Path, api: FakeApi, progress: Recorder) -> RunSummary:
    manifest = load_manifest(path)
    options = RunOptions(
        output_dir=manifest.output.dir,
        filename=manifest.output.filename,
        api_key="sk-test",
        retry=RetryPolicy(max_attempts=1, scale=0.0),
        check_models=False,
        concurrency=1,
    )
    return await run_batch(
        manifest,
        options,
        endpoint=Endpoint("http://fake.invalid", "sk-test"),
        progress=progress,
        providers=api.provider_for,
        transport=api.transport,
    )


async def test_a_resumed_run_counts_the_jobs_already_done(tmp_path: Path) -> None:
    first = Recorder()
    await _run(write_manifest(tmp_path, PROMPTS[:3]), FakeApi().enqueue(*[image()] * 3), first)
    assert first.starts == [(3, 0)]
    resumed = Recorder()
    summary = await _run(
        write_manifest(tmp_path, PROMPTS), FakeApi().enqueue(image(), image()), resumed
    )
    assert summary.exit_status() == 0
    assert resumed.starts == [(5, 3)]  # 3/5 at the start
    assert (resumed.counts.done, resumed.counts.total) == (5, 5)


async def test_a_run_with_nothing_to_do_shows_no_progress(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, PROMPTS[:2])
    await _run(path, FakeApi().enqueue(image(), image()), Recorder())
    again = Recorder()
    await _run(path, FakeApi(), again)
    assert again.starts == []
