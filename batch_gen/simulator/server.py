"""A CometAPI-compatible image server (aiohttp.web) for offline runs, tests and benchmarks.

This module assembles the app and runs it. The API routes come from the registry in
:mod:`.apis` (one module per client API: :mod:`.openai_generations`, :mod:`.openai_edits`,
:mod:`.gemini`, :mod:`.midjourney`, :mod:`.flux`, :mod:`.bria`, :mod:`.bria_edit`), then
:mod:`.catalog`'s ``GET /api/models`` (no auth) and ``GET /v1/models``.

Every route goes through :mod:`.gateway`'s admission pipeline: auth by ``Authorization:
Bearer <key>``, bare ``Authorization: <key>`` or ``x-goog-api-key``; the rpm window
(:mod:`.ratelimit`); per-prompt fault scripts and random faults (:mod:`.faults`, on
requests that do upstream work, never on polls); latency; the stats (:mod:`.stats`); an
``x-request-id`` on every answer.

Also here:

- ``GET /files/<token>.<ext>`` — images of ``url`` results (no auth, like a CDN). The
  extension, and the Content-Type derived from it, may not match the real encoding (dall-e-3
  URLs end in ``.webp`` but serve PNG, as CometAPI's rehosting does): clients must sniff.
- ``GET /_sim/stats`` (JSON of :class:`SimStats`) and ``POST /_sim/reset`` — no auth.
- ``GET /`` — a small HTML landing page; any other path or method answers 301 with an HTML
  body and ``Location: /``, as CometAPI does for wrong paths (not a JSON 404).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from types import TracebackType
from typing import Final, Self

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from batch_gen import eager
from batch_gen.simulator import catalog
from batch_gen.simulator.apis import REGISTRY
from batch_gen.simulator.config import SimulatorConfig
from batch_gen.simulator.errors import json_response
from batch_gen.simulator.gateway import PUBLIC, Call, endpoint, envelope_middleware
from batch_gen.simulator.routing import Route, SimApi
from batch_gen.simulator.state import CONFIG_KEY, STATE_KEY, Clock, SimState
from batch_gen.simulator.stats import PromptStats, SimStats, TaskStats, UploadStats

__all__ = [
    "CONFIG_KEY",
    "STATE_KEY",
    "PromptStats",
    "SimStats",
    "Simulator",
    "TaskStats",
    "UploadStats",
    "create_app",
    "serve",
]

_LANDING_HTML: Final = (
    "<!DOCTYPE html>\n<html><head><title>CometAPI simulator</title></head>\n<body>"
    "<h1>batch_gen CometAPI simulator</h1>"
    "<p>POST /v1/images/generations &middot; POST /v1/images/edits &middot; "
    "POST /v1beta/models/{model}:generateContent &middot; /mj/&hellip; &middot; "
    "/flux/v1/&hellip; &middot; /bria/&hellip; &middot; GET /api/models &middot; "
    "GET /_sim/stats &middot; POST /_sim/reset</p>"
    "</body></html>\n"
)


async def _get_file(call: Call) -> web.StreamResponse:
    """An image of a ``url`` result; no auth, not counted."""
    stored = call.state.files.get(call.request.match_info["token"])
    if stored is None:
        return web.Response(status=404, text="Not Found")
    return web.Response(body=stored.data, content_type=stored.content_type)


async def _get_stats(request: web.Request) -> web.StreamResponse:
    return json_response(request.app[STATE_KEY].stats.to_json())


async def _post_reset(request: web.Request) -> web.StreamResponse:
    request.app[STATE_KEY].reset()
    return json_response({"ok": True})


async def _landing(request: web.Request) -> web.StreamResponse:
    return web.Response(text=_LANDING_HTML, content_type="text/html")


_INFRASTRUCTURE: Final = (
    Route("GET", r"/files/{token:[A-Za-z0-9_-]+}.{ext:[a-z]+}", endpoint(PUBLIC, _get_file)),
)


def create_app(
    config: SimulatorConfig | None = None, *, clock: Clock | None = None
) -> web.Application:
    """Build the simulator's application; its state lives in ``app[STATE_KEY]``.

    *clock* (monotonic seconds, default :func:`time.monotonic`) drives task progress and
    expiry, so tests can advance MJ/Flux/Bria tasks without sleeping. The app may be served
    once, by :class:`Simulator`, ``aiohttp_server`` or any runner.
    """
    config = config or SimulatorConfig()
    # Room for multipart edits and base64 references (the default is 1 MiB).
    app = web.Application(middlewares=[envelope_middleware], client_max_size=64 * 1024 * 1024)
    app[CONFIG_KEY] = config
    app[STATE_KEY] = SimState(config) if clock is None else SimState(config, clock=clock)
    for api in REGISTRY.values():
        api.install(app)
    SimApi(routes=(*catalog.ROUTES, *_INFRASTRUCTURE)).install(app)
    app.router.add_get("/_sim/stats", _get_stats)
    app.router.add_post("/_sim/reset", _post_reset)
    app.router.add_get("/", _landing)
    return app


# --------------------------------------------------------------------------------------
# Running it


class Simulator:
    """The simulator listening on ``config.host:config.port`` (port 0 picks a free port) in
    the running event loop, for the duration of an ``async with`` block. Single use.

    *clock* is passed to :func:`create_app` (a fake clock lets tests move tasks along).
    """

    def __init__(
        self, config: SimulatorConfig | None = None, *, clock: Clock | None = None
    ) -> None:
        self.config = config or SimulatorConfig()
        self.app = create_app(self.config, clock=clock)
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._restore: Callable[[], None] | None = None

    async def __aenter__(self) -> Self:
        # A short shutdown grace: handlers sleeping through simulated latency are cancelled
        # quickly instead of holding up the end of a test for a minute.
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._restore = _eager_handlers(asyncio.get_running_loop())
        port = runner.addresses[0][1]
        host = self.config.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        self._base_url = f"http://{host}:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._restore is not None:
            self._restore()
            self._restore = None

    @property
    def base_url(self) -> str:
        """Root URL such as ``http://127.0.0.1:54321`` (append ``/v1`` for OpenAI SDKs)."""
        if self._base_url is None:
            raise RuntimeError("the simulator is not running; use 'async with Simulator()'")
        return self._base_url

    @property
    def stats(self) -> SimStats:
        """Live statistics (the same object for the simulator's whole life)."""
        return self.app[STATE_KEY].stats

    def reset(self) -> None:
        """Clear stats, rpm window, script positions and the RNG, as ``POST /_sim/reset``."""
        self.app[STATE_KEY].reset()


