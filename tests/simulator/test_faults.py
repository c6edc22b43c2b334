"""Injected faults: which one a request meets, the error it answers in each family, and
what is enacted (and billed) before the route could answer."""

from __future__ import annotations

import asyncio
import random

import pytest

from batch_gen.simulator.config import Fault, SimulatorConfig
from batch_gen.simulator.errors import (
    Answered,
    ApiError,
    CometError,
    ErrorFamily,
    GoogleError,
    MjError,
)
from batch_gen.simulator.faults import FaultScripts, enact, fault_error

COMET, GOOGLE, MJ = ErrorFamily.COMET, ErrorFamily.GOOGLE, ErrorFamily.MJ


@pytest.mark.parametrize(
    ("fault", "family", "kind", "status"),
    [
        (Fault.UNAUTHORIZED, COMET, CometError, 401),
        (Fault.UNAUTHORIZED, GOOGLE, CometError, 401),
        (Fault.UNAUTHORIZED, MJ, CometError, 401),
        (Fault.RATE_LIMIT, COMET, CometError, 429),
        (Fault.RATE_LIMIT, GOOGLE, GoogleError, 429),
        (Fault.RATE_LIMIT, MJ, MjError, 429),
        (Fault.SERVER_ERROR, COMET, CometError, 500),
        (Fault.SERVER_ERROR, GOOGLE, GoogleError, 500),
        (Fault.SERVER_ERROR, MJ, CometError, 500),
        (Fault.INVALID_REQUEST_500, GOOGLE, CometError, 500),
        (Fault.UNAVAILABLE, GOOGLE, GoogleError, 503),
        (Fault.GATEWAY_TIMEOUT, GOOGLE, GoogleError, 504),
        (Fault.GATEWAY_TIMEOUT, MJ, CometError, 504),
    ],
)
def test_fault_errors_by_family(
    fault: Fault, family: ErrorFamily, kind: type[ApiError], status: int
) -> None:
    """401 and 500 invalid_request always come from the gateway; Gemini's 429/5xx are
    Google's; Midjourney's 429 is new-api's code 30."""
    error = fault_error(fault, family, SimulatorConfig(retry_after_seconds=2))
    assert type(error) is kind
    assert error.status == status
    if status == 429:
        assert error.headers == {"Retry-After": "2"}
    if isinstance(error, MjError):
        assert error.code == 30


def test_scripts_come_first_then_ok() -> None:
    scripts = FaultScripts(SimulatorConfig(scripts={"boat": ["500", "drop"]}, p503=1.0))
    rng = random.Random(0)
    steps = [scripts.next("a paper boat", rng) for _ in range(3)]
    assert steps == [Fault.SERVER_ERROR, Fault.DROP, Fault.OK]
    assert scripts.next("a cloud", rng) is Fault.UNAVAILABLE  # no script: the draw
    scripts.clear()
    assert scripts.next("a paper boat", rng) is Fault.SERVER_ERROR


class _Probe:
    """Records what enact asked for."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def delay(self) -> float:
        self.events.append("delay")
        return 0.0

    def bill(self) -> None:
        self.events.append("bill")

    def close(self) -> None:
        self.events.append("close")


@pytest.mark.parametrize(
    ("fault", "raised", "events"),
    [
        (Fault.UNAUTHORIZED, ApiError, []),
        (Fault.RATE_LIMIT, ApiError, []),
        (Fault.SERVER_ERROR, ApiError, ["delay"]),
        (Fault.GATEWAY_TIMEOUT, ApiError, ["delay", "bill"]),
        (Fault.CLOUDFLARE_TIMEOUT, Answered, ["delay", "bill"]),
        (Fault.DROP, Answered, ["delay", "bill", "close"]),
        (Fault.OK, None, ["delay"]),
        (Fault.TRUNCATE, None, ["delay"]),
        (Fault.BAD_B64, None, ["delay"]),
    ],
)
async def test_enact_order(fault: Fault, raised: type[Exception] | None, events: list[str]) -> None:
    """401/429 answer at once (no latency drawn); the rest wait first; the ambiguous ones
    are billed; the rest are returned for the route to finish."""
    probe = _Probe()
    config = SimulatorConfig()
    run = enact(
        fault,
        family=COMET,
        config=config,
        delay=probe.delay,
        bill=probe.bill,
        close=probe.close,
    )
    if raised is None:
        assert await run is fault
    else:
        with pytest.raises(raised):
            await run
    assert probe.events == events


@pytest.mark.parametrize(
    ("fault", "billed"),
    [
        (Fault.OK, True),
        (Fault.SERVER_ERROR, False),
        (Fault.INVALID_REQUEST_500, False),
        (Fault.UNAVAILABLE, False),
        (Fault.GATEWAY_TIMEOUT, True),
        (Fault.CLOUDFLARE_TIMEOUT, True),
        (Fault.DROP, True),
        (Fault.TRUNCATE, True),
        (Fault.BAD_B64, True),
    ],
)
async def test_enact_cancelled_during_the_latency_bills_what_would_be_charged(
    fault: Fault, billed: bool
) -> None:
    """A client that hangs up while the work is under way upstream is charged for it,
    exactly when the answer it would have got is charged; the cancellation goes on."""
    probe = _Probe()
    run = asyncio.ensure_future(
        enact(
            fault,
            family=COMET,
            config=SimulatorConfig(),
            delay=lambda: 30.0,
            bill=probe.bill,
            close=probe.close,
        )
    )
    await asyncio.sleep(0.01)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert probe.events == (["bill"] if billed else [])
