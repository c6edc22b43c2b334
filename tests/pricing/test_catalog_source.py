"""Getting the catalog: the public GET, its failures, and the per-base-URL cache."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from batch_gen.errors import ConfigurationError
from batch_gen.pricing.catalog_source import (
    cache_path,
    decode_answer,
    default_cache_dir,
    describe_age,
    fetch_catalog,
    load_catalog,
)

AiohttpServer = Callable[[web.Application], Awaitable[TestServer]]
DAY = 86400.0

# What the server answers: only the ids matter here (parsing is test_catalog.py's subject).
GPT_IMAGE_2 = {"id": "gpt-image-2", "model_type": "image", "pricing": {"output": 24}}
CHAT = {"id": "gpt-5", "model_type": "text"}
DOCUMENT = {"success": True, "data": [GPT_IMAGE_2, CHAT]}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0 seconds"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (150, "2 minutes"),
        (7199, "119 minutes"),
        (7200, "2 hours"),
        (36 * 3600, "36 hours"),
        (3 * DAY + 5, "3 days"),
    ],
)
def test_describe_age(seconds: float, text: str) -> None:
    """Ages read naturally, switching unit at two of the larger one."""
    assert describe_age(seconds) == text


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"BATCH_GEN_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/c"),
        ({"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/batch_gen"),
        ({"XDG_CACHE_HOME": "relative", "HOME": "/h"}, "/h/.cache/batch_gen"),
        ({"HOME": "/h"}, "/h/.cache/batch_gen"),
        ({"BATCH_GEN_CACHE_DIR": "", "HOME": "/h"}, "/h/.cache/batch_gen"),
    ],
)
def test_default_cache_dir(environ: dict[str, str], expected: str) -> None:
    """$BATCH_GEN_CACHE_DIR, else an absolute $XDG_CACHE_HOME, else ~/.cache."""
    assert default_cache_dir(environ) == Path(expected)


def test_cache_files_are_per_base_url() -> None:
    """Two base URLs never share a cache file; a trailing slash does not make a new one."""
    one = cache_path(Path("/c"), "https://api.cometapi.com")
    assert one == cache_path(Path("/c"), "https://api.cometapi.com/")
    assert one != cache_path(Path("/c"), "http://127.0.0.1:8080")
    assert one.name.startswith("models-")
    assert one.suffix == ".json"


@pytest.mark.parametrize(
    ("status", "content_type", "body", "fragment"),
    [
        (301, "text/html", b"<html>moved</html>", "redirect (HTTP 301) to https://else/"),
        (200, "text/html", b"<!doctype html><p>hi", "an HTML page, not the JSON model list"),
        (200, "text/plain", b"  <html>", "an HTML page, not the JSON model list"),
        (404, "text/html", b"<html>nope</html>", "HTTP 404: an HTML page"),
        (500, "application/json", b'{"error":{"message":"down"}}', "HTTP 500: down"),
        (502, "text/plain", b"", "HTTP 502: (empty body)"),
        (200, "application/json", b'{"success": tr', "not JSON"),
    ],
)
def test_decode_answer_failures(status: int, content_type: str, body: bytes, fragment: str) -> None:
    """Redirects, HTML, errors and broken JSON become ConfigurationErrors naming the URL."""
    url = "https://api.example/api/models"
    with pytest.raises(ConfigurationError) as caught:
        decode_answer(
            url, status=status, content_type=content_type, location="https://else/", body=body
        )
    assert fragment in str(caught.value)
    assert url in str(caught.value)


# --- fetching and caching against a real server --------------------------------------------


class CatalogServer:
    """An /api/models endpoint whose answer a test can change, counting what reaches it."""

    def __init__(self) -> None:
        self.calls = 0
        self.headers: list[dict[str, str]] = []
        self.document: Any = DOCUMENT
        self.status = 200
        self.redirect: str | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        self.headers.append(dict(request.headers))
        if self.redirect is not None:
            raise web.HTTPMovedPermanently(self.redirect)
        if self.status != 200:
            return web.json_response({"error": {"message": "upstream down"}}, status=self.status)
        return web.json_response(self.document)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/models", self.handle)
        return app


@pytest.fixture
async def catalog_server(aiohttp_server: AiohttpServer) -> tuple[CatalogServer, str]:
    state = CatalogServer()
    server = await aiohttp_server(state.app())
    return state, str(server.make_url("")).rstrip("/")


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_fetch_sends_no_credentials(catalog_server: tuple[CatalogServer, str]) -> None:
    """The catalog is fetched without an Authorization header, and its source is the URL."""
    state, base_url = catalog_server
    async with aiohttp.ClientSession() as session:
        catalog = await fetch_catalog(session, base_url, now=lambda: 42.0)
    assert state.calls == 1
    assert not {name.lower() for name in state.headers[0]} & {"authorization", "x-goog-api-key"}
    assert catalog.source == f"{base_url}/api/models"
    assert catalog.fetched_at == 42.0
    assert catalog.get("gpt-image-2") is not None


async def test_fetch_refuses_a_session_that_carries_a_key(
    catalog_server: tuple[CatalogServer, str],
) -> None:
    """A session with a default Authorization header is refused before anything is sent."""
    state, base_url = catalog_server
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer sk-secret"}) as session:
        with pytest.raises(ValueError, match="sends no credentials"):
            await fetch_catalog(session, base_url)
    assert state.calls == 0


async def test_a_redirect_means_a_wrong_base_url(catalog_server: tuple[CatalogServer, str]) -> None:
    """A 301 is not followed; the error names the URL and suggests checking the base URL."""
    state, base_url = catalog_server
    state.redirect = "https://www.cometapi.com/"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigurationError) as caught:
            await fetch_catalog(session, base_url)
    message = str(caught.value)
    assert f"{base_url}/api/models" in message
    assert "redirect (HTTP 301) to https://www.cometapi.com/" in message
    assert "--base-url" in message
    assert state.calls == 1


async def test_an_html_page_means_a_wrong_base_url(aiohttp_server: AiohttpServer) -> None:
    """A 200 HTML page (a website, not the API) is a ConfigurationError naming the URL."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Welcome</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/api/models", page)
    server = await aiohttp_server(app)
    base_url = str(server.make_url("/site"))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigurationError, match="HTML page"):
            await fetch_catalog(session, str(server.make_url("")))
        with pytest.raises(ConfigurationError, match=f"{base_url}/api/models answered HTTP 404"):
            await fetch_catalog(session, base_url)


