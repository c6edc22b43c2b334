"""Stopping and admission: when a run stops dispatching, and when a request may go."""

from __future__ import annotations

import asyncio
import time

import pytest

from batch_gen.runner.gate import Admission, Stopped, Stopping


async def test_a_wait_ends_with_stopped_when_the_run_stops() -> None:
    stopping = Stopping(grace=5)
    waiting = asyncio.ensure_future(stopping.unless_stopped(asyncio.sleep(60)))
    await asyncio.sleep(0)
    stopping.stop()
    with pytest.raises(Stopped):
        await waiting


async def test_nothing_starts_once_stopped() -> None:
    stopping = Stopping(grace=5)
    stopping.stop()
    with pytest.raises(Stopped):
        await stopping.unless_stopped(asyncio.sleep(0))


async def test_the_first_interrupt_waits_the_grace_the_second_cancels_at_once() -> None:
    stopping = Stopping(grace=60)
    cancelled: list[float] = []
    stopping.on_cancel(lambda: cancelled.append(time.monotonic()))
    stopping.interrupt()
    assert stopping.is_set()
    assert cancelled == []
    stopping.interrupt()
    assert len(cancelled) == 1


async def test_the_watchdog_cancels_after_the_grace() -> None:
    stopping = Stopping(grace=0.05)
    cancelled: list[bool] = []
    stopping.on_cancel(lambda: cancelled.append(True))
    watchdog = asyncio.ensure_future(stopping.watchdog())
    stopping.interrupt()
    await asyncio.wait_for(watchdog, 1)
    assert cancelled == [True]


async def test_an_abort_keeps_the_first_reason() -> None:
    stopping = Stopping(grace=5)
    stopping.abort("invalid token")
    stopping.abort("later")
    assert stopping.aborted == "invalid token"
    assert stopping.is_set()


async def test_calls_are_spread_evenly_at_the_rate_limit() -> None:
    admission = Admission(Stopping(grace=5), concurrency=4, rpm=1200)  # one per 50 ms
    started = time.monotonic()
    for _ in range(4):
        await admission.call_slot()
    assert time.monotonic() - started >= 0.14  # three gaps of 50 ms: no start-up burst


async def test_a_pool_pause_holds_new_slots() -> None:
    admission = Admission(Stopping(grace=5), concurrency=1, rpm=0)
    admission.pause.pause(0.1)
    started = time.monotonic()
    taken_at = await admission.slot()
    assert taken_at - started >= 0.09
    await admission.release(taken_at, rate_limited=False, succeeded=True)
