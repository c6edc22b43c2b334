"""Everything mutable behind one simulator app: statistics, RNG, rpm window, fault scripts,
image cache, the ``/files/`` store and the clock that drives task progress.

One :class:`SimState` lives in ``app[STATE_KEY]``; nothing here is global. Route modules
keep their own task tables under their own app keys and register a reset hook here, so
``POST /_sim/reset`` forgets them too.
"""

from __future__ import annotations

import itertools
import random
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Protocol, TypeVar

from aiohttp import web

from batch_gen.simulator.config import Fault, SimulatorConfig
from batch_gen.simulator.images import ImageCache

Clock = Callable[[], float]
"""Monotonic seconds; injectable so tests can move task progress without sleeping."""

# --------------------------------------------------------------------------------------
# Statistics


@dataclass(slots=True)
class PromptStats:
    """Counters for one prompt (over every route that carries a prompt)."""

    requests: int = 0
    """Arrivals whose body carried this prompt: generations, edits, Gemini, task submits
    (an MJ action counts under the prompt of the task it acts on)."""
    billed: int = 0
    """Images or tasks charged: n per 200 of a synchronous route, one per task at submit,
    and also the ambiguous outcomes (504/524/drop/truncate/bad base64), because the work
    was done even though the client got nothing usable."""
    submits: int = 0
    """Tasks created for this prompt (MJ imagine/action, Flux, Bria edits). Each is billed
    once, here, at submit; polls never are."""
    polls: int = 0
    """Status reads of this prompt's tasks (MJ fetch and list-by-condition, Flux
    get_result, Bria status). Not billed."""


