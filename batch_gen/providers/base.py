"""What an image API is, to the rest of batch_gen: a declared spec and pure pieces.

Each API module exposes one :class:`ApiSpec` (what it is: its name, endpoint, which models
route to it, which manifest fields and inputs it takes, how many requests a job needs) and
one :class:`Provider` (what it does, as pure functions: build the call for a request, read
the answer, and for task APIs build and read the polls). No provider sends anything: the
runner's one request loop (:mod:`batch_gen.runner.tasks`) does the I/O, the pacing, the
deadline and the recording of task ids, the same way for every API.

A request's life, as the loop runs it::

    prepare ─► build_call ─► read_answer ─► Generation                 (synchronous APIs)
       │                          └───────► Submitted(task id) ─► record it, then
       └ a task to fetch first              poll_call / read_poll ─► Running | Ready | Ended
         (Midjourney's upscale reads
          the grid's latest buttons)
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import msgspec
import pybase64

from ..checks import FieldRule
from ..errors import BadResponseError, ProviderError
from ..models import InputFile, Job

# --- requests and answers --------------------------------------------------------------


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
class FormPart:
    """One part of a multipart body: a text field, or a file when ``filename`` is set."""

    name: str
    value: str | bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request, described; :func:`batch_gen.providers.http.exchange` sends it.

    ``path`` is relative to the base URL (query included). The body is ``json`` (an
    object), ``data`` (JSON encoded beforehand, e.g. with large inline images) or ``form``
    (multipart parts). Auth is the Bearer key, or Google's ``x-goog-api-key`` header.
    ``what`` names the request in error messages.
    """

    method: str
    path: str
    what: str
    json: Mapping[str, Any] | None = None
    data: bytes | None = None
    form: tuple[FormPart, ...] | None = None
    google_key: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, whatever its status."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class ReturnedImage:
    """One image in an answer: its bytes, its base64 text, or a URL to fetch at once.

    Base64 is kept undecoded so that the runner can decode it off the event loop, together
    with hashing and writing (see :func:`inline_bytes`): as text, or as a view of the
    answer's bytes where the JSON was decoded around it (see :mod:`.lifted`).
    """

    data: bytes | None = None
    b64: str | memoryview | None = None
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
class Submitted:
    """A task API accepted the request: ``task_id`` is money already spent."""

    task_id: str


@dataclass(frozen=True, slots=True)
class Running:
    """A poll says the task is still running. ``task`` is what the poll read."""

    task: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ready:
    """A poll says the task finished with ``generation``."""

    generation: Generation
    task: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ended:
    """A poll says the task ended without an image: it will never make one.

    ``lost`` says the task is gone rather than refused (an unknown or expired id): it was
    paid for, so the new task a retry submits is a possibly billed retry.
    """

    error: ProviderError
    lost: bool = False


Poll = Running | Ready | Ended


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to reach the API. ``api_key`` is kept out of ``repr``."""

    base_url: str
    api_key: str = field(repr=False)


# --- what an API declares --------------------------------------------------------------


def images_from_n(request: Mapping[str, Any]) -> int:
    """How many image files a job makes on most APIs: its ``n`` (default 1)."""
    n = request.get("n", 1)
    return n if isinstance(n, int) else 1


def priced_as_model(model: str, step: str) -> str:
    """Every request of a job is priced as its model."""
    del step
    return model


def no_checks(request: Mapping[str, Any], images: int) -> list[tuple[str, str]]:
    """No rules of the API's own beyond what its spec declares."""
    del request, images
    return []


def seed_field(job: Job, seed: int) -> Job:
    """``job`` asking for ``seed`` in its request's ``seed`` field, over any the manifest
    gave (Flux, Bria and Gemini read it there), its key unchanged: the seed belongs to one
    run's remake, not to the manifest, so the next run does not see the job as changed."""
    return msgspec.structs.replace(job, request={**job.request, "seed": seed})


