"""The one request loop: every API's request goes through :func:`perform`.

The provider only describes calls and reads answers (pure, see
:mod:`batch_gen.providers.base`); this loop does the I/O, in the same order for every API:

1. a task recorded for the request's step (an earlier try or run paid for it) is polled
   again instead of submitting: a task id is money already spent;
2. otherwise: fetch what the request needs first (Midjourney's upscale reads the grid's
   buttons), read and check the input files, build the call, send it, read the answer;
   a synchronous API's answer is the result;
3. a task API's answer names a task: it is recorded (durably) before the first poll;
4. polls are paced and bounded by the task deadline (the :class:`Channel` decides both,
   and whether the task is polled alone or with every waiting task of its API in one
   bulk call: see :mod:`.polling`), each call taking its own rate-limit slot;
5. one rule for every ending: Ready is the result; Ended forgets the task, so that a retry
   submits a new one, and counts it as possibly billed (it was paid for and made no
   image). A task the API does not find is looked for again a few times first (a gateway
   may not show a task it just accepted), and a job replaces a lost task at most once
   per run.

A poll or a pre-action fetch is never billed: its failure is never possibly billed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from ..errors import ProviderError
from ..inputs import read_inputs
from ..providers.base import (
    Answer,
    ApiRequest,
    Call,
    Ended,
    Generation,
    Poll,
    Provider,
    Ready,
    Submitted,
)

T = TypeVar("T")

#: Polls in a row that may find no task before it counts as lost (they back off).
LOST_TASK_PATIENCE = 4


class Channel(Protocol):
    """What the loop needs from the run, for one job."""

    secret: str | None

    def tasks(self) -> Mapping[str, str]:
        """The job's recorded task ids by step."""
        ...

    def record_task(self, step: str, task_id: str | None) -> None:
        """Record (or, with None, forget) the task of ``step``; durable on return."""
        ...

    async def send(self, call: Call, *, billable: bool) -> Answer:
        """Send one call in its own rate-limit slot. ``billable``: the call may be charged
        (a submission or a synchronous request, not a poll or a fetch)."""
        ...

    def replace_lost_task(self) -> bool:
        """Whether the job may pay for a new task in place of a lost one (once per run)."""
        ...

    async def poll(self, provider: Provider, task_id: str, polls: int) -> Poll:
        """Poll number ``polls`` (1-based) of ``task_id``, once its turn comes: alone (with
        :func:`fetch`) or in a bulk call. Raises TaskTimeoutError past the task deadline."""
        ...

    async def in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking or CPU-heavy work off the event loop."""
        ...


async def perform(provider: Provider, request: ApiRequest, channel: Channel) -> Generation:
    """Run ``request`` to its images (see the module docstring); raise a ProviderError."""
    task_id = channel.tasks().get(request.step) if provider.spec.tasks else None
    if task_id is None:
        result = await _send(provider, request, channel)
        if isinstance(result, Generation):
            return result
        task_id = result.task_id
        channel.record_task(request.step, task_id)  # durable before the first poll
    unseen = 0  # polls in a row that did not find the task
    for polls in itertools.count(1):
        poll = await channel.poll(provider, task_id, polls)
        if isinstance(poll, Ready):
            return _with_task(poll.generation, task_id, request.step)
        if not isinstance(poll, Ended):
            unseen = 0
            continue
        if poll.lost and unseen < LOST_TASK_PATIENCE:
            # A gateway may not show a task it just accepted yet, and a task id is money
            # already spent: look again (the polls back off) before paying for another.
            unseen += 1
            continue
        channel.record_task(request.step, None)  # a retry submits a new task
        raise _ended(poll, channel)
    raise AssertionError("unreachable: itertools.count never ends")


async def _send(
    provider: Provider, request: ApiRequest, channel: Channel
) -> Generation | Submitted:
    """Prepare, build, send and read the request itself."""
    prepared: Poll | None = None
    before = provider.prepare(request, channel.tasks())
    if before is not None:
        prepared = await fetch(provider, before, channel)
    if request.files:
        # Reading (and checking) up to 16 inputs of 50 MB and encoding them as base64 would
        # stall every other request on the loop.
        call = await channel.in_thread(_build_with_inputs, provider, request, prepared)
    else:
        call = provider.build_call(request, (), prepared)
    answer = await channel.send(call, billable=True)
    return provider.read_answer(answer, request, secret=channel.secret)


def _ended(poll: Ended, channel: Channel) -> ProviderError:
    """The error a task ended with: it was submitted (paid for) and made no image, so it
    is possibly billed. A lost task may be replaced once per run; after that the job
    waits for a later run rather than paying again and again."""
    error = poll.error
    error.ambiguous = True
    if poll.lost and not channel.replace_lost_task():
        error.retry_in_run = False
        error.message += " (its replacement was lost too: run again later to try once more)"
    return error


def _build_with_inputs(provider: Provider, request: ApiRequest, prepared: Poll | None) -> Call:
    inputs: Sequence[bytes] = read_inputs(request.files)
    return provider.build_call(request, inputs, prepared)


async def fetch(provider: Provider, task_id: str, channel: Channel) -> Poll:
    """One poll (or pre-action fetch) of ``task_id`` alone, now."""
    try:
        answer = await channel.send(provider.poll_call(task_id), billable=False)
        return provider.read_poll(answer, task_id, secret=channel.secret)
    except ProviderError as error:
        error.ambiguous = False  # a poll is never billed: a lost answer costs nothing
        raise


def _with_task(generation: Generation, task_id: str, step: str) -> Generation:
    """The generation, naming the task and step that made it (kept in the sidecar)."""
    extra = {"task_id": task_id, "step": step, **generation.extra}
    return Generation(
        images=generation.images,
        usage=generation.usage,
        created=generation.created,
        request_id=generation.request_id or task_id,
        extra=extra,
    )
