"""Helpers for the provider tests: a request loop channel kept in memory, answers built
by hand for the providers' pure readers, and input files on disk.

A request runs end to end as the runner runs it: ``await perform(provider, request,
channel)`` with a :class:`MemoryChannel`, which sends each call through
:func:`batch_gen.providers.http.exchange` (to an ``aioresponses`` mock in the tests).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from support import API_BASE, API_KEY

from batch_gen.files.formats import sniff_format
from batch_gen.inputs import content_sha256
from batch_gen.models import InputFile
from batch_gen.providers.base import Answer, Call, Endpoint, Poll, Provider
from batch_gen.providers.http import exchange
from batch_gen.runner.tasks import fetch

T = TypeVar("T")


class MemoryChannel:
    """The request loop's channel, with tasks in a dict and no waiting.

    ``log`` holds every task record (``record STEP ID``, ``None`` when forgotten) and every
    poll (``poll N``) in order; ``calls`` holds every call sent, each of which would take
    its own rate-limit slot in a run, and ``billable`` those that may be charged. A lost
    task may be replaced once, as in a run. Keyword arguments preset recorded tasks:
    ``upscale_1="7"`` is step ``upscale:1``.
    """

    def __init__(self, session: aiohttp.ClientSession, **tasks: str) -> None:
        self.session = session
        self.endpoint = Endpoint(API_BASE, API_KEY)
        self.secret: str | None = API_KEY
        self._tasks = {name.replace("_", ":"): task for name, task in tasks.items()}
        self.log: list[str] = []
        self.calls: list[Call] = []
        self.billable: list[Call] = []  # the calls that may be charged (not polls)
        self.replacements = 0  # lost tasks the loop asked to replace

    def tasks(self) -> Mapping[str, str]:
        return dict(self._tasks)

    def record_task(self, step: str, task_id: str | None) -> None:
        self.log.append(f"record {step} {task_id}")
        if task_id is None:
            self._tasks.pop(step, None)
        else:
            self._tasks[step] = task_id

    async def send(self, call: Call, *, billable: bool) -> Answer:
        self.calls.append(call)
        if billable:
            self.billable.append(call)
        return await exchange(self.session, self.endpoint, call)

    def replace_lost_task(self) -> bool:
        self.replacements += 1
        return self.replacements <= 1

    async def poll(self, provider: Provider, task_id: str, polls: int) -> Poll:
        self.log.append(f"poll {polls}")
        return await fetch(provider, task_id, self)

    async def in_thread(self, function: Callable[..., T], *args: Any) -> T:
        return function(*args)


def answer(
    payload: Any = None,
    *,
    status: int = 200,
    body: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """An HTTP answer for a provider's pure reader: ``payload`` as JSON, or ``body`` as is."""
    if body is None:
        data = json.dumps(payload).encode()
    else:
        data = body.encode() if isinstance(body, str) else body
    return Answer(status, dict(headers or {}), data)


def input_file(folder: Path, name: str, data: bytes, *, role: str = "image") -> InputFile:
    """``data`` written to ``folder/name``, described as the manifest reader would: its
    SHA-256 (checked when the request is sent) and its sniffed format (png if unknown)."""
    path = folder / name
    path.write_bytes(data)
    return InputFile(role, path, content_sha256(data), len(data), sniff_format(data) or "png")
