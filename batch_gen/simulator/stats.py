"""What the simulator saw: per-prompt request and billing counts, task submits and polls,
uploads, faults, statuses and arrivals — the proof that nothing was paid for twice.

Only the server mutates these (through the underscored methods); tests and ``GET
/_sim/stats`` read them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


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

    def _requested(self, prompt: str | None) -> None:
        """Count one request for *prompt* (ignored unless a non-empty string)."""
        if isinstance(prompt, str) and prompt:
            self._prompt(prompt).requests += 1

    def _billed(self, prompt: str, units: int) -> None:
        """Bill *units* images or tasks to *prompt*."""
        self._prompt(prompt).billed += units

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