async def test_a_silent_server_times_out_with_the_url(aiohttp_server: AiohttpServer) -> None:
    """No answer within the timeout: a ConfigurationError naming the URL and the limit."""

    async def silent(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response(DOCUMENT)

    app = web.Application()
    app.router.add_get("/api/models", silent)
    server = await aiohttp_server(app)
    base_url = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigurationError) as caught:
            await fetch_catalog(session, base_url, timeout=0.1)
    assert str(caught.value) == (
        f"cannot fetch the model catalog from {base_url}/api/models: no answer within 0.1 s"
    )


async def test_a_refused_connection_names_the_url() -> None:
    """Nothing listening: a ConfigurationError saying which URL could not be reached."""
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(
            ConfigurationError, match=f"cannot fetch the model catalog from {base_url}"
        ):
            await fetch_catalog(session, base_url)


async def test_a_fresh_cache_is_used_without_fetching(
    tmp_path: Path, catalog_server: tuple[CatalogServer, str]
) -> None:
    """Within max_age the second load reads the cache file; the server sees one request."""
    state, base_url = catalog_server
    clock = Clock()
    first = await load_catalog(base_url=base_url, cache_dir=tmp_path, now=clock)
    assert first.source == f"{base_url}/api/models"
    clock.now += DAY - 60
    second = await load_catalog(base_url=base_url, cache_dir=tmp_path, now=clock)
    assert state.calls == 1
    assert second.source == "cache (23 hours old)"
    assert second.warning is None
    assert second.models == first.models
    assert [p.name for p in tmp_path.iterdir()] == [cache_path(tmp_path, base_url).name]


async def test_a_stale_cache_is_refetched(
    tmp_path: Path, catalog_server: tuple[CatalogServer, str]
) -> None:
    """Past max_age the catalog is fetched again and the cache rewritten with the new data."""
    state, base_url = catalog_server
    clock = Clock()
    await load_catalog(base_url=base_url, cache_dir=tmp_path, now=clock)
    state.document = {"success": True, "data": [CHAT]}
    clock.now += DAY + 1
    refreshed = await load_catalog(base_url=base_url, cache_dir=tmp_path, now=clock)
    assert state.calls == 2
    assert list(refreshed.models) == ["gpt-5"]
    clock.now += 10
    again = await load_catalog(base_url=base_url, cache_dir=tmp_path, now=clock)
    assert state.calls == 2
    assert list(again.models) == ["gpt-5"]


async def test_refresh_fetches_even_when_the_cache_is_fresh(
    tmp_path: Path, catalog_server: tuple[CatalogServer, str]
) -> None:
    """refresh=True ignores a fresh cache."""
    state, base_url = catalog_server
    clock = Clock()
    await load_catalog(base_url=base_url, cache_dir=tmp_path, now=clock)
    await load_catalog(base_url=base_url, cache_dir=tmp_path, now=clock, refresh=True)
    assert state.calls == 2


