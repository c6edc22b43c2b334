"""A small HTTP forward proxy on loopback for the tests that check proxies are honoured:
it takes absolute-URI requests (as clients send them to a proxy), forwards them, and logs
each one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "proxy-authorization"}


@asynccontextmanager
async def forward_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP forward proxy on loopback: it takes absolute-URI requests, forwards them,
    and logs ``METHOD path`` of each. Yields its URL and the log."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with (
            aiohttp.ClientSession() as client,
            client.request(
                request.method,
                str(request.url),
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as upstream,
        ):
            body = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            kept.pop("Content-Encoding", None)
            return web.Response(status=upstream.status, body=body, headers=kept)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", forward)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/"), seen
