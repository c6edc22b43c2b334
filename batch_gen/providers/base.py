"""The seam between the runner and an image API.

A provider turns a job into requests (pure: :meth:`Provider.requests_for`) and sends one
request, returning a :class:`Generation` or raising a :class:`~batch_gen.errors.ProviderError`.
The runner owns everything around that: pacing, retries, downloads, files and state.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pybase64

from ..errors import BadResponseError
from ..models import InputFile, Job

if TYPE_CHECKING:
    import aiohttp


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One request a job needs: a body for ``endpoint``, asking for ``images`` images.

    ``files`` are input images to upload (multipart routes) or inline (JSON routes);
    ``step`` names the request within its job for task-based APIs ("submit", "imagine",
    "upscale:2", ...), so that a task id recorded for it can be found again on resume.
    """

    endpoint: str
    body: Mapping[str, Any]
    images: int
    files: tuple[InputFile, ...] = ()
    step: str = "submit"


@dataclass(frozen=True, slots=True)
class ReturnedImage:
    """One image in an answer: its bytes, its base64 text, or a URL to fetch at once.

    Base64 is kept undecoded so that the runner can decode it off the event loop, together
    with hashing and writing (see :func:`inline_bytes`).
    """

    data: bytes | None = None
    b64: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


def inline_bytes(image: ReturnedImage) -> bytes | None:
    """The image's bytes if the answer carried them (decoding base64), else None (a URL).

    Raises BadResponseError (retryable, ambiguous: the image was probably billed) when the
    base64 text is invalid.
    """
    if image.data is not None:
        return image.data
    if image.b64 is None:
        return None
    try:
        return pybase64.b64decode(image.b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadResponseError("an image's b64_json is not valid base64", ambiguous=True) from exc


@dataclass(frozen=True, slots=True)
class Generation:
    """A successful answer."""

    images: tuple[ReturnedImage, ...]
    usage: Mapping[str, Any] | None = None
    created: int | None = None
    request_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. output_format, size


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to reach the API. ``api_key`` is kept out of ``repr``."""

    base_url: str
    api_key: str = field(repr=False)


class TaskHooks(Protocol):
    """What a task-based provider (submit, then poll) needs from the runner.

    The runner records a task id in the state the moment it is known, before the first
    poll: a task id is money already spent, and a run that dies while polling resumes the
    same task instead of paying for a new one.
    """

    def task(self, step: str) -> str | None:
        """The task id recorded for ``step`` by an earlier try or run, if any."""
        ...

    def record_task(self, step: str, task_id: str | None) -> None:
        """Record (or, with None, forget) the task of ``step``; durable on return."""
        ...

    async def before_poll(self, polls: int) -> None:
        """Wait before poll number ``polls`` (1-based): the poll interval with backoff, and
        the run's shared rate limit. Raises ProviderError when the task deadline is past."""
        ...


class NoTasks:
    """Hooks for callers that run no tasks across restarts (tests, one-off sends)."""

    def __init__(self, poll_interval: float = 0.0) -> None:
        self._tasks: dict[str, str] = {}
        self._interval = poll_interval

    def task(self, step: str) -> str | None:
        return self._tasks.get(step)

    def record_task(self, step: str, task_id: str | None) -> None:
        if task_id is None:
            self._tasks.pop(step, None)
        else:
            self._tasks[step] = task_id

    async def before_poll(self, polls: int) -> None:
        import asyncio

        await asyncio.sleep(self._interval)


class Provider(Protocol):
    """An image API family."""

    api: str

    def requests_for(self, job: Job, images: int) -> list[ApiRequest]:
        """The requests that produce ``images`` more images for ``job`` (pure)."""
        ...

    def request_count(self, job: Job, images: int) -> int:
        """``len(requests_for(job, images))`` without building them (for plans)."""
        ...

    async def send(
        self,
        session: aiohttp.ClientSession,
        endpoint: Endpoint,
        request: ApiRequest,
        *,
        hooks: TaskHooks,
    ) -> Generation:
        """Send one request; raise a ProviderError subclass on any failure.

        Task-based providers submit (unless ``hooks`` knows a task for the request's step),
        record the task id through ``hooks``, poll until the task ends, and return the
        result; a retry after a failure polls the recorded task again.
        """
        ...
