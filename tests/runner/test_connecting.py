"""Reaching the API, in process: a host no call could reach stops the run at once (exit 3,
one line naming it); a host reached once is only retried; proxies the environment names
carry the API calls, the downloads and the catalog fetch, except where NO_PROXY says not.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from fake_provider import FakeApi, image
from forward_proxy import forward_proxy
from support import SIM_KEY, SimFactory, run_over_http, write_manifest

from batch_gen.config import RunOptions
from batch_gen.errors import ConnectError
from batch_gen.manifest import load_manifest
from batch_gen.models import JobStatus
from batch_gen.providers.base import Answer, Call, Endpoint
from batch_gen.report import RunSummary
from batch_gen.retry import RetryPolicy
from batch_gen.runner import run_batch
from batch_gen.state.journal import read_state

PROMPTS = [f"A brass compass, number {number}" for number in range(20)]


def _closed_port() -> int:
    """A loopback port nothing listens on: bound, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _run(manifest_path: Path, base_url: str, **options: Any) -> RunSummary:
    defaults: dict[str, Any] = {
        "retry": RetryPolicy(max_attempts=5, base_delay=0.2),
        "check_models": False,
    }
    return await run_over_http(manifest_path, base_url, api_key=SIM_KEY, **{**defaults, **options})


async def test_a_host_no_call_can_reach_stops_the_run_at_once(tmp_path: Path) -> None:
    """Connection refused on the first calls: exit 3 at once with one line naming the host,
    no job failed (a later run tries them all), nothing left counted as in flight."""
    port = _closed_port()
    started = time.monotonic()
    summary = await _run(
        write_manifest(tmp_path, PROMPTS), f"http://127.0.0.1:{port}", concurrency=4
    )
    assert time.monotonic() - started < 5  # not 20 jobs x 5 tries with backoff
    assert summary.exit_status() == 3
    assert summary.aborted == (
        f"cannot reach 127.0.0.1:{port}: connection refused;"
        " check --base-url / COMETAPI_BASE_URL, or your network and proxy settings"
    )
    assert summary.failed == {}
    assert summary.retries == 0
    assert summary.not_run == len(PROMPTS)
    records = read_state(tmp_path / "out")
    assert records  # the jobs that tried recorded their try
    for record in records.values():
        assert record.status is JobStatus.RUNNING  # to be run again, not failed
        assert record.in_flight == 0  # nothing was sent: nothing possibly billed
    assert sum(summary.possibly_billed.values()) == 0


async def test_an_unreachable_proxy_is_named_with_the_variables_to_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    summary = await _run(write_manifest(tmp_path, PROMPTS[:3]), "http://api.test")
    assert summary.aborted == (
        f"cannot reach the proxy 127.0.0.1:{port}: connection refused;"
        " check HTTPS_PROXY / HTTP_PROXY, or NO_PROXY"
    )


class _DropsAfterFirst(FakeApi):
    """Answers the first call; the next cannot connect; then answers again."""

    async def transport(self, call: Call) -> Answer:
        self.calls.append(call)
        if len(self.calls) == 2:
            raise ConnectError(
                "fake: cannot reach api.test:443: connection refused",
                host="api.test:443",
                reason="connection refused",
                through_proxy=False,
            )
        return Answer(200, {}, b"")


async def test_a_connect_failure_after_the_host_was_reached_is_retried(tmp_path: Path) -> None:
    api = _DropsAfterFirst().enqueue(image(), image())
    manifest = load_manifest(write_manifest(tmp_path, PROMPTS[:2]))
    options = RunOptions(
        output_dir=manifest.output.dir,
        filename=manifest.output.filename,
        api_key="sk-test",
        retry=RetryPolicy(max_attempts=3, scale=0.0),
        check_models=False,
        concurrency=1,
    )
    summary = await run_batch(
        manifest,
        options,
        endpoint=Endpoint("http://api.test", "sk-test"),
        providers=api.provider_for,
        transport=api.transport,
    )
    assert summary.aborted is None
    assert summary.exit_status() == 0
    assert (len(api.calls), summary.retries) == (3, 1)


# --- proxies ----------------------------------------------------------------------------


@pytest.fixture
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


async def test_api_calls_downloads_and_the_catalog_go_through_http_proxy(
    tmp_path: Path, simulator: SimFactory, no_proxy_variables: pytest.MonkeyPatch
) -> None:
    """dall-e-3 answers with a URL: the generation, the download and the model catalog
    all pass the proxy."""
    manifest = write_manifest(tmp_path, PROMPTS[:2], model="dall-e-3", size="1024x1024")
    async with simulator() as sim, forward_proxy() as (proxy, seen):
        no_proxy_variables.setenv("HTTP_PROXY", proxy)
        summary = await _run(manifest, sim.base_url, check_models=True)
        assert summary.exit_status() == 0, summary.failed
        assert sim.stats.total_billed == 2
    assert seen.count("POST /v1/images/generations") == 2
    assert seen.count("GET /api/models") == 1
    assert len([line for line in seen if line.startswith("GET /files/")]) == 2


async def test_no_proxy_covering_the_host_sends_directly(
    tmp_path: Path, simulator: SimFactory, no_proxy_variables: pytest.MonkeyPatch
) -> None:
    manifest = write_manifest(tmp_path, PROMPTS[:2], model="dall-e-3", size="1024x1024")
    async with simulator() as sim, forward_proxy() as (proxy, seen):
        no_proxy_variables.setenv("HTTP_PROXY", proxy)
        no_proxy_variables.setenv("NO_PROXY", "localhost,127.0.0.1")
        summary = await _run(manifest, sim.base_url, check_models=True)
        assert summary.exit_status() == 0, summary.failed
    assert seen == []


async def test_an_offline_run_never_uses_a_proxy(
    tmp_path: Path, simulator: SimFactory, no_proxy_variables: pytest.MonkeyPatch
) -> None:
    """The --offline simulator runs in the process, on loopback: no proxy reaches it."""
    manifest = write_manifest(tmp_path, PROMPTS[:2])
    async with simulator() as sim, forward_proxy() as (proxy, seen):
        no_proxy_variables.setenv("HTTP_PROXY", proxy)
        summary = await _run(manifest, sim.base_url, offline=True)
        assert summary.exit_status() == 0, summary.failed
    assert seen == []