async def test_a_failed_fetch_falls_back_to_a_stale_cache(
    tmp_path: Path, catalog_server: tuple[CatalogServer, str]
) -> None:
    """When the refresh fails the stale cache is used, and source and warning say so."""
    state, base_url = catalog_server
    clock = Clock()
    async with aiohttp.ClientSession() as session:
        await load_catalog(base_url=base_url, cache_dir=tmp_path, now=clock, session=session)
        state.status = 503
        clock.now += 3 * DAY
        catalog = await load_catalog(
            base_url=base_url, cache_dir=tmp_path, now=clock, session=session
        )
    assert state.calls == 2
    assert catalog.source == "cache (stale, 3 days old)"
    assert catalog.warning is not None
    assert f"{base_url}/api/models answered HTTP 503: upstream down" in catalog.warning
    assert catalog.get("gpt-image-2") is not None


async def test_a_malformed_answer_also_falls_back_to_the_cache(
    tmp_path: Path, catalog_server: tuple[CatalogServer, str]
) -> None:
    """A 200 with a broken envelope is a failed refresh, not a new (empty) catalog."""
    state, base_url = catalog_server
    clock = Clock()
    await load_catalog(base_url=base_url, cache_dir=tmp_path, now=clock)
    state.document = {"success": True, "items": []}
    clock.now += 2 * DAY
    catalog = await load_catalog(base_url=base_url, cache_dir=tmp_path, now=clock)
    assert catalog.source == "cache (stale, 2 days old)"
    assert catalog.get("gpt-image-2") is not None
    clock.now += 1
    await load_catalog(base_url=base_url, cache_dir=tmp_path, now=clock)
    assert state.calls == 3, "the broken answer must not have been cached"


async def test_a_failed_fetch_without_a_cache_is_a_configuration_error(
    tmp_path: Path, catalog_server: tuple[CatalogServer, str]
) -> None:
    """No catalog and no cache: ConfigurationError naming the URL, and no cache file."""
    state, base_url = catalog_server
    state.status = 500
    with pytest.raises(ConfigurationError, match=f"{base_url}/api/models answered HTTP 500"):
        await load_catalog(base_url=base_url, cache_dir=tmp_path, now=Clock())
    assert list(tmp_path.iterdir()) == []


async def test_a_corrupt_cache_file_is_ignored(
    tmp_path: Path, catalog_server: tuple[CatalogServer, str]
) -> None:
    """A torn or foreign cache file is treated as absent and replaced."""
    state, base_url = catalog_server
    path = cache_path(tmp_path, base_url)
    path.write_text('{"format": 1, "fetched_at": 99')
    catalog = await load_catalog(base_url=base_url, cache_dir=tmp_path, now=Clock())
    assert state.calls == 1
    assert catalog.get("gpt-image-2") is not None
    assert json.loads(path.read_text())["document"] == DOCUMENT


async def test_a_cache_from_the_future_is_refetched(
    tmp_path: Path, catalog_server: tuple[CatalogServer, str]
) -> None:
    """If the clock went back, the cache's age is unknown: fetch again."""
    state, base_url = catalog_server
    clock = Clock()
    await load_catalog(base_url=base_url, cache_dir=tmp_path, now=clock)
    clock.now -= 3600
    await load_catalog(base_url=base_url, cache_dir=tmp_path, now=clock)
    assert state.calls == 2


async def test_an_unwritable_cache_folder_does_not_stop_the_load(
    tmp_path: Path, catalog_server: tuple[CatalogServer, str]
) -> None:
    """The fetched catalog is returned even if it cannot be cached."""
    _, base_url = catalog_server
    blocker = tmp_path / "file"
    blocker.write_text("")
    catalog = await load_catalog(base_url=base_url, cache_dir=blocker / "cache", now=Clock())
    assert catalog.get("gpt-image-2") is not None


def test_cached_or_built_builds_once_per_key(tmp_path: Path) -> None:
    """A catalog that never goes stale under its key is built once, then read back."""
    from batch_gen.pricing.catalog_source import cached_or_built

    calls: list[int] = []

    def build() -> dict[str, object]:
        calls.append(1)
        return {
            "success": True,
            "data": [{"id": "m", "model_type": "image", "pricing": {"per_request": 0.5}}],
        }

    first = cached_or_built("sim://v1", cache_dir=tmp_path, build=build)
    second = cached_or_built("sim://v1", cache_dir=tmp_path, build=build)
    other = cached_or_built("sim://v2", cache_dir=tmp_path, build=build)
    assert len(calls) == 2  # v1 once, v2 once
    assert first.models.keys() == second.models.keys() == other.models.keys() == {"m"}
    assert second.source == "sim://v1 (cached)"
