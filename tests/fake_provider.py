"""A scripted image API for running the runner in process, without HTTP (llm's MockModel
shape): ``enqueue`` what each call should come back with, in order.

Each call the runner sends (a submit, a poll, a pre-action fetch) takes the next scripted
item: a :class:`Generation` (a synchronous answer, or with ``tasks=True`` not used),
:class:`Submitted`, :class:`Running`, :class:`Ready` or :class:`Ended` (a task API), or a
``ProviderError`` (raised as the answer's reading would raise it). ``calls`` logs every
call in order, and the loop's own rules (pacing, recording, retries) stay the runner's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from support import PNG

from batch_gen.config import RunOptions
from batch_gen.errors import ProviderError
from batch_gen.manifest import load_manifest
from batch_gen.models import Job
from batch_gen.providers.base import (
    Answer,
    ApiRequest,
    ApiSpec,
    Call,
    Ended,
    Endpoint,
    Generation,
    Poll,
    Ready,
    ReturnedImage,
    Running,
    Submitted,
)
from batch_gen.report import RunSummary
from batch_gen.retry import RetryPolicy
from batch_gen.runner import run_batch

Scripted = Generation | Submitted | Running | Ready | Ended | ProviderError


def image(data: bytes = PNG, **extra: Any) -> Generation:
    """A generation of one inline image."""
    return Generation(images=(ReturnedImage(data=data),), extra=extra)


def ready(data: bytes = PNG) -> Ready:
    """A poll that says the task made one image."""
    return Ready(image(data))


class FakeApi:
    """A provider and its transport in one: one request per image, one scripted item per
    call. With ``tasks=True`` it is a task API (submit, then poll)."""

    def __init__(self, *, tasks: bool = False) -> None:
        self.spec = ApiSpec(
            api="fake",
            endpoint="/fake",
            title="Fake",
            tasks=tasks,
            request_count=lambda job, images: max(images, 0),
        )
        self.script: deque[Scripted] = deque()
        self.calls: list[Call] = []

    def enqueue(self, *items: Scripted) -> FakeApi:
        self.script.extend(items)
        return self

    # --- the provider -------------------------------------------------------------------

    def requests_for(self, job: Job, images: int) -> list[ApiRequest]:
        first = job.n - images + 1
        return [
            ApiRequest("/fake", {"prompt": job.prompt}, 1, step=f"submit:{number}")
            for number in range(first, job.n + 1)
        ]

    def prepare(self, request: ApiRequest, tasks: Mapping[str, str]) -> str | None:
        return None

    def build_call(
        self, request: ApiRequest, inputs: Sequence[bytes], prepared: Poll | None
    ) -> Call:
        return Call("POST", request.endpoint, f"fake {request.step}", json=request.body)

    def read_answer(
        self, answer: Answer, request: ApiRequest, *, secret: str | None
    ) -> Generation | Submitted:
        item = self._next()
        assert isinstance(item, Generation | Submitted), f"scripted {item!r} for a submit"
        return item

    def poll_call(self, task_id: str) -> Call:
        return Call("GET", f"/fake/{task_id}", f"fake poll {task_id}")

    def read_poll(self, answer: Answer, task_id: str, *, secret: str | None) -> Poll:
        item = self._next()
        assert isinstance(item, Running | Ready | Ended), f"scripted {item!r} for a poll"
        return item

    # --- the transport --------------------------------------------------------------------

    async def transport(self, call: Call) -> Answer:
        self.calls.append(call)
        return Answer(200, {}, b"")

    def provider_for(self, api: str) -> FakeApi:
        return self

    def _next(self) -> Generation | Submitted | Poll:
        if not self.script:
            raise AssertionError("the fake API ran out of scripted answers")
        item = self.script.popleft()
        if isinstance(item, ProviderError):
            raise item
        return item


class InProcessApi(Protocol):
    """What :func:`run_fake` needs of a fake API: its provider and its transport."""

    def provider_for(self, api: str) -> Any: ...

    def transport(self, call: Call) -> Awaitable[Answer]: ...


def fake_manifest(tmp_path: Path, jobs: int = 1, n: int | None = None) -> Path:
    """A manifest of ``jobs`` jobs ``j0``, ``j1``, ... (each of ``n`` images if given),
    writing into ``tmp_path / "out"``."""
    images = "" if n is None else f", n: {n}"
    lines = [f"output: {{dir: {tmp_path / 'out'}}}", "jobs:"]
    lines += [f"  - {{id: j{number}, prompt: 'prompt {number}'{images}}}" for number in range(jobs)]
    path = tmp_path / "m.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def run_fake(path: Path, api: InProcessApi, **options: Any) -> RunSummary:
    """Runs the manifest at ``path`` in process against ``api``: three attempts without
    waiting, no polling interval, no model check, one worker; ``options`` override."""
    manifest = load_manifest(path)
    settings: dict[str, Any] = {
        "output_dir": manifest.output.dir,
        "filename": manifest.output.filename,
        "api_key": "sk-test",
        "retry": RetryPolicy(max_attempts=3, scale=0.0),
        "poll_interval": 0.0,
        "check_models": False,
        "concurrency": 1,
    }
    settings.update(options)
    return await run_batch(
        manifest,
        RunOptions(**settings),
        endpoint=Endpoint("http://fake.invalid", "sk-test"),
        providers=api.provider_for,
        transport=api.transport,
    )
