"""Coroutines started at once, as Python 3.12's eager tasks start them, on Python 3.11.

aiohttp hands two steps of every request to tasks of their own: the client writes a
request's body in one, and the server runs each request's handler in another. From
Python 3.12 it starts those tasks eagerly (``asyncio.Task(..., eager_start=True)``): they
run at once, up to their first suspension. Python 3.11 has no eager start, so each waits
behind everything else the event loop has ready: with 128 requests in flight that cost
each request several milliseconds on each side, some 0.03-0.04 of the ideal run wall in
the benchmark's latency sweep (measured with the hand-written loop too, whose requests
wait the same way).

:func:`started` runs a coroutine up to its first suspension and returns a coroutine that
finishes it; :func:`eager_factory` is a task factory that does so for the coroutines of
chosen functions only. A coroutine started this way runs its first step in the creating
task's context and under its name (``asyncio.current_task()``); it suits code that reads
no context variable and never asks for the current task, such as aiohttp's body writer
and request handler. Whatever it raises is raised by the task that finishes it, where the
code that created the task looks for it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Collection, Coroutine, Generator
from types import CodeType
from typing import Any

NEEDED = sys.version_info < (3, 12)
"""Whether aiohttp leaves these tasks to the event loop's next turn (Python 3.11)."""

TaskFactory = Callable[..., "asyncio.Future[Any]"]


def started(coroutine: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
    """Run ``coroutine`` now, up to its first suspension; return a coroutine that finishes
    it (at once, if it had finished: its result or its exception)."""
    try:
        suspended_on = coroutine.send(None)
    except StopIteration as done:
        return _finished(done.value)
    except (Exception, asyncio.CancelledError) as error:  # a task would end with it
        return _raising(error)
    return _resumed(_Rest(coroutine, suspended_on))


def eager_factory(
    functions: Collection[Callable[..., Coroutine[Any, Any, Any]]],
    previous: TaskFactory | None = None,
) -> TaskFactory:
    """A task factory (``loop.set_task_factory``) that starts the coroutines of
    ``functions`` at once (:func:`started`) and leaves every other coroutine as it was
    (to ``previous``, the loop's factory before, or a plain task)."""
    codes: frozenset[CodeType] = frozenset(function.__code__ for function in functions)

    def factory(
        loop: asyncio.AbstractEventLoop, coroutine: Any, **kwargs: Any
    ) -> asyncio.Future[Any]:
        if getattr(coroutine, "cr_code", None) in codes:
            coroutine = started(coroutine)
        if previous is not None:
            return previous(loop, coroutine, **kwargs)
        return asyncio.Task(coroutine, loop=loop, **kwargs)

    return factory


async def _finished(value: Any) -> Any:
    return value


async def _raising(error: BaseException) -> Any:
    raise error


async def _resumed(rest: _Rest) -> Any:
    return await rest


class _Rest:
    """The rest of a coroutine that suspended on ``suspended_on``: awaiting this awaits
    what it suspended on, then goes on where it stopped, passing on what is sent and
    thrown into it (a task's cancellation included)."""

    def __init__(self, coroutine: Coroutine[Any, Any, Any], suspended_on: Any) -> None:
        self._coroutine = coroutine
        self._suspended_on = suspended_on

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, waiting = self._coroutine, self._suspended_on
        while True:
            try:
                sent = yield waiting
            except BaseException as error:  # handed on to the coroutine, not handled here
                try:
                    waiting = coroutine.throw(error)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting = coroutine.send(sent)
                except StopIteration as done:
                    return done.value
