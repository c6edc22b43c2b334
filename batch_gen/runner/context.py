"""What every job of a run shares: set up once by :mod:`.run`, handed to each
:class:`~.job.JobRun`."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import RunOptions
from ..files.sidecar import Owner
from ..models import Job
from ..providers.base import Answer, Call, Endpoint, Provider
from ..providers.http import Proxies
from .events import Events
from .gate import Admission, Stopping
from .polling import BulkPoller

if TYPE_CHECKING:
    import aiohttp

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RunContext:
    """What every job of a run shares: set up once by :mod:`.run`."""

    options: RunOptions
    endpoint: Endpoint
    session: aiohttp.ClientSession
    stopping: Stopping
    admission: Admission
    events: Events
    files: ThreadPoolExecutor
    # The seams a test may replace: which provider serves an API, and how a call is sent.
    providers: Callable[[str], Provider]
    transport: Callable[[Call], Awaitable[Answer]]
    # Whether a job may pay for another try (``--max-cost``); False also stops the run.
    may_retry: Callable[[Job], bool]
    # Runs a job's finishing beside the workers; waits while too many are waiting.
    spawn: Callable[[Coroutine[Any, Any, None]], Awaitable[None]]
    # Who makes the images (provider and manifest), as each sidecar records it.
    owner: Owner
    # The forward proxies the environment names, for downloads (calls: see ``transport``).
    proxies: Proxies
    # Polls the tasks of APIs that poll in bulk.
    poller: BulkPoller

    @property
    def root(self) -> Path:
        return self.options.output_dir

    async def in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on the file threads; its result or its exception."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.files, functools.partial(function, *args))
