"""The request log of ``--debug``: every call at DEBUG on the ``batch_gen`` logger, with
method, path, status and time, and never the key; nothing at all below DEBUG."""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from support import PNG, write_manifest

from batch_gen.config import RunOptions
from batch_gen.manifest import load_manifest
from batch_gen.providers.base import Endpoint
from batch_gen.report import RunSummary
from batch_gen.retry import RetryPolicy
from batch_gen.runner import run_batch

KEY = "sk-debug-0123456789abcdefghijklmnop"


async def _run_against_flaky_server(tmp_path: Path) -> RunSummary:
    """Two jobs against a server whose first answer is a 500."""
    answered: list[int] = []

    async def generations(request: web.Request) -> web.Response:
        answered.append(1)
        if len(answered) == 1:
            return web.json_response({"error": {"message": "busy"}}, status=500)
        return web.json_response({"data": [{"b64_json": base64.b64encode(PNG).decode()}]})

    app = web.Application()
    app.router.add_post("/v1/images/generations", generations)
    async with TestServer(app, host="127.0.0.1") as server:
        manifest = load_manifest(write_manifest(tmp_path, ["one", "two"]))
        base_url = str(server.make_url("")).rstrip("/")
        options = RunOptions(
            output_dir=manifest.output.dir,
            filename=manifest.output.filename,
            base_url=base_url,
            api_key=KEY,
            retry=RetryPolicy(max_attempts=3, scale=0.0),
            check_models=False,
            concurrency=1,
        )
        return await run_batch(manifest, options, endpoint=Endpoint(base_url, KEY))


async def test_each_call_is_logged_at_debug_without_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="batch_gen"):
        summary = await _run_against_flaky_server(tmp_path)
    assert summary.exit_status() == 0
    lines = [
        record.getMessage() for record in caplog.records if record.name.startswith("batch_gen")
    ]
    pattern = re.compile(r"job-0[12]: POST /v1/images/generations: HTTP (200|500) in \d+\.\d{3}s")
    calls = [line for line in lines if pattern.fullmatch(line)]
    assert [line.split("HTTP ")[1][:3] for line in calls] == ["500", "200", "200"]
    assert all(record.levelno == logging.DEBUG for record in caplog.records)
    assert not any(KEY in line for line in lines)


async def test_nothing_is_logged_unless_debug_is_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="batch_gen"):
        await _run_against_flaky_server(tmp_path)
    assert [record for record in caplog.records if record.name.startswith("batch_gen")] == []
