"""The HTTP edge: which proxy a URL goes through, failures to connect as ConnectError
(nothing sent), and a redirect as a wrong base URL that says what to change."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.test_utils import TestServer
from support import API_KEY

from batch_gen.errors import ConnectError, FatalProviderError, TransportError
from batch_gen.providers.answers import base_url_advice, error_from_response
from batch_gen.providers.base import Call, Endpoint
from batch_gen.providers.http import Proxies, exchange, transport_errors

CALL = Call("POST", "/v1/images/generations", "request", json={"prompt": "p"})


@pytest.mark.parametrize(
    ("environ", "url", "proxy"),
    [
        ({}, "https://api.cometapi.com/v1/x", None),
        (
            {"HTTPS_PROXY": "http://proxy:3128"},
            "https://api.cometapi.com/v1/x",
            "http://proxy:3128",
        ),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "http://cdn.test/a.png", None),  # http: own variable
        ({"HTTP_PROXY": "proxy:8080"}, "http://cdn.test/a.png", "http://proxy:8080"),
        # The lower-case name wins, as curl and urllib read them.
        (
            {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2"},
            "https://a.test/",
            "http://low:1",
        ),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, "https://a.test/", None),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "cometapi.com"},
            "https://api.cometapi.com/",
            None,
        ),
        (
            {"HTTPS_PROXY": "http://p:1", "no_proxy": ".cometapi.com"},
            "https://api.cometapi.com/",
            None,
        ),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "cometapi.com"},
            "https://notcometapi.com/",
            "http://p:1",
        ),
        (
            {"HTTP_PROXY": "http://p:1", "NO_PROXY": "a.test, 127.0.0.1"},
            "http://127.0.0.1:9/",
            None,
        ),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "127.0.0.1:9"}, "http://127.0.0.1:9/", None),
        (
            {"HTTP_PROXY": "http://p:1", "NO_PROXY": "127.0.0.1:8"},
            "http://127.0.0.1:9/",
            "http://p:1",
        ),
        # Loopback is proxied unless NO_PROXY names it, as pip and requests do.
        ({"HTTP_PROXY": "http://p:1"}, "http://127.0.0.1:9/", "http://p:1"),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "::1"}, "http://[::1]:9/", None),
        ({"HTTP_PROXY": "  "}, "http://a.test/", None),  # blank is unset
    ],
)
def test_the_proxy_of_a_url(environ: dict[str, str], url: str, proxy: str | None) -> None:
    assert Proxies.from_environ(environ).for_url(url) == proxy


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: bound, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_refused_connection_is_a_connect_error_naming_the_host(
    session: aiohttp.ClientSession, closed_port: int
) -> None:
    endpoint = Endpoint(f"http://127.0.0.1:{closed_port}", API_KEY)
    with pytest.raises(ConnectError) as caught:
        await exchange(session, endpoint, CALL)
    error = caught.value
    assert (error.host, error.reason) == (f"127.0.0.1:{closed_port}", "connection refused")
    assert error.message == f"request: cannot reach 127.0.0.1:{closed_port}: connection refused"
    assert error.retryable
    assert not error.ambiguous
    assert not error.through_proxy


async def test_an_unreachable_proxy_is_named_as_the_proxy(
    session: aiohttp.ClientSession, closed_port: int
) -> None:
    endpoint = Endpoint("http://api.test", API_KEY)
    with pytest.raises(ConnectError) as caught:
        await exchange(session, endpoint, CALL, proxy=f"http://127.0.0.1:{closed_port}")
    assert caught.value.host == f"the proxy 127.0.0.1:{closed_port}"
    assert caught.value.through_proxy


def _raised_in_transport_errors(exc: BaseException, **where: Any) -> TransportError:
    with pytest.raises(TransportError) as caught, transport_errors(secret=API_KEY, **where):
        raise exc
    return caught.value


def test_a_name_that_does_not_resolve_is_a_connect_error() -> None:
    """As aiohttp reports a failed DNS lookup (no lookup is made here)."""
    key = ConnectionKey("nowhere.invalid", 443, True, True, None, None, None)
    failure = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    error = _raised_in_transport_errors(
        aiohttp.ClientConnectorDNSError(key, failure), url="https://nowhere.invalid/v1/x"
    )
    assert isinstance(error, ConnectError)
    assert error.host == "nowhere.invalid:443"
    assert error.reason == "DNS lookup failed: name or service not known"


def test_a_connect_timeout_is_a_connect_error_and_a_read_timeout_is_not() -> None:
    connect = _raised_in_transport_errors(
        aiohttp.ConnectionTimeoutError("Connection timeout"), url="https://api.test/v1/x"
    )
    assert isinstance(connect, ConnectError)
    assert (connect.host, connect.reason) == ("api.test:443", "timed out connecting")
    read = _raised_in_transport_errors(TimeoutError(), url="https://api.test/v1/x")
    assert not isinstance(read, ConnectError)
    assert read.ambiguous  # it was sent: it may have been billed


@pytest.mark.parametrize(
    ("base_url", "advice"),
    [
        ("https://api.cometapi.com", "check --base-url / COMETAPI_BASE_URL"),
        ("https://api.cometapi.com/api", "check --base-url / COMETAPI_BASE_URL"),
        (
            "https://api.cometapi.com/v1/",
            "the base URL https://api.cometapi.com/v1 ends in /v1, which batch_gen adds itself:"
            " use https://api.cometapi.com (--base-url / COMETAPI_BASE_URL)",
        ),
        (None, "check --base-url / COMETAPI_BASE_URL"),
    ],
)
def test_what_a_redirect_advises(base_url: str | None, advice: str) -> None:
    assert base_url_advice(base_url) == advice
    error = error_from_response(
        301, {"Location": "/"}, b"<html>moved</html>", secret=None, base_url=base_url
    )
    assert type(error) is FatalProviderError
    assert error.message == f"the API answered with a redirect to /; {advice}"


async def test_a_redirect_from_a_base_url_ending_in_v1_says_to_drop_it(
    session: aiohttp.ClientSession,
) -> None:
    """Every API's call raises the redirect itself, where the base URL is known."""

    async def moved(request: web.Request) -> web.Response:
        return web.Response(status=301, headers={"Location": "/"}, text="<html>moved</html>")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", moved)
    async with TestServer(app) as server:
        endpoint = Endpoint(str(server.make_url("/v1")), API_KEY)
        with pytest.raises(FatalProviderError, match=r"ends in /v1.*: use http://") as caught:
            await exchange(session, endpoint, CALL)
    assert caught.value.status == 301
