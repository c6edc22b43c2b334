"""What every job of a run shares: set up once by :mod:`.run`, handed to each
:class:`~.job.JobRun`; and the downloads of images answered as URLs, which take the same
retry rules and rate limit as the API's calls."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import RunOptions
from ..errors import DownloadError, ProviderError
from ..files.sidecar import Owner
from ..models import Job
from ..providers.base import Answer, Call, Endpoint, Provider
from ..providers.download import download_image
from ..providers.http import Proxies
from .events import Events
from .gate import Admission, Stopping
from .polling import BulkPoller
from .retrying import Attempts

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
    # Runs a job's finishing at the event loop's next turn (small files: no task needed).
    defer: Callable[[Callable[[], None]], None]
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

    async def download(self, job: Job, url: str) -> bytes:
        """Fetch an image the API answered with as a URL, at once (links expire), with the
        same retry rules as the API. Raises DownloadError (retryable: a new run makes the
        image again) when it cannot be had."""
        attempts = Attempts(
            job,
            policy=self.options.retry,
            admission=self.admission,
            events=self.events,
            failed=lambda error, retrying: None,
            what="download",
        )
        try:
            async for attempt in attempts:
                with attempt:
                    return await download_image(
                        self.session,
                        url,
                        max_bytes=self.options.max_download_bytes,
                        secret=self.endpoint.api_key,
                        proxy=self.proxies.for_url(url),
                    )
        except ProviderError as error:
            # The image was generated (and billed) but could not be fetched; a new run will
            # generate it again, so say so plainly.
            raise DownloadError(
                f"the image was generated but its download failed: {error.message}",
                status=error.status,
                retryable=True,
            ) from error
        raise AssertionError("unreachable: the attempts end in a return or a raise")
