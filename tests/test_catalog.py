"""The model catalog: parsing, suggestions, presentation, fetching and the per-URL cache."""

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

from batch_gen.catalog import (
    Catalog,
    ModelInfo,
    Pricing,
    cache_path,
    check_models,
    decode_answer,
    default_cache_dir,
    describe_age,
    fetch_catalog,
    format_models,
    format_price,
    format_usd,
    load_catalog,
    models_to_json,
    parse_catalog,
    unknown_models,
)
from batch_gen.errors import ConfigurationError

AiohttpServer = Callable[[web.Application], Awaitable[TestServer]]
DAY = 86400.0

GPT_IMAGE_2 = {
    "id": "gpt-image-2",
    "provider": "OpenAI",
    "model_type": "image",
    "features": ["text-to-image"],
    "pricing": {
        "currency": "USD / M Tokens",
        "input": 4,
        "output": 24,
        "per_request": None,
        "per_second": None,
    },
    "api_doc_url": "https://apidoc.cometapi.com/api/image/openai/images",
}
MJ = {
    "id": "mj_fast_imagine",
    "provider": "Midjourney",
    "model_type": "image",
    "features": ["text-to-image"],
    "pricing": {"currency": "USD", "input": None, "output": None, "per_request": "0.168"},
    "api_doc_url": None,
    "released": "2025-01-01",  # an unknown field: ignored
}
CHAT = {"id": "gpt-5", "model_type": "text"}  # optional fields missing
DOCUMENT = {"success": True, "page": 0, "page_size": 0, "total": 3, "data": [GPT_IMAGE_2, MJ, CHAT]}


def _catalog(*records: object) -> Catalog:
    return parse_catalog({"success": True, "data": list(records)}, fetched_at=0.0, source="test")


# --- parsing ------------------------------------------------------------------------------


def test_parse_reads_every_field_of_a_full_record() -> None:
    """A record as CometAPI documents it becomes a ModelInfo with per-million token prices."""
    catalog = parse_catalog(DOCUMENT, fetched_at=5.0, source="https://x/api/models")
    assert catalog.get("gpt-image-2") == ModelInfo(
        id="gpt-image-2",
        provider="OpenAI",
        model_type="image",
        features=("text-to-image",),
        pricing=Pricing("USD / M Tokens", 4.0, 24.0, None, None),
        api_doc_url="https://apidoc.cometapi.com/api/image/openai/images",
    )
    assert (catalog.fetched_at, catalog.source) == (5.0, "https://x/api/models")


def test_parse_tolerates_missing_fields_extra_fields_and_string_prices() -> None:
    """Missing optional fields get empty values; numeric strings are prices; extras are ignored."""
    catalog = parse_catalog(DOCUMENT, fetched_at=0.0, source="test")
    assert catalog.get("gpt-5") == ModelInfo("gpt-5", "", "text", (), None, None)
    mj = catalog.get("mj_fast_imagine")
    assert mj is not None
    assert mj.pricing == Pricing("USD", None, None, 0.168, None)  # per_second absent


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (4, 4.0),
        (0.5, 0.5),
        ("24", 24.0),
        (" 0.168 ", 0.168),
        ("$1.5", 1.5),
        (0, 0.0),
        (None, None),
        ("", None),
        ("free", None),
        (True, None),
        (-1, None),
        ("nan", None),
        ("inf", None),
        ([4], None),
    ],
)
def test_price_values(raw: object, expected: float | None) -> None:
    """Prices are numbers or numeric strings; anything else, negative or non-finite is None."""
    catalog = _catalog({"id": "m", "pricing": {"per_request": raw}})
    info = catalog.get("m")
    assert info is not None
    assert info.pricing is not None
    assert info.pricing.per_request == expected


def test_parse_skips_records_it_cannot_identify_and_keeps_the_first_duplicate() -> None:
    """Records without a string id are skipped; of two records with one id the first wins."""
    catalog = _catalog(
        {"id": "a", "provider": "first"},
        {"id": "a", "provider": "second"},
        {"id": 7},
        {"provider": "no id"},
        "not a record",
        {"id": "  "},
        {"id": "b", "features": "not-a-list", "pricing": "not-a-dict"},
    )
    assert sorted(catalog.models) == ["a", "b"]
    assert catalog.models["a"].provider == "first"
    assert catalog.models["b"].features == ()
    assert catalog.models["b"].pricing is None


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ([GPT_IMAGE_2], "not a JSON object (got list)"),
        ("<html>", "not a JSON object (got str)"),
        (None, "not a JSON object (got NoneType)"),
        ({"success": False, "message": "maintenance"}, "reported failure: maintenance"),
        ({"success": False}, "reported failure: no reason given"),
        ({"success": True}, "has no 'data' list"),
        ({"success": True, "data": {"id": "x"}}, "has no 'data' list"),
    ],
)
def test_a_malformed_envelope_is_a_configuration_error(document: object, fragment: str) -> None:
    """A wrong envelope raises ConfigurationError naming where the catalog came from."""
    with pytest.raises(ConfigurationError) as caught:
        parse_catalog(document, fetched_at=0.0, source="https://h/api/models")
    assert fragment in str(caught.value)
    assert "https://h/api/models" in str(caught.value)


