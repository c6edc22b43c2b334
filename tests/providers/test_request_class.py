"""The request class of a run's session: the same bytes on the wire as aiohttp's own, for
every kind of body, and (on Python 3.11) on the socket before the event loop turns."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from batch_gen import eager
from batch_gen.providers.http import request_class

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Received:
    """What a raw loopback server was sent, request by request, and in which turn of the
    event loop each request was whole."""

    requests: list[bytes] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)
    turn: int = 0


class _Server(asyncio.Protocol):
    """Keeps each request's bytes (headers and a Content-Length body) and answers ``ok``."""

    def __init__(self, received: Received) -> None:
        self.received = received
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].decode("latin-1").lower()
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name == "content-length":
                    length = int(value)
            whole = end + 4 + length
            if len(self.buffer) < whole:
                return
            request, self.buffer = self.buffer[:whole], self.buffer[whole:]
            self.received.requests.append(request)
            self.received.turns.append(self.received.turn)
            assert self.transport is not None
            self.transport.write(ANSWER)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Received]]:
    received = Received()
    loop = asyncio.get_running_loop()
    listening = await loop.create_server(lambda: _Server(received), "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        listening.close()
        await listening.wait_closed()


BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "json": lambda: {"json": {"prompt": "a red fox", "n": 1}},
    "bytes": lambda: {"data": b'{"prompt": "a red fox"}'},
    "no body": lambda: {},
    # Read on a thread in chunks: the writer suspends, and a task finishes it.
    "file-like, 4 MB": lambda: {"data": io.BytesIO(bytes(range(256)) * (16 * 1024))},
}


async def _send(url: str, cls: type[aiohttp.ClientRequest], **body: Any) -> None:
    headers = {"Authorization": "Bearer sk-test", "User-Agent": "test"}
    async with aiohttp.ClientSession(request_class=cls, headers=headers) as session:
        method = "GET" if not body else "POST"
        async with session.request(method, f"{url}/v1/images/generations", **body) as answer:
            assert await answer.read() == b"ok"


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
async def test_the_bytes_sent_are_aiohttps_own(
    server: tuple[str, Received], body: Callable[[], dict[str, Any]]
) -> None:
    url, received = server
    await _send(url, aiohttp.ClientRequest, **body())
    await _send(url, request_class(), **body())
    assert len(received.requests) == 2
    theirs, ours = received.requests
    assert ours == theirs


@pytest.mark.skipif(not eager.NEEDED, reason="aiohttp starts the writer at once itself")
async def test_a_request_is_on_the_socket_a_turn_sooner_than_with_aiohttps_own(
    server: tuple[str, Received],
) -> None:
    url, received = server
    loop = asyncio.get_running_loop()
    ticking = True

    def tick() -> None:
        received.turn += 1
        if ticking:
            loop.call_soon(tick)

    async def turns_until_received(cls: type[aiohttp.ClientRequest]) -> int:
        async with aiohttp.ClientSession(request_class=cls) as session:
            async with session.post(f"{url}/warm", data=b"x") as answer:  # pooled after
                await answer.read()
            started = received.turn
            async with session.post(f"{url}/timed", data=b'{"prompt": "p"}') as answer:
                await answer.read()
            return received.turns[-1] - started

    loop.call_soon(tick)
    try:
        theirs = await turns_until_received(aiohttp.ClientRequest)
        ours = await turns_until_received(request_class())
    finally:
        ticking = False
    assert ours < theirs
