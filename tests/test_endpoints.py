"""Choosing the endpoint: the in-process simulator of an offline run, and its latency."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from batch_gen.config import RunOptions
from batch_gen.endpoints import OFFLINE_LATENCY_VARIABLE, offline_config, open_endpoint
from batch_gen.errors import ConfigurationError


@pytest.mark.parametrize(
    ("value", "latency"), [(None, 0.0), ("", 0.0), ("0", 0.0), (" 2.5 ", 2.5), ("1e-1", 0.1)]
)
def test_offline_latency_is_read_from_the_environment(value: str | None, latency: float) -> None:
    environ = {} if value is None else {OFFLINE_LATENCY_VARIABLE: value}
    config = offline_config("sim-key", environ)
    assert (config.latency, config.api_key) == (latency, "sim-key")


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "2s"])
def test_a_bad_offline_latency_is_one_line_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        offline_config("sim-key", {OFFLINE_LATENCY_VARIABLE: value})
    message = str(caught.value)
    assert OFFLINE_LATENCY_VARIABLE in message
    assert repr(value) in message
    assert "\n" not in message


async def test_offline_requests_wait_the_latency(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """With the variable set, an offline generation takes at least that long."""
    options = RunOptions(output_dir=tmp_path, filename="{id}.{ext}", offline=True)
    environ = {OFFLINE_LATENCY_VARIABLE: "0.2"}
    async with open_endpoint(options, environ=environ) as endpoint:
        body = {"model": "gpt-image-1", "prompt": "a slow boat", "size": "256x256"}
        headers = {"Authorization": f"Bearer {endpoint.api_key}"}
        started = time.monotonic()
        async with session.post(
            f"{endpoint.base_url}/v1/images/generations", json=body, headers=headers
        ) as response:
            await response.read()
            assert response.status == 200
        assert time.monotonic() - started >= 0.2