def _eager_handlers(loop: asyncio.AbstractEventLoop) -> Callable[[], None] | None:
    """On Python 3.11, start each request's handler at once, up to its latency's sleep,
    rather than at the event loop's next turn (see :mod:`batch_gen.eager`): a request's
    latency then starts when it arrives, as on Python 3.12. Returns what puts the loop's
    task factory back, or None when nothing was changed."""
    if not eager.NEEDED:
        return None
    previous = loop.get_task_factory()
    loop.set_task_factory(eager.eager_factory([RequestHandler._handle_request], previous))
    return lambda: loop.set_task_factory(previous)


async def serve(config: SimulatorConfig) -> None:
    """Run the simulator until cancelled, printing its URL and expected key once listening.

    What exists once it listens (modules, the app) lives as long as the process: it is
    frozen out of the cyclic collector's sight (``gc.freeze``). Otherwise every full
    collection scans all of it again: 12-25 ms in which no request is answered, once every
    few thousand requests (one a run of the benchmark, 16 ms in the last)."""
    async with Simulator(config) as simulator:
        gc.freeze()
        key = config.api_key if config.api_key is not None else "<any non-empty key>"
        print(f"CometAPI simulator listening on {simulator.base_url}", flush=True)
        print(f"  COMETAPI_BASE_URL={simulator.base_url}", flush=True)
        print(f"  COMETAPI_KEY={key}", flush=True)
        await asyncio.Event().wait()
