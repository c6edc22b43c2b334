"""What happens in a run, as values: the one record of every request's fate and every
job's progress. The summary, the progress display, the state store and the pricing book
listen to these (see :mod:`.books`); nothing else keeps counts.

A request's fate, once it is sent, is exactly one of: :class:`Answered` (images came back),
:class:`Refused` (an error answer: not billed), :class:`Lost` (sent, then no usable answer:
possibly billed) or :class:`Abandoned` (still in flight when the run stopped: possibly
billed). A failure that will be tried again is followed by :class:`Retrying`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ProviderError
from ..models import ImageRecord, Job, JobRecord
from ..planning.plan import PlannedJob
from ..providers.base import ApiRequest


@dataclass(frozen=True, slots=True)
class Skipped:
    """The plan leaves the job alone (already done, failed for good, not selected)."""

    item: PlannedJob
    record: JobRecord | None


@dataclass(frozen=True, slots=True)
class Recorded:
    """The job's record changed; it is durable once the state store has it."""

    record: JobRecord


@dataclass(frozen=True, slots=True)
class Sent:
    """A request of the job went out (or a recorded task was taken up again)."""

    job: Job


@dataclass(frozen=True, slots=True)
class Answered:
    """The request was answered with images; ``usage`` as the API reported it. ``request``
    is what was asked (its step names what is billed: a Midjourney upscale is priced as
    one)."""

    job: Job
    request: ApiRequest
    usage: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Refused:
    """The request failed with an answer that costs nothing, or before it was sent."""

    job: Job
    error: ProviderError


@dataclass(frozen=True, slots=True)
class Lost:
    """The request was sent and its answer lost or unusable (or its task ended without an
    image): it may have been billed."""

    job: Job
    request: ApiRequest
    error: ProviderError


@dataclass(frozen=True, slots=True)
class Abandoned:
    """The request was in flight when the run stopped (``earlier``: when an earlier run
    stopped, found recorded in the state): it may have been billed."""

    job: Job
    request: ApiRequest
    earlier: bool = False


@dataclass(frozen=True, slots=True)
class Retrying:
    """The job tries again after ``delay`` seconds (``error`` says why). ``what`` is
    ``request``, or ``download`` for fetching an image the API made."""

    job: Job
    error: ProviderError
    delay: float
    what: str = "request"


@dataclass(frozen=True, slots=True)
class Resumed:
    """The wait before a retry is over (or was cut short by a stop)."""

    job: Job


@dataclass(frozen=True, slots=True)
class Staged:
    """Images of the job were written and recorded (renamed into place later)."""

    job: Job
    images: tuple[ImageRecord, ...]


@dataclass(frozen=True, slots=True)
class Finished:
    """The job ended: succeeded when ``error`` is None, else failed with it."""

    job: Job
    record: JobRecord
    error: ProviderError | None = None


@dataclass(frozen=True, slots=True)
class Settled:
    """The job ended neither succeeded nor failed (the run stopped or aborted)."""

    job: Job


Event = (
    Skipped
    | Recorded
    | Sent
    | Answered
    | Refused
    | Lost
    | Abandoned
    | Retrying
    | Resumed
    | Staged
    | Finished
    | Settled
)
Listener = Callable[[Event], None]


class Events:
    """Hands every event to every listener that wants it, in the order they were added.

    A listener may say which event types it wants in a ``wants`` attribute (a collection
    of types); one without it gets every event. Each type's listeners are found once: a
    run emits several events per request, and most listeners want few of them.
    """

    def __init__(self, *listeners: Listener) -> None:
        self._listeners = list(listeners)
        self._routes: dict[type, tuple[Listener, ...]] = {}

    def add(self, listener: Listener) -> None:
        """Hand later events to ``listener`` too."""
        self._listeners.append(listener)
        self._routes.clear()

    def emit(self, event: Event) -> None:
        kind = type(event)
        route = self._routes.get(kind)
        if route is None:
            route = self._routes[kind] = tuple(
                listener for listener in self._listeners if _wants(listener, kind)
            )
        for listener in route:
            listener(event)


def _wants(listener: Listener, kind: type) -> bool:
    wanted: Collection[type] | None = getattr(listener, "wants", None)
    return wanted is None or kind in wanted