@dataclass(frozen=True, slots=True)
class UploadStats:
    """What the latest request of a prompt uploaded (edits, Gemini, MJ, Flux, Bria)."""

    images: int
    """Input images received (the mask not included)."""
    mask: bool
    """Whether a mask came with them."""
    names: tuple[str, ...] = ()
    """File names of multipart image parts as sent ('' when a part had none)."""
    parts: tuple[str, ...] = ()
    """Where each image came from: multipart part names (``image`` / ``image[]``) or JSON
    field names (``inline_data``, ``base64Array``, ``image``...)."""
    formats: tuple[str, ...] = ()
    """Sniffed format of each image: ``png``, ``jpeg``, ``webp``, ``url`` or ``unknown``."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return {
            "images": self.images,
            "mask": self.mask,
            "names": list(self.names),
            "parts": list(self.parts),
            "formats": list(self.formats),
        }


@dataclass(slots=True)
class TaskStats:
    """Counters for one task id (MJ, Flux or Bria)."""

    kind: str
    """``midjourney``, ``flux`` or ``bria``."""
    prompt: str
    action: str
    """MJ action (IMAGINE, UPSCALE...), Flux model, or Bria edit action."""
    mode: str = ""
    """MJ speed mode (``fast``, ``turbo``, ``relax``); empty elsewhere."""
    fetches: int = 0
    """Status reads of this task."""


@dataclass(slots=True, eq=False)
class SimStats:
    """What the simulator saw: the proof that nothing was paid for twice.

    Mutated in place by the server (and by :meth:`clear` on reset), so a reference taken
    before a run stays valid. Arrival counters cover every authenticated API route
    (generations, edits, Gemini, task submits and polls, ``/v1/models``); downloads,
    ``/api/models`` and ``/_sim/*`` are not counted.
    """

    total_requests: int = 0
    """Every arrival at an API route, parseable or not."""
    rate_limited: int = 0
    """429s from the rpm window (injected 429 faults are counted in :attr:`faults`)."""
    in_flight: int = 0
    max_concurrent: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    """Responses by HTTP status; a dropped connection has none and counts only in faults."""
    faults: dict[str, int] = field(default_factory=dict)
    """Injected faults by :class:`Fault` value (scripted or random)."""
    prompts: dict[str, PromptStats] = field(default_factory=dict)
    arrivals: list[float] = field(default_factory=list)
    """``time.monotonic()`` of every arrival, in order."""
    uploads: dict[str, UploadStats] = field(default_factory=dict)
    """The latest upload per prompt."""
    tasks: dict[str, TaskStats] = field(default_factory=dict)
    """Every task created, by id (kept after the task itself expires)."""
    unknown_task_fetches: int = 0
    """Polls naming a task id the server does not know (or no longer knows)."""

    def requests_for(self, prompt: str) -> int:
        """Number of requests that carried exactly *prompt*."""
        entry = self.prompts.get(prompt)
        return entry.requests if entry else 0

    def billed_for(self, prompt: str) -> int:
        """Number of images or tasks billed for exactly *prompt*."""
        entry = self.prompts.get(prompt)
        return entry.billed if entry else 0

    def submits_for(self, prompt: str) -> int:
        """Number of tasks created for exactly *prompt*."""
        entry = self.prompts.get(prompt)
        return entry.submits if entry else 0

    def polls_for(self, prompt: str) -> int:
        """Number of status reads of the tasks of exactly *prompt*."""
        entry = self.prompts.get(prompt)
        return entry.polls if entry else 0

    def fetches_for(self, task_id: str) -> int:
        """Number of status reads of task *task_id* (0 for an unknown id)."""
        entry = self.tasks.get(task_id)
        return entry.fetches if entry else 0

    @property
    def total_billed(self) -> int:
        """Images and tasks billed over all prompts."""
        return sum(entry.billed for entry in self.prompts.values())

    @property
    def total_polls(self) -> int:
        """Task status reads over all prompts."""
        return sum(entry.polls for entry in self.prompts.values())

    def max_arrivals_in(self, window: float) -> int:
        """The largest number of arrivals inside any half-open interval of *window* seconds."""
        best = 0
        start = 0
        for end, arrived in enumerate(self.arrivals):
            while arrived - self.arrivals[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready snapshot (what ``GET /_sim/stats`` returns).

        Per-prompt entries always carry ``requests`` and ``billed``; ``submits`` and
        ``polls`` appear only when non-zero, so generation-only runs look as they always did.
        """
        prompts: dict[str, dict[str, int]] = {}
        for prompt, entry in self.prompts.items():
            item = {"requests": entry.requests, "billed": entry.billed}
            if entry.submits:
                item["submits"] = entry.submits
            if entry.polls:
                item["polls"] = entry.polls
            prompts[prompt] = item
        return {
            "total_requests": self.total_requests,
            "total_billed": self.total_billed,
            "total_polls": self.total_polls,
            "rate_limited": self.rate_limited,
            "in_flight": self.in_flight,
            "max_concurrent": self.max_concurrent,
            "by_status": {str(status): count for status, count in self.by_status.items()},
            "faults": dict(self.faults),
            "prompts": prompts,
            "uploads": {prompt: upload.to_json() for prompt, upload in self.uploads.items()},
            "tasks": {
                task_id: {
                    "kind": task.kind,
                    "prompt": task.prompt,
                    "action": task.action,
                    "mode": task.mode,
                    "fetches": task.fetches,
                }
                for task_id, task in self.tasks.items()
            },
            "unknown_task_fetches": self.unknown_task_fetches,
            "arrivals": list(self.arrivals),
        }

    def clear(self) -> None:
        """Forget everything except requests in flight right now."""
        self.total_requests = 0
        self.rate_limited = 0
        self.max_concurrent = self.in_flight
        self.by_status.clear()
        self.faults.clear()
        self.prompts.clear()
        self.arrivals.clear()
        self.uploads.clear()
        self.tasks.clear()
        self.unknown_task_fetches = 0

    # The underscored mutators are the server's; tests only read.

    def _arrive(self) -> None:
        self.total_requests += 1
        self.arrivals.append(time.monotonic())
        self.in_flight += 1
        self.max_concurrent = max(self.max_concurrent, self.in_flight)

    def _prompt(self, prompt: str) -> PromptStats:
        entry = self.prompts.get(prompt)
        if entry is None:
            entry = self.prompts[prompt] = PromptStats()
        return entry

    def _count(self, table: dict[Any, int], key: Any) -> None:
        table[key] = table.get(key, 0) + 1

    def _submitted(self, task_id: str, task: TaskStats) -> None:
        """Record a created task: one submit and one billed unit for its prompt."""
        self.tasks[task_id] = task
        entry = self._prompt(task.prompt)
        entry.submits += 1
        entry.billed += 1

    def _polled(self, task_id: str) -> None:
        """Record one status read of *task_id* (known or not)."""
        task = self.tasks.get(task_id)
        if task is None:
            self.unknown_task_fetches += 1
            return
        task.fetches += 1
        self._prompt(task.prompt).polls += 1


# --------------------------------------------------------------------------------------
# The /files/ store


class _Submitted(Protocol):
    submitted_at: float


_Task = TypeVar("_Task", bound=_Submitted)


class TaskStore(Generic[_Task]):
    """The tasks of one app by id; a task past its TTL is dropped when next looked up."""

    def __init__(self) -> None:
        self.tasks: dict[str, _Task] = {}

    def clear(self) -> None:
        """Forget every task (``POST /_sim/reset``)."""
        self.tasks.clear()

    def live(self, task_id: str, *, now: float, ttl: float) -> _Task | None:
        """The task if it exists and has not outlived *ttl* seconds since its submit."""
        task = self.tasks.get(task_id)
        if task is not None and now - task.submitted_at >= ttl:
            del self.tasks[task_id]
            return None
        return task


@dataclass(frozen=True, slots=True)
class StoredFile:
    """Bytes served at a ``/files/`` URL, with the Content-Type they are served under."""

    data: bytes
    content_type: str


class FileStore:
    """Bounded store behind ``/files/``; the oldest links expire first, as real ones do."""

    def __init__(self, *, max_entries: int) -> None:
        self._files: OrderedDict[str, StoredFile] = OrderedDict()
        self._max_entries = max_entries

    def add(self, stored: StoredFile) -> str:
        """Store *stored* and return its fresh URL-safe token."""
        token = secrets.token_urlsafe(16)
        self._files[token] = stored
        while len(self._files) > self._max_entries:
            self._files.popitem(last=False)
        return token

    def get(self, token: str) -> StoredFile | None:
        """The file behind *token*, or None once unknown or evicted."""
        return self._files.get(token)


# --------------------------------------------------------------------------------------
# The state


class SimState:
    """Everything mutable behind one app: stats, RNG, rpm window, scripts, caches, clock."""

    def __init__(self, config: SimulatorConfig, *, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.stats = SimStats()
        self.images = ImageCache(max_bytes=config.image_cache_bytes)
        self.files = FileStore(max_entries=4096)
        self._request_numbers = itertools.count(1)
        self._task_numbers = itertools.count(1)
        self.rng = random.Random(config.seed)
        self._admitted: deque[float] = deque()
        self._script_positions: dict[str, int] = {}
        self._reset_hooks: list[Callable[[], None]] = []

    def on_reset(self, hook: Callable[[], None]) -> None:
        """Call *hook* on every :meth:`reset` (route modules clear their task tables)."""
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        """Back to a freshly started server (the image cache survives: it is pure)."""
        self.stats.clear()
        self.rng = random.Random(self.config.seed)
        self._admitted.clear()
        self._script_positions.clear()
        for hook in self._reset_hooks:
            hook()

    def new_request_id(self) -> str:
        """A request id shaped like new-api's: a UTC timestamp followed by digits."""
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        return f"{stamp}{next(self._request_numbers) % 1_000_000:06d}{secrets.randbelow(10**6):06d}"

    def new_mj_task_id(self) -> str:
        """A midjourney-proxy task id: 16 digits (epoch ms plus a counter), as a string."""
        millis = int(time.time() * 1000)
        return f"{millis}{next(self._task_numbers) % 1000:03d}"

    def admit(self) -> float | None:
        """Admit one request into the rpm window, or return the seconds until it could be."""
        capacity = self.config.rpm_window_capacity
        if capacity == 0:
            return None
        now = time.monotonic()
        window = self.config.rpm_window
        while self._admitted and self._admitted[0] <= now - window:
            self._admitted.popleft()
        if len(self._admitted) >= capacity:
            return self._admitted[0] + window - now
        self._admitted.append(now)
        return None

    def next_fault(self, prompt: str) -> Fault:
        """The fault for this request of *prompt*: its script first, else a random draw."""
        for key, steps in self.config.scripts.items():
            if key in prompt:
                position = self._script_positions.get(prompt, 0)
                self._script_positions[prompt] = position + 1
                return Fault(steps[position]) if position < len(steps) else Fault.OK
        probabilities = self.config.fault_probabilities()
        if not any(p for _, p in probabilities):
            return Fault.OK
        draw = self.rng.random()
        for fault, probability in probabilities:
            if draw < probability:
                return fault
            draw -= probability
        return Fault.OK

    def latency(self) -> float:
        """Seconds to wait before answering one upstream request (latency plus jitter)."""
        config = self.config
        jitter = self.rng.uniform(0.0, config.latency_jitter) if config.latency_jitter else 0.0
        return config.latency + jitter


CONFIG_KEY: Final = web.AppKey("batch_gen.simulator.config", SimulatorConfig)
STATE_KEY: Final = web.AppKey("batch_gen.simulator.state", SimState)
