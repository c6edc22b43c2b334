"""The seam between the runner and an image API.

A provider turns a job into requests (pure: :meth:`Provider.requests_for`) and sends one
request, returning a :class:`Generation` or raising a :class:`~batch_gen.errors.ProviderError`.
The runner owns everything around that: pacing, retries, downloads, files and state.
"""

from __future__ import annotations

import binascii
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pybase64

from ..errors import BadResponseError
from ..models import Job

if TYPE_CHECKING:
    import aiohttp


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One HTTP request a job needs: a JSON body for ``endpoint``, asking for ``images``."""

    endpoint: str
    body: Mapping[str, Any]
    images: int


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


T = TypeVar("T")


class Offload(Protocol):
    """Runs CPU-heavy work (parsing a megabyte of JSON) away from the event loop."""

    def __call__(self, function: Callable[..., T], /, *args: Any) -> Awaitable[T]: ...


async def inline(function: Callable[..., T], /, *args: Any) -> T:
    """The trivial :class:`Offload`: run it here and now."""
    return function(*args)


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
        offload: Offload = inline,
    ) -> Generation:
        """Send one request; raise a ProviderError subclass on any failure.

        Parsing the answer goes through ``offload``, so the caller decides where that CPU
        work runs (the runner uses its file threads, leaving the loop to the network).
        """
        ...
