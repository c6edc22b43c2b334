"""A headless Chromium for tests, driven through the DevTools protocol over a websocket
(aiohttp's client: no new dependency).

:func:`launch` starts Debian's ``chromium`` (or ``$BATCH_GEN_CHROMIUM``) once; each test
connects with :class:`DevTools`, opens pages and drives them with real key presses and
mouse clicks. When no Chromium is installed the browser tests fail with a message saying
how to install it; they are skipped only when ``BATCH_GEN_SKIP_BROWSER_TESTS=1`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

SKIP_VARIABLE = "BATCH_GEN_SKIP_BROWSER_TESTS"
BINARY_VARIABLE = "BATCH_GEN_CHROMIUM"
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str:
    """The Chromium binary to use; fails the test (or skips it, when asked to) if none."""
    chosen = os.environ.get(BINARY_VARIABLE)
    found = shutil.which(chosen) if chosen else next(filter(None, map(shutil.which, _NAMES)), None)
    if found:
        return found
    message = (
        "the browser tests need headless Chromium, and none was found"
        + (f" at ${BINARY_VARIABLE}={chosen!r}" if chosen else f" ({', '.join(_NAMES)})")
        + ": install it (`make chromium`: Debian's chromium package; .ci/run does this), or set "
        f"{SKIP_VARIABLE}=1 to skip these tests on purpose"
    )
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(message)
    pytest.fail(message)


@dataclass
class Chromium:
    """A running headless Chromium: ``port`` serves DevTools, ``socket`` is the browser's
    own endpoint path."""

    process: subprocess.Popen[bytes]
    port: int
    socket: str

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.socket}"


@contextlib.contextmanager
def launch(*, width: int = 1280, height: int = 900) -> Iterator[Chromium]:
    """Start headless Chromium with a fresh profile; stop it (and the profile) afterwards."""
    binary = find_chromium()
    with tempfile.TemporaryDirectory(prefix="batch-gen-chromium-") as profile:
        process = subprocess.Popen(
            [
                binary,
                "--headless",
                "--disable-gpu",
                "--no-sandbox",  # tests run as root in CI containers
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port, socket = _wait_for_port(Path(profile) / "DevToolsActivePort", process)
            yield Chromium(process, port, socket)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_port(path: Path, process: subprocess.Popen[bytes]) -> tuple[int, str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited at start with status {process.returncode}")
        with contextlib.suppress(OSError, ValueError):
            lines = path.read_text().split("\n")
            if len(lines) >= 2 and lines[1]:
                return int(lines[0]), lines[1]
        time.sleep(0.05)
    raise RuntimeError("chromium did not open its DevTools port within 30 s")


class ProtocolError(Exception):
    """A DevTools command failed, or the page threw."""


@dataclass
class _Waiter:
    method: str
    future: asyncio.Future[dict[str, Any]]
    session: str | None


@dataclass
class DevTools:
    """One websocket connection to the browser; pages are attached as flat sessions."""

    socket: aiohttp.ClientWebSocketResponse
    events: list[tuple[str | None, str, dict[str, Any]]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _waiters: list[_Waiter] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None
    _targets: list[str] = field(default_factory=list)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, browser: Chromium) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(browser.url, max_msg_size=0) as socket,
        ):
            tools = cls(socket)
            tools._reader = asyncio.create_task(tools._read())
            try:
                yield tools
            finally:
                for target in tools._targets:
                    with contextlib.suppress(ProtocolError, asyncio.TimeoutError):
                        await tools.send("Target.closeTarget", {"targetId": target})
                tools._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await tools._reader

    async def _read(self) -> None:
        async for message in self.socket:
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
                continue
            session, method = data.get("sessionId"), data.get("method", "")
            params = data.get("params", {})
            self.events.append((session, method, params))
            for waiter in list(self._waiters):
                if waiter.method == method and waiter.session in (None, session):
                    self._waiters.remove(waiter)
                    if not waiter.future.done():
                        waiter.future.set_result(params)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None
    ) -> dict[str, Any]:
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[number] = future
        await self.socket.send_str(json.dumps(message))
        answer = await asyncio.wait_for(future, 60)
        if "error" in answer:
            raise ProtocolError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def until(self, method: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Wait for an event ``method`` for which ``done`` holds, looking at every such
        event received since the connection opened (none can slip by between two waits).
        Bound it with ``asyncio.timeout``."""
        seen = 0
        while True:
            matching = [params for _, name, params in self.events if name == method]
            for params in matching[seen:]:
                if done(params):
                    return params
            seen = len(matching)
            await asyncio.sleep(0.05)

    def expect(self, method: str, *, session: str | None = None) -> asyncio.Future[dict[str, Any]]:
        """A future for the next event ``method``: ask before causing the event."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(method, future, session))
        return future

    async def new_page(self) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        self._targets.append(target["targetId"])
        for domain in ("Page", "Runtime", "Network", "Log"):
            await page.send(f"{domain}.enable")
        # Key presses reach only a focused page: a headless tab is not one until told.
        await page.send("Emulation.setFocusEmulationEnabled", {"enabled": True})
        await page.send("Page.bringToFront")
        return page


_KEYS = {
    "Enter": ("Enter", 13, "\r"),
    "Escape": ("Escape", 27, ""),
    "ArrowRight": ("ArrowRight", 39, ""),
    "ArrowLeft": ("ArrowLeft", 37, ""),
    "ArrowDown": ("ArrowDown", 40, ""),
    "ArrowUp": ("ArrowUp", 38, ""),
    "End": ("End", 35, ""),
    "Home": ("Home", 36, ""),
}


@dataclass
class Page:
    tools: DevTools
    session: str

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.tools.send(method, params, session=self.session)

    async def open(self, url: str) -> None:
        loaded = self.tools.expect("Page.loadEventFired", session=self.session)
        await self.send("Page.navigate", {"url": url})
        await asyncio.wait_for(loaded, 60)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        answer = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in answer:
            raise ProtocolError(f"{expression!r} threw: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, *, within: float = 10) -> Any:
        """Poll until the expression is truthy; return its value."""
        deadline = time.monotonic() + within
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"still false after {within} s: {expression}")
            await asyncio.sleep(0.05)

    async def press(self, key: str) -> None:
        """A real key press: ``"x"``, ``"/"``, or a name of :data:`_KEYS`."""
        name, code, text = _KEYS[key] if key in _KEYS else (key, ord(key.upper()), key)
        down = {"key": name, "windowsVirtualKeyCode": code, "text": text}
        await self.send("Input.dispatchKeyEvent", {"type": "keyDown", **down})
        await self.send(
            "Input.dispatchKeyEvent", {"type": "keyUp", "key": name, "windowsVirtualKeyCode": code}
        )

    async def type(self, text: str) -> None:
        await self.send("Input.insertText", {"text": text})

    async def click(self, selector: str) -> None:
        """A real mouse click at the middle of the first element ``selector`` matches."""
        box = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'nearest'});"
            " const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        if box is None:
            raise AssertionError(f"nothing matches {selector}")
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1},
            )

    def problems(self) -> list[str]:
        """Exceptions, console errors and browser log errors (e.g. a CSP refusal) so far."""
        found = []
        for session, method, params in self.tools.events:
            if session != self.session:
                continue
            if method == "Runtime.exceptionThrown":
                found.append(str(params["exceptionDetails"]))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(str(params.get("args")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(str(params["entry"]))
        return found

    def requested(self) -> list[str]:
        """Every URL the page asked the network stack for."""
        return [
            params["request"]["url"]
            for session, method, params in self.tools.events
            if session == self.session and method == "Network.requestWillBeSent"
        ]