def test_an_empty_data_list_is_an_empty_catalog() -> None:
    """No models is odd but well-formed; checking ids against it reports every id."""
    catalog = parse_catalog({"success": True, "data": []}, fetched_at=0.0, source="t")
    assert catalog.models == {}
    assert check_models(["gpt-image-2"], catalog) == [
        "unknown model 'gpt-image-2': not in the model catalog"
    ]


# --- suggestions and checks ------------------------------------------------------------------

IDS = ["gpt-image-2", "gpt-image-1.5", "dall-e-3", "mj_fast_imagine", "flux-pro-1.1", "qwen-image"]


@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [
        ("gpt-image2", "gpt-image-2"),
        ("GPT-IMAGE-2", "gpt-image-2"),
        ("gpt_image_2", "gpt-image-2"),
        ("dalle-3", "dall-e-3"),
        ("mj-fast-imagine", "mj_fast_imagine"),
        ("flux-pro-1.1-ultr", "flux-pro-1.1"),
        ("qwen-img", "qwen-image"),
        ("stable-diffusion-xl", None),
        ("", None),
    ],
)
def test_suggest(typed: str, suggestion: str | None) -> None:
    """The closest id ignoring case, or None when nothing is close."""
    catalog = _catalog(*({"id": model_id} for model_id in IDS))
    assert catalog.suggest(typed) == suggestion


def test_unknown_models_lists_each_unknown_id_once_with_its_suggestion() -> None:
    """Known and empty ids pass; each unknown id appears once, in first-seen order."""
    catalog = _catalog(*({"id": model_id} for model_id in IDS))
    ids = ["gpt-image-2", "gpt-image2", "", "sdxl", "gpt-image2", "dall-e-3"]
    assert unknown_models(ids, catalog) == [("gpt-image2", "gpt-image-2"), ("sdxl", None)]
    assert check_models(ids, catalog) == [
        "unknown model 'gpt-image2': not in the model catalog; did you mean 'gpt-image-2'?",
        "unknown model 'sdxl': not in the model catalog",
    ]


def test_of_type_filters_ignoring_case_and_sorts_by_id() -> None:
    """of_type('image') keeps image models sorted by id; None keeps every model."""
    catalog = parse_catalog(DOCUMENT, fetched_at=0.0, source="t")
    assert [m.id for m in catalog.of_type("IMAGE")] == ["gpt-image-2", "mj_fast_imagine"]
    assert [m.id for m in catalog.of_type(None)] == ["gpt-5", "gpt-image-2", "mj_fast_imagine"]
    assert catalog.of_type("video") == []


# --- presentation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "$0.00"),
        (1.234, "$1.23"),
        (4, "$4.00"),
        (1234.5, "$1,234.50"),
        (0.5, "$0.50"),
        (0.168, "$0.168"),
        (0.1, "$0.10"),
        (0.04224, "$0.0422"),
        (0.004, "$0.004"),
        (0.000012, "$0.000012"),
        (0.9999, "$1.00"),
        (-0.5, "-$0.50"),
        (float("nan"), "$nan"),
    ],
)
def test_format_usd(amount: float, text: str) -> None:
    """Cents above a dollar; three significant digits below, so small prices stay visible."""
    assert format_usd(amount) == text


@pytest.mark.parametrize(
    ("pricing", "text"),
    [
        (None, "—"),
        (Pricing("USD / M Tokens", 4, 24, None, None), "$4.00 / $24.00 per 1M in/out tokens"),
        (Pricing("USD", None, None, 0.168, None), "$0.168 per request"),
        (Pricing("", None, 40, None, None), "— / $40.00 per 1M in/out tokens"),
        (Pricing("USD", None, None, None, 0.1), "$0.10 per second"),
        (Pricing("USD", None, None, None, None), "—"),
        (Pricing("CNY", None, None, 1.2, None), "1.2 per request (CNY)"),
    ],
)
def test_format_price(pricing: Pricing | None, text: str) -> None:
    """One line per model: per request, per 1M tokens in/out, per second, or a dash."""
    assert format_price(pricing) == text


def test_format_models_aligns_columns() -> None:
    """A header and one row per model, columns padded to the widest cell."""
    catalog = parse_catalog(DOCUMENT, fetched_at=0.0, source="t")
    assert format_models(catalog.of_type("image")) == (
        "ID               TYPE   PROVIDER    PRICE\n"
        "gpt-image-2      image  OpenAI      $4.00 / $24.00 per 1M in/out tokens\n"
        "mj_fast_imagine  image  Midjourney  $0.168 per request"
    )
    assert format_models([]) == "no models"


def test_models_to_json_round_trips_through_json() -> None:
    """--json output uses the dataclass field names and is plain JSON."""
    catalog = parse_catalog(DOCUMENT, fetched_at=0.0, source="t")
    document = json.loads(json.dumps(models_to_json(catalog.of_type(None))))
    assert document[0] == {
        "id": "gpt-5",
        "provider": "",
        "model_type": "text",
        "features": [],
        "pricing": None,
        "api_doc_url": None,
    }
    assert document[1]["pricing"] == {
        "currency": "USD / M Tokens",
        "input_per_million": 4.0,
        "output_per_million": 24.0,
        "per_request": None,
        "per_second": None,
    }


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
    from batch_gen.catalog import cached_or_built

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
