"""Reaching the API, through the real CLI: an unreachable host and a base URL ending in
``/v1`` end the run at once with exit 3 and one line that says what to change; a proxy
the environment names is used."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from forward_proxy import forward_proxy
from support import SimFactory, cli_env, run_cli, write_manifest

PROMPTS = [f"A glass marble, swirl {number}" for number in range(20)]


async def test_an_unreachable_host_exits_3_at_once_naming_it(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    manifest = write_manifest(tmp_path, PROMPTS)
    started = time.monotonic()
    result = await run_cli(
        ["run", str(manifest), "--no-catalog"],
        cwd=tmp_path,
        env=cli_env(f"http://127.0.0.1:{port}"),
    )
    assert time.monotonic() - started < 15, "retried instead of stopping"
    assert result.code == 3, result.text
    lines = [line for line in result.text.splitlines() if f"127.0.0.1:{port}" in line]
    assert lines == [
        f"  aborted: cannot reach 127.0.0.1:{port}: connection refused;"
        " check --base-url / COMETAPI_BASE_URL, or your network and proxy settings"
    ]
    again = await run_cli(
        ["status", str(manifest), "--json"], cwd=tmp_path, env=cli_env(f"http://127.0.0.1:{port}")
    )
    assert '"failed": 0' in again.out  # nothing failed: the next run tries every job


async def test_a_base_url_ending_in_v1_is_told_to_drop_it(
    tmp_path: Path, simulator: SimFactory
) -> None:
    manifest = write_manifest(tmp_path, PROMPTS[:4])
    async with simulator() as sim:
        result = await run_cli(
            ["run", str(manifest), "--base-url", f"{sim.base_url}/v1", "--concurrency", "1"],
            cwd=tmp_path,
            env=cli_env(sim.base_url),
        )
        assert sim.stats.total_billed == 0
    assert result.code == 3, result.text
    assert (
        f"the base URL {sim.base_url}/v1 ends in /v1, which batch_gen adds itself:"
        f" use {sim.base_url} (--base-url / COMETAPI_BASE_URL)" in result.out
    )


async def test_http_proxy_is_honoured(tmp_path: Path, simulator: SimFactory) -> None:
    manifest = write_manifest(tmp_path, PROMPTS[:3])
    async with simulator() as sim, forward_proxy() as (proxy, seen):
        env = cli_env(sim.base_url, HTTP_PROXY=proxy)
        for name in ("NO_PROXY", "no_proxy", "http_proxy"):
            env.pop(name, None)
        result = await run_cli(["run", str(manifest)], cwd=tmp_path, env=env)
        assert result.code == 0, result.text
    assert seen.count("POST /v1/images/generations") == 3
    assert seen.count("GET /api/models") == 1
