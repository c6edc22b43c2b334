"""Coroutines started at once: they run to their first suspension when started, and the
coroutine that finishes them gives the same result, exception or cancellation as the
coroutine awaited whole."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from batch_gen.eager import eager_factory, started


async def test_a_coroutine_that_never_suspends_has_run_when_started() -> None:
    steps: list[str] = []

    async def work() -> str:
        steps.append("ran")
        return "value"

    rest = started(work())
    assert steps == ["ran"]
    assert await rest == "value"
    assert steps == ["ran"]  # not run twice


async def test_an_exception_raised_before_any_suspension_is_raised_when_finished() -> None:
    steps: list[str] = []

    async def work() -> None:
        steps.append("ran")
        raise ValueError("bad")

    rest = started(work())
    assert steps == ["ran"]
    with pytest.raises(ValueError, match="bad"):
        await rest


async def test_a_coroutine_runs_to_its_first_suspension_then_on_when_finished() -> None:
    steps: list[str] = []
    first: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    second: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def work() -> int:
        steps.append("before")
        got = await first
        steps.append(f"got {got}")
        got += await second
        return got

    task = asyncio.ensure_future(started(work()))
    assert steps == ["before"]
    first.set_result(1)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert steps == ["before", "got 1"]
    second.set_result(2)
    assert await task == 3


async def test_an_exception_after_a_suspension_reaches_the_finisher() -> None:
    waited: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def work() -> None:
        await waited
        raise KeyError("late")

    task = asyncio.ensure_future(started(work()))
    waited.set_result(None)
    with pytest.raises(KeyError, match="late"):
        await task


async def test_cancelling_the_finisher_cancels_the_coroutine_where_it_waits() -> None:
    steps: list[str] = []

    async def work() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            steps.append("cancelled while waiting")
            raise

    task = asyncio.ensure_future(started(work()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert steps == ["cancelled while waiting"]


async def test_a_coroutine_may_handle_a_cancellation_and_go_on() -> None:
    async def work() -> str:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(0)
            return "handled"
        return "slept"

    task = asyncio.ensure_future(started(work()))
    await asyncio.sleep(0)
    task.cancel()
    assert await task == "handled"


async def test_the_factory_starts_only_the_chosen_functions_at_once() -> None:
    loop = asyncio.get_running_loop()
    steps: list[str] = []

    async def chosen() -> str:
        steps.append("chosen")
        await asyncio.sleep(0)
        return "chosen done"

    async def other() -> str:
        steps.append("other")
        return "other done"

    previous = loop.get_task_factory()
    loop.set_task_factory(eager_factory([chosen], previous))
    try:
        eager_task = loop.create_task(chosen())
        plain_task = loop.create_task(other())
        assert steps == ["chosen"]  # the other waits for the loop's next turn
        assert isinstance(eager_task, asyncio.Task)
        assert await eager_task == "chosen done"
        assert await plain_task == "other done"
    finally:
        loop.set_task_factory(previous)


async def test_the_factory_hands_every_task_to_the_previous_factory() -> None:
    loop = asyncio.get_running_loop()
    made: list[Any] = []

    def previous(loop: asyncio.AbstractEventLoop, coroutine: Any, **kwargs: Any) -> Any:
        task = asyncio.Task(coroutine, loop=loop, **kwargs)
        made.append(task)
        return task

    async def chosen() -> int:
        return 1

    async def other() -> int:
        return 2

    before = loop.get_task_factory()
    loop.set_task_factory(eager_factory([chosen], previous))
    try:
        tasks = [loop.create_task(chosen()), loop.create_task(other())]
        assert [await task for task in tasks] == [1, 2]
        assert made == tasks
    finally:
        loop.set_task_factory(before)
