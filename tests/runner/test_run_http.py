"""The runner in process, against small scripted servers and the simulator on loopback."""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from support import PNG, run_over_http

from batch_gen.models import JobStatus
from batch_gen.report import RunSummary
from batch_gen.retry import RetryPolicy
from batch_gen.state.journal import read_state

OK_BODY = {"created": 1, "data": [{"b64_json": base64.b64encode(PNG).decode()}]}

AiohttpServer = Callable[[web.Application], Awaitable[TestServer]]


def _manifest(tmp_path: Path, count: int, **fields: Any) -> Path:
    lines = ["defaults: {model: gpt-image-2}", f"output: {{dir: {tmp_path / 'out'}}}", "jobs:"]
    for number in range(count):
        lines.append(f"  - {{id: j{number}, prompt: 'prompt {number}'}}")
        for name, value in fields.items():
            lines[-1] = lines[-1][:-1] + f", {name}: {value}}}"
    path = tmp_path / "m.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def _run(manifest_path: Path, base_url: str, **options: Any) -> RunSummary:
    defaults: dict[str, Any] = {"retry": RetryPolicy(max_attempts=5, base_delay=0.01)}
    return await run_over_http(
        manifest_path, base_url, api_key="sk-test", **{**defaults, **options}
    )


async def test_a_429_with_retry_after_pauses_the_whole_pool(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    """After a 429 saying "wait 0.6 s", no worker sends anything for 0.6 s."""
    arrivals: list[float] = []
    first_429: list[float] = []

    async def handler(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        if not first_429:
            first_429.append(time.monotonic())
            return web.json_response(
                {"error": {"message": "slow down", "code": "rate_limit_exceeded"}},
                status=429,
                headers={"Retry-After": "0.6"},
            )
        return web.json_response(OK_BODY)

    app = web.Application()
    app.router.add_post("/v1/images/generations", handler)
    server = await aiohttp_server(app)
    summary = await _run(_manifest(tmp_path, 12), str(server.make_url("")), concurrency=4)
    assert summary.exit_status() == 0
    assert len(summary.succeeded) == 12
    t0 = first_429[0]
    quiet = [t for t in arrivals if t0 + 0.05 < t < t0 + 0.55]
    assert quiet == [], "requests were sent during the pool-wide pause"
    assert summary.retries == 1


async def test_repeated_429s_lower_concurrency(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    """A server that allows only 2 requests at once (429 beyond) sees concurrency shrink."""
    in_flight = 0
    rejected = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal in_flight, rejected
        if in_flight >= 2:
            rejected += 1
            return web.json_response({"error": {"message": "busy"}}, status=429)
        in_flight += 1
        try:
            await __import__("asyncio").sleep(0.02)
            return web.json_response(OK_BODY)
        finally:
            in_flight -= 1

    app = web.Application()
    app.router.add_post("/v1/images/generations", handler)
    server = await aiohttp_server(app)
    summary = await _run(
        _manifest(tmp_path, 40),
        str(server.make_url("")),
        concurrency=16,
        retry=RetryPolicy(max_attempts=20, base_delay=0.01, max_delay=0.05),
    )
    assert summary.exit_status() == 0
    # Without AIMD, 14 of every 16 tries would bounce for the whole run.
    assert rejected < 40


async def test_partial_images_are_kept_and_only_the_rest_requested(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    """A split job (qwen-image, n=3) that fails after its first image keeps that image:
    retrying it later requests only the two missing ones — none is paid twice."""
    answers = iter([200, 400, 200, 200])
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if next(answers) == 400:
            return web.json_response({"error": {"message": "bad"}}, status=400)
        return web.json_response(OK_BODY)

    app = web.Application()
    app.router.add_post("/v1/images/generations", handler)
    server = await aiohttp_server(app)
    manifest = _manifest(tmp_path, 1, model="qwen-image", n=3)
    first = await _run(manifest, str(server.make_url("")))
    assert first.exit_status() == 1
    record = read_state(tmp_path / "out")["j0"]
    assert record.status is JobStatus.FAILED
    assert len(record.images) == 1
    second = await _run(manifest, str(server.make_url("")), retry_failed=True)
    assert second.exit_status() == 0
    assert calls == 4
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [
        "j0-1.png",
        "j0-2.png",
        "j0-3.png",
    ]


async def test_an_unwritable_output_aborts_the_run(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    """A file that cannot be written fails every job alike: the run stops with exit 3."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(OK_BODY)

    app = web.Application()
    app.router.add_post("/v1/images/generations", handler)
    server = await aiohttp_server(app)
    (tmp_path / "out" / "j0.png").mkdir(parents=True)  # a folder where the image must go
    summary = await _run(_manifest(tmp_path, 3), str(server.make_url("")), concurrency=1)
    assert summary.exit_status() == 3
    assert summary.aborted is not None
    assert "cannot write" in summary.aborted
