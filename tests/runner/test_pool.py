"""The run's workers and the jobs finished beside them: a deferred finish runs after the
work that is ready, a bug in one fails the run, finished tasks are let go, and a cancel
reaches workers and finishing tasks alike."""

from __future__ import annotations

import asyncio

import pytest

from batch_gen.runner.pool import Pool


async def test_a_deferred_finish_runs_after_what_is_ready_now() -> None:
    pool = Pool(concurrency=2)
    order: list[str] = []

    async def worker() -> None:
        name = f"w{len(order)}"
        pool.defer(lambda: order.append(f"finish {name}"))
        order.append(f"send {name}")
        await asyncio.sleep(0)

    await pool.run(worker)
    assert order == ["send w0", "send w1", "finish w0", "finish w1"]


async def test_a_bug_in_a_deferred_finish_fails_the_run() -> None:
    pool = Pool(concurrency=1)

    def broken() -> None:
        raise RuntimeError("a bug")

    async def worker() -> None:
        pool.defer(broken)
        await asyncio.sleep(0.01)

    with pytest.raises(ExceptionGroup) as caught:
        await pool.run(worker)
    assert caught.group_contains(RuntimeError, match="a bug")


async def test_finishing_tasks_are_let_go_and_a_cancel_reaches_them_all() -> None:
    pool = Pool(concurrency=2)
    finished = 0
    started = asyncio.Event()

    async def finish() -> None:
        nonlocal finished
        finished += 1

    async def blocked() -> None:
        started.set()
        await asyncio.sleep(60)

    async def worker() -> None:
        for _ in range(50):
            await pool.spawn(finish())
        await asyncio.sleep(0)
        await pool.spawn(blocked())
        await asyncio.sleep(60)

    async def cancel_soon() -> None:
        await started.wait()
        await asyncio.sleep(0.01)
        assert pool.running == 4  # two workers, two blocked finishes: the rest let go
        pool.cancel()

    await asyncio.gather(pool.run(worker), cancel_soon())
    assert finished == 100
    assert pool.running == 0
