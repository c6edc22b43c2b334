"""The one error tree of batch_gen.

Every failure a caller can see is one of these; lower-level exceptions (aiohttp, OSError,
yaml) are translated once, where they occur, with ``raise ... from exc``::

    BatchGenError
    ├── ManifestError          invalid manifest: every problem, file/line/field  → exit 2
    ├── UsageError             invalid command line or run options               → exit 2
    ├── ConfigurationError     the run cannot start or must stop as a whole      → exit 3
    │   ├── MissingKeyError    no COMETAPI_KEY and not --offline
    │   ├── OutputLockedError  another run holds the output folder
    │   ├── ForeignImagesError the run would replace images another provider or manifest made
    │   └── UnwritablePathError  the output folder or a report file cannot be written
    └── ProviderError          one request failed (retryable / ambiguous / retry_after)
        ├── FatalProviderError aborts the whole run at once                      → exit 3
        │   ├── AuthenticationError  401 / 403: missing, rejected or unauthorised key
        │   ├── ModelNotFoundError   the provider does not know the model
        │   └── QuotaExhaustedError  the account has no credit left
        ├── RateLimitError     429: retryable, pauses the whole pool
        ├── ServerError        5xx / 408 / 409: retryable (unless the gateway says "bad request")
        ├── TransportError     timeouts, resets, refused connections: retryable
        │   └── ConnectError   no connection made (refused, DNS, unreachable): nothing sent
        ├── BadResponseError   a 2xx whose body is truncated, undecodable or has no image
        ├── TaskTimeoutError   a submitted task did not finish before --task-timeout
        ├── InvalidRequestError  400 / 404 / 413 / 422: permanent
        │   └── ContentPolicyError  a safety refusal: permanent, with the provider's message
        └── DownloadError      fetching a ``url`` result failed (retryable unless stated)

Whether to retry is a property of the error (``retryable``); whether the provider may have
billed a request whose answer was lost is another (``ambiguous``). Messages never contain
the API key: providers build them from response bodies, which the key never reaches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class BatchGenError(Exception):
    """Base class of every error batch_gen raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation problem, located as precisely as the input allows."""

    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class ManifestError(BatchGenError):
    """The manifest is invalid. ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the manifest"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class UsageError(BatchGenError):
    """The command line or run options are invalid (exit status 2)."""


class ConfigurationError(BatchGenError):
    """The run cannot start, or had to stop as a whole (exit status 3)."""


class MissingKeyError(ConfigurationError):
    """No API key was given and the run is not offline."""


class OutputLockedError(ConfigurationError):
    """Another live run holds the lock on the output folder."""


class ForeignImagesError(ConfigurationError):
    """The run would replace or delete images that another provider (the offline simulator
    versus a real base URL) or another manifest made, and was not told it may."""


class UnwritablePathError(ConfigurationError):
    """A path the run must write (its output folder, ``--report``) cannot be written: it is
    a file where a folder is needed or the reverse, lies under a file, or the file system
    refuses it. Found before anything is sent."""


class ProviderError(BatchGenError):
    """One request to a provider failed.

    Attributes:
        status: the HTTP status, if a response arrived.
        code: the provider's error code (``error.code``), if any.
        retryable: whether sending the same request again may succeed.
        ambiguous: the request may have reached the provider and been billed although its
            answer was lost (read timeout, dropped connection, gateway timeout, broken body).
        retry_after: the delay in seconds the provider asked for, if it did.
        request_id: the provider's request id, for support tickets.
    """

    retryable: bool = False
    ambiguous: bool = False
    retry_in_run = True  # False: retryable by a later run only (see TaskTimeoutError)

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool | None = None,
        ambiguous: bool | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        if retryable is not None:
            self.retryable = retryable
        if ambiguous is not None:
            self.ambiguous = ambiguous
        self.retry_after = retry_after
        self.request_id = request_id

    def describe(self) -> str:
        """A one-line description for state, reports and summaries."""
        prefix = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{prefix}{self.message}"


class FatalProviderError(ProviderError):
    """An answer that means every other request would fail too: abort the run (exit 3)."""


class AuthenticationError(FatalProviderError):
    """401/403: the key is missing, rejected or not allowed to use this model."""


class ModelNotFoundError(FatalProviderError):
    """The provider does not offer the requested model."""


class QuotaExhaustedError(FatalProviderError):
    """The account has run out of credit or quota."""


class RateLimitError(ProviderError):
    """429: too many requests. Retryable; pauses the whole pool."""

    retryable = True


class ServerError(ProviderError):
    """A 5xx (or 408/409) answer. Retryable unless constructed otherwise."""

    retryable = True


class TransportError(ProviderError):
    """The request got no complete answer: timeout, reset, refused or dropped connection."""

    retryable = True


class ConnectError(TransportError):
    """No connection to the host could be made (refused, a name that does not resolve, an
    unreachable network, a connect timeout, a failed TLS handshake): nothing was sent, so
    nothing was billed. Retryable like any transport error, but a run whose calls have never
    connected stops at the first one (see :mod:`batch_gen.runner.gate`).

    ``host`` names where the connection was tried (``api.example.com:443``, or ``the proxy
    proxy.corp:3128`` when ``through_proxy``) and ``reason`` why it failed, for that line.
    """

    ambiguous = False

    def __init__(self, message: str, *, host: str, reason: str, through_proxy: bool) -> None:
        super().__init__(message, ambiguous=False)
        self.host = host
        self.reason = reason
        self.through_proxy = through_proxy


class BadResponseError(ProviderError):
    """A 2xx answer whose body is truncated, undecodable or carries no usable image."""

    retryable = True


class TaskTimeoutError(ProviderError):
    """A submitted task did not end before the deadline. The task id stays recorded, so
    the job is retryable by a later run (which polls the same task), but not within this
    run: its deadline has passed."""

    retryable = True
    retry_in_run = False


class InvalidRequestError(ProviderError):
    """The provider rejected the request as invalid; sending it again will not help."""


class ContentPolicyError(InvalidRequestError):
    """The provider refused the prompt or the result on safety grounds."""


class DownloadError(ProviderError):
    """Fetching an image from a ``url`` result failed."""

    retryable = True