def no_limits(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    """No documented limit on the request's values: the API decides."""
    del request
    return []


def no_prompt_limit(request: Mapping[str, Any]) -> int | None:
    """No documented prompt length: the API decides."""
    del request
    return None


@dataclass(frozen=True, slots=True)
class ApiSpec:
    """What an image API is. Routing, manifest validation, the dry run, the request count
    of a plan and the registry's contract test all read these values.

    - ``api``: the route name recorded on every job (and hashed into its key).
    - ``endpoint``: the HTTP path (a template), shown by ``--dry-run``.
    - ``manifest_name``: what a manifest's ``api:`` field says to choose it; None for a
      route reached only through ``switches`` of another.
    - ``claims_model``: the model ids that route here when a job names no ``api``.
    - ``switches``: a request field that, when set, sends the job to another route (an
      input image turns generations into edits).
    - ``fields``: the API-specific manifest fields it takes (``upscale``, ``action``), each
      with its rule (value check, CSV form).
    - ``max_inputs``/``takes_mask``: how many input images, and whether a mask.
    - ``tasks``: submitted, then polled (a task id is money already spent).
    - ``bulk_poll``: how many task ids one bulk poll may carry; 0 when the API polls one
      task per call. A provider whose spec sets it also implements :class:`BulkPolling`.
    - ``request_count(job, images)``: the requests that make ``images`` more images.
    - ``image_count(request)``: the image files a job makes.
    - ``checks(request, images)``: the API's own rules, as (field, message) problems.
    - ``prompt_limit(request)``: the most characters the model's family documents for a
      prompt (None: no documented limit); ``limits(request)``: its documented limits on
      the request's values (sizes), as (field, message) problems. Both are found before
      anything is sent; each is listed with its source in the Limits section of the API's
      ``docs/protocols`` file; a model family no source documents has none. The prompt
      limit is a number, not a check, so that jobs differing only in their prompts are
      checked once (:mod:`batch_gen.manifest.jobs`).
    - ``priced_as(model, step)``: the catalog model whose price a request of that step
      pays (a Midjourney upscale is priced as an upscale, not as an imagine).
    - ``reseed(job, seed)``: the job asking for its image with ``seed`` (a job rejected in
      review is made again with a new one), where the API documents a seed; None when it
      takes none. The key stays the job's.
    """

    api: str
    endpoint: str
    title: str
    request_count: Callable[[Job, int], int]
    manifest_name: str | None = None
    claims_model: Callable[[str], bool] | None = None
    switches: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, FieldRule] = field(default_factory=dict)
    max_inputs: int = 0
    takes_mask: bool = False
    tasks: bool = False
    bulk_poll: int = 0
    image_count: Callable[[Mapping[str, Any]], int] = images_from_n
    checks: Callable[[Mapping[str, Any], int], list[tuple[str, str]]] = no_checks
    prompt_limit: Callable[[Mapping[str, Any]], int | None] = no_prompt_limit
    limits: Callable[[Mapping[str, Any]], list[tuple[str, str]]] = no_limits
    priced_as: Callable[[str, str], str] = priced_as_model
    reseed: Callable[[Job, int], Job] | None = None


class Provider(Protocol):
    """What an image API does, as pure functions the request loop calls.

    ``read_*`` functions raise a :class:`~batch_gen.errors.ProviderError` subclass for an
    answer that is an error; ``secret`` is the API key, to redact from messages.
    """

    spec: ApiSpec

    def requests_for(self, job: Job, images: int) -> list[ApiRequest]:
        """The requests that produce ``images`` more images for ``job``."""
        ...

    def prepare(self, request: ApiRequest, tasks: Mapping[str, str]) -> str | None:
        """The id of a task to fetch (with :meth:`poll_call`, read with :meth:`read_poll`)
        before ``request`` can be built, or None. ``tasks`` are the job's recorded task ids
        by step."""
        ...

    def build_call(
        self, request: ApiRequest, inputs: Sequence[bytes], prepared: Poll | None
    ) -> Call:
        """The call that sends ``request``, given its input files' checked bytes (in the
        order of ``request.files``) and what :meth:`prepare`'s fetch read. May be
        CPU-heavy (inline images): the loop runs it in a thread when there are inputs."""
        ...

    def read_answer(
        self, answer: Answer, request: ApiRequest, *, secret: str | None
    ) -> Generation | Submitted:
        """What the answer to ``request``'s call says: images, or a task to poll."""
        ...

    def poll_call(self, task_id: str) -> Call:
        """The call that asks how task ``task_id`` is doing (task APIs)."""
        ...

    def read_poll(self, answer: Answer, task_id: str, *, secret: str | None) -> Poll:
        """What one poll of ``task_id`` says (task APIs)."""
        ...


#: What one bulk poll says: by task id, what a single poll would have said (or the error
#: reading it raised). Ids the answer leaves out are not in it.
BulkPoll = Mapping[str, Poll | ProviderError]


class BulkPolling(Protocol):
    """What an API that polls many tasks in one call adds to :class:`Provider` (its spec's
    ``bulk_poll`` says how many ids a call may carry). Pure, like the rest."""

    def bulk_poll_call(self, task_ids: Sequence[str]) -> Call:
        """The call that asks how every task of ``task_ids`` is doing."""
        ...

    def read_bulk_poll(
        self, answer: Answer, task_ids: Sequence[str], *, secret: str | None
    ) -> BulkPoll | None:
        """What a bulk poll of ``task_ids`` says, or None when the API refuses the bulk
        call itself (a gateway without the route): its tasks are polled singly from then
        on. Raises a ProviderError for a passing failure (a 429, a server error)."""
        ...


def bulk_polling(provider: Provider) -> BulkPolling | None:
    """``provider`` as a :class:`BulkPolling`, when its spec declares bulk polls."""
    if provider.spec.bulk_poll <= 0:
        return None
    return cast(BulkPolling, provider)


class NothingToPrepare:
    """The default for an API whose requests need no fetch before they are built."""

    def prepare(self, request: ApiRequest, tasks: Mapping[str, str]) -> str | None:
        del request, tasks
        return None


class Synchronous(NothingToPrepare):
    """Defaults for an API that answers at once: nothing to prepare, nothing to poll (the
    request loop polls only APIs whose spec says ``tasks``)."""

    def poll_call(self, task_id: str) -> Call:
        raise NotImplementedError(f"a synchronous API has no task to poll ({task_id})")

    def read_poll(self, answer: Answer, task_id: str, *, secret: str | None) -> Poll:
        raise NotImplementedError(f"a synchronous API has no task to poll ({task_id})")
