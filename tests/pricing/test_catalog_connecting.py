"""The catalog fetch connects as every call does: through the proxy the environment names
(unless NO_PROXY covers the host), and a host it cannot reach is named in plain words."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from forward_proxy import forward_proxy

from batch_gen.errors import ConfigurationError
from batch_gen.pricing.catalog_source import fetch_catalog

DOCUMENT = {"success": True, "data": [{"id": "gpt-image-2", "model_type": "image"}]}


@pytest.fixture
async def catalog_url(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A catalog server on loopback, with no proxy variables set."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)

    async def models(request: web.Request) -> web.Response:
        return web.json_response(DOCUMENT)

    app = web.Application()
    app.router.add_get("/api/models", models)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


@pytest.mark.parametrize(("no_proxy", "proxied"), [(None, 1), ("127.0.0.1", 0)])
async def test_the_catalog_is_fetched_through_http_proxy_unless_no_proxy_covers_it(
    catalog_url: str, monkeypatch: pytest.MonkeyPatch, no_proxy: str | None, proxied: int
) -> None:
    async with forward_proxy() as (proxy, seen), aiohttp.ClientSession() as session:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        if no_proxy is not None:
            monkeypatch.setenv("NO_PROXY", no_proxy)
        catalog = await fetch_catalog(session, catalog_url)
    assert list(catalog.models) == ["gpt-image-2"]
    assert seen.count("GET /api/models") == proxied


async def test_a_host_that_refuses_is_named_in_plain_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigurationError) as caught:
            await fetch_catalog(session, base_url)
    assert str(caught.value) == (
        f"cannot fetch the model catalog from {base_url}/api/models:"
        f" cannot reach 127.0.0.1:{port}: connection refused"
    )
