"""The admission pipeline: key forms, and the order of its steps (pinned over HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from support import wait_until

from batch_gen.simulator import Simulator, SimulatorConfig, create_app
from batch_gen.simulator.gateway import GATEWAY_KEYS, KeyForm, presented_key
from batch_gen.simulator.state import STATE_KEY
from batch_gen.simulator.stats import SimStats

KEY = "sk-gateway-0123456789"
GOOD = {"Authorization": f"Bearer {KEY}"}
BAD = {"Authorization": "Bearer sk-wrong"}
BODY = {"model": "gpt-image-1", "prompt": "x", "size": "256x256"}


@pytest.mark.parametrize(
    ("headers", "forms", "key"),
    [
        ({"Authorization": "Bearer k"}, GATEWAY_KEYS, "k"),
        ({"Authorization": "bearer  k "}, GATEWAY_KEYS, "k"),
        ({"Authorization": "k"}, GATEWAY_KEYS, "k"),
        ({"x-goog-api-key": "k"}, GATEWAY_KEYS, "k"),
        ({"Authorization": "Bearer a", "x-goog-api-key": "b"}, GATEWAY_KEYS, "a"),
        ({}, GATEWAY_KEYS, ""),
        ({"x-goog-api-key": "k"}, frozenset({KeyForm.BEARER}), ""),
        ({"Authorization": "k"}, frozenset({KeyForm.BEARER}), ""),
    ],
)
def test_presented_key(headers: Mapping[str, str], forms: frozenset[KeyForm], key: str) -> None:
    """An Authorization header, when present, is the only place looked at."""
    assert presented_key(headers, forms) == key


async def _post(
    session: aiohttp.ClientSession,
    sim: Simulator,
    path: str,
    headers: Mapping[str, str],
    *,
    json: Any = None,
    data: bytes | None = None,
) -> tuple[int, Any]:
    async with session.post(f"{sim.base_url}{path}", json=json, data=data, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_refused_keys_and_bodies_take_no_rpm_slot(session: aiohttp.ClientSession) -> None:
    """Order: count the prompt, check the key, refuse a bad body, then the rpm window —
    so a bad key or a bad body is refused without using up the window."""
    config = SimulatorConfig(api_key=KEY, rpm_limit=60, rpm_window=1.0)  # 1 per window
    async with Simulator(config) as sim:
        path = "/v1/images/generations"
        for _ in range(3):
            assert (await _post(session, sim, path, BAD, json=BODY))[0] == 401
        assert (await _post(session, sim, path, BAD, data=b"not json"))[0] == 401
        assert (await _post(session, sim, path, GOOD, data=b"not json"))[0] == 400
        assert sim.stats.rate_limited == 0
        assert sim.stats.requests_for("x") == 3  # counted before the key check
        assert (await _post(session, sim, path, GOOD, json=BODY))[0] == 200
        status, body = await _post(session, sim, path, GOOD, json=BODY)
        assert status == 429
        assert body["error"]["code"] == "rate_limit_exceeded"
        assert sim.stats.rate_limited == 1
        assert sim.stats.total_requests == 7


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/v1/images/generations", {"type": "comet_api_error", "code": "bad_request_body"}),
        ("/flux/v1/flux-dev", {"type": "comet_api_error", "code": "bad_request_body"}),
        ("/bria/text-to-image", {"type": "comet_api_error", "code": "bad_request_body"}),
        (
            "/v1beta/models/gemini-2.5-flash-image:generateContent",
            {"code": 400, "status": "INVALID_ARGUMENT"},
        ),
        ("/mj/submit/imagine", {"description": "bind_request_body_failed ", "code": 4}),
    ],
    ids=["openai", "flux", "bria", "gemini", "midjourney"],
)
async def test_a_bad_body_is_refused_in_the_apis_family(
    session: aiohttp.ClientSession, path: str, shape: Mapping[str, Any]
) -> None:
    async with Simulator(SimulatorConfig(api_key=KEY)) as sim:
        status, body = await _post(session, sim, path, GOOD, data=b"[1, 2]")
    assert status == 400
    fields = body.get("error", body)
    assert {name: fields[name] for name in shape} == shape


@pytest.mark.parametrize(
    "path",
    [
        "/v1/images/generations",
        "/v1/images/edits",
        "/v1beta/models/gemini-2.5-flash-image:generateContent",
        "/mj/submit/imagine",
        "/mj-relax/mj/submit/action",
        "/flux/v1/flux-dev",
        "/bria/text-to-image",
        "/bria/image/edit/erase",
    ],
)
async def test_every_api_route_answers_401_in_the_cometapi_envelope(
    session: aiohttp.ClientSession, path: str
) -> None:
    async with Simulator(SimulatorConfig(api_key=KEY)) as sim:
        status, body = await _post(session, sim, path, BAD, json={"prompt": "x"})
        assert sim.stats.total_requests == 1
    assert status == 401
    assert body["error"]["type"] == "comet_api_error"


async def test_public_routes_need_no_key_and_are_not_counted(
    session: aiohttp.ClientSession,
) -> None:
    async with Simulator(SimulatorConfig(api_key=KEY, rpm_limit=1, rpm_window=60)) as sim:
        for _ in range(3):
            async with session.get(f"{sim.base_url}/api/models") as response:
                assert response.status == 200
        async with session.get(f"{sim.base_url}/mj/image/123") as response:
            assert response.status == 400
        assert sim.stats.total_requests == 0
        assert sim.stats.by_status == {}


GEMINI = "/v1beta/models/gemini-2.5-flash-image:generateContent"


async def _hang_up(session: aiohttp.ClientSession, url: str, body: Any, stats: SimStats) -> None:
    """Send *body* to *url*, and go away once the server is working on it."""
    sending = asyncio.ensure_future(session.post(url, json=body, headers=GOOD))
    assert await wait_until(lambda: stats.in_flight > 0, within=5.0)
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending


@pytest.mark.parametrize("cancels", [True, False], ids=["handler-cancelled", "handler-runs-on"])
@pytest.mark.parametrize(
    ("path", "body", "script", "billed"),
    [
        ("/v1/images/generations", {**BODY, "prompt": "hang", "n": 2}, "ok", 2),
        ("/v1/images/generations", {**BODY, "prompt": "hang", "n": 2}, "504", 2),
        ("/v1/images/generations", {**BODY, "prompt": "hang", "n": 2}, "truncate", 2),
        ("/v1/images/generations", {**BODY, "prompt": "hang", "n": 2}, "500", 0),
        ("/v1/images/generations", {**BODY, "prompt": "hang", "n": 2}, "503", 0),
        (GEMINI, {"contents": [{"parts": [{"text": "hang"}]}]}, "ok", 1),
        ("/flux/v1/flux-dev", {"prompt": "hang"}, "ok", 1),
        ("/bria/text-to-image", {"prompt": "hang", "num_results": 2}, "ok", 2),
        ("/mj/submit/imagine", {"prompt": "hang"}, "ok", 1),
    ],
)
async def test_a_client_hanging_up_mid_request_is_billed(
    session: aiohttp.ClientSession,
    path: str,
    body: Any,
    script: str,
    billed: int,
    *,
    cancels: bool,
) -> None:
    """The gateway finishes (and charges) work a client abandoned while it was under way,
    whether the server cancels the abandoned handler or lets it run to the end; refusals
    that cost nothing stay free."""
    config = SimulatorConfig(api_key=KEY, latency=0.3, scripts={"hang": [script]})
    app = create_app(config)
    runner = web.AppRunner(app, handler_cancellation=cancels, shutdown_timeout=0.1)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        stats = app[STATE_KEY].stats
        await _hang_up(session, f"http://127.0.0.1:{port}{path}", body, stats)
        assert await wait_until(lambda: stats.in_flight == 0, within=5.0)
        assert stats.billed_for("hang") == billed
        assert stats.requests_for("hang") == 1
    finally:
        await runner.cleanup()
