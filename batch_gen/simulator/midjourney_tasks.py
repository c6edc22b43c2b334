"""Midjourney's tasks as midjourney-proxy shows them: statuses read off the clock,
buttons re-minted on every read after SUCCESS, the fetch view, the submit answer, and the
store (the generic task store, plus each prompt's latest task and imagine code script).
See ``docs/protocols/midjourney.md``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.content import contains_word
from batch_gen.simulator.gateway import Call
from batch_gen.simulator.state import SimState
from batch_gen.simulator.stats import TaskStats
from batch_gen.simulator.tasks import Schedule, TaskStore

MODES: Final[Mapping[str, float]] = {"fast": 1.0, "turbo": 0.5, "relax": 2.0}
"""Speed modes and how they scale ``mj_task_seconds``."""
CHANNEL: Final = {"discordChannelId": "1238472210316103680", "discordInstanceId": "1238472210316"}
_FAIL_REASON: Final = "Job failed to process, please try again later"


class Status(StrEnum):
    """midjourney-proxy task statuses (note FAILURE, not FAILED)."""

    NOT_START = "NOT_START"
    SUBMITTED = "SUBMITTED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


# customId kind → (resulting action, result is a grid)
BUTTON_ACTIONS: Final[Mapping[str, tuple[str, bool]]] = {
    "upsample": ("UPSCALE", False),
    "variation": ("VARIATION", True),
    "reroll": ("REROLL", True),
    "high_variation": ("VARIATION", True),
    "low_variation": ("VARIATION", True),
    "Outpaint": ("ZOOM", True),
}


@dataclass(frozen=True, slots=True)
class Button:
    kind: str
    """A key of ``BUTTON_ACTIONS``."""
    index: int
    label: str
    emoji: str = ""

    def custom_id(self) -> str:
        token = uuid.uuid4()
        if self.kind == "Outpaint":
            return f"MJ::Outpaint::{self.index}::1::{token}::SOLO"
        if self.kind in ("reroll", "high_variation", "low_variation"):
            return f"MJ::JOB::{self.kind}::{self.index}::{token}::SOLO"
        return f"MJ::JOB::{self.kind}::{self.index}::{token}"


_GRID_BUTTONS: Final = (
    *(Button("upsample", i, f"U{i}") for i in range(1, 5)),
    Button("reroll", 0, "", "🔄"),
    *(Button("variation", i, f"V{i}") for i in range(1, 5)),
)
_UPSCALE_BUTTONS: Final = (
    Button("high_variation", 1, "Vary (Strong)", "🪄"),
    Button("low_variation", 1, "Vary (Subtle)", "🪄"),
    Button("Outpaint", 50, "Zoom Out 2x", "🔍"),
    Button("Outpaint", 75, "Zoom Out 1.5x", "🔍"),
)


@dataclass(slots=True, eq=False)
class MjTask:
    """One task and everything that decides what its fetches show."""

    id: str
    action: str
    prompt: str
    mode: str
    bot_type: str
    state: str
    custom_id: str
    schedule: Schedule
    """Clock times of the submit and the work (``delay`` is the code 22 queueing)."""
    submit_wall: float
    """Epoch seconds of the submit (for the ms timestamps clients see)."""
    fails: bool
    corrupt: bool
    """The bad_b64 fault hit the submit: the image served is not an image."""
    width: int
    height: int
    grid: bool
    variant: int
    buttons: dict[str, Button] = field(default_factory=dict)
    """The customIds shown by the latest read (replaced on every read after SUCCESS)."""

    def phase(self, now: float) -> tuple[Status, int]:
        """Status and progress percent at clock time *now*."""
        elapsed = self.schedule.elapsed(now)
        span = self.schedule.duration
        if elapsed < 0.1 * span:
            return Status.NOT_START, 0
        if elapsed < 0.2 * span:
            return Status.SUBMITTED, 0
        if self.fails and elapsed >= 0.5 * span:
            return Status.FAILURE, int((0.3 / 0.8) * 100)
        if elapsed < span:
            return Status.IN_PROGRESS, min(99, int((elapsed - 0.2 * span) / (0.8 * span) * 100))
        return Status.SUCCESS, 100


class MjStore(TaskStore[MjTask]):
    """The Midjourney tasks of one app (kept forever: ``/mj/image/{id}`` is stable), each
    prompt's latest task, and the positions of the imagine code scripts."""

    def __init__(self) -> None:
        super().__init__(ttl=None)
        self.latest_by_prompt: dict[str, str] = {}
        self.script_positions: dict[str, int] = {}

    def clear(self) -> None:
        """Forget every task (``POST /_sim/reset``)."""
        super().clear()
        self.latest_by_prompt.clear()
        self.script_positions.clear()

    def add(self, task: MjTask) -> MjTask:
        """Store *task* as its prompt's latest."""
        self.latest_by_prompt[task.prompt] = task.id
        return super().add(task)

    def latest(self, prompt: str, *, now: float) -> MjTask | None:
        """The latest task submitted for *prompt*."""
        task_id = self.latest_by_prompt.get(prompt)
        return self.live(task_id, now=now) if task_id is not None else None

    def next_code(self, prompt: str, state: SimState) -> int:
        """The submit code for this imagine of *prompt*: script, else a random draw, else 1."""
        config = state.config
        for key, codes in config.mj_scripts.items():
            if key in prompt:
                position = self.script_positions.get(prompt, 0)
                self.script_positions[prompt] = position + 1
                return codes[position] if position < len(codes) else 1
        weights = ((21, config.mj_p21), (22, config.mj_p22), (23, config.mj_p23))
        if not any(p for _, p in weights):
            return 1
        draw = state.rng.random()
        for code, probability in weights:
            if draw < probability:
                return code
            draw -= probability
        return 1


MJ_TASKS: Final = web.AppKey("batch_gen.simulator.mj_tasks", MjStore)


def task_view(task: MjTask, *, now: float, origin: str) -> dict[str, Any]:
    """The task as a fetch shows it; after SUCCESS this mints the task's fresh buttons."""
    status, progress = task.phase(now)
    image_url = ""
    buttons: list[dict[str, Any]] = []
    delay, duration = task.schedule.delay, task.schedule.duration
    start = task.submit_wall + delay + 0.1 * duration
    started = status not in (Status.NOT_START, Status.SUBMITTED)
    finished = status in (Status.SUCCESS, Status.FAILURE)
    if status is Status.IN_PROGRESS:
        # new-api appends rand to an unfinished task's link: it is a preview, not the result.
        image_url = f"{origin}/mj/image/{task.id}?rand={time.time_ns()}"
    elif status is Status.SUCCESS:
        image_url = f"{origin}/mj/image/{task.id}"
        task.buttons = {}
        for button in _GRID_BUTTONS if task.grid else _UPSCALE_BUTTONS:
            custom_id = button.custom_id()
            task.buttons[custom_id] = button
            buttons.append(
                {
                    "customId": custom_id,
                    "emoji": button.emoji,
                    "label": button.label,
                    "type": 2,
                    "style": 2,
                }
            )
    finish = task.submit_wall + delay + (0.5 if task.fails else 1.0) * duration
    return {
        "id": task.id,
        "action": task.action,
        "customId": task.custom_id,
        "botType": task.bot_type,
        "prompt": task.prompt,
        "promptEn": task.prompt,
        "description": "Submit success",
        "state": task.state,
        "mode": task.mode.upper(),
        "submitTime": int(task.submit_wall * 1000),
        "startTime": int(start * 1000) if started else 0,
        "finishTime": int(finish * 1000) if finished else 0,
        "status": status.value,
        "progress": f"{progress}%",
        "imageUrl": image_url,
        "videoUrl": "",
        "failReason": _FAIL_REASON if status is Status.FAILURE else "",
        "maskBase64": "",
        "properties": {"finalPrompt": task.prompt, **CHANNEL},
        "buttons": buttons,
    }


def submit_answer(
    code: int, description: str, task_id: str | None, **properties: Any
) -> dict[str, Any]:
    return {
        "code": code,
        "description": description,
        "result": task_id,
        "properties": {**CHANNEL, **properties},
    }


def new_task(
    call: Call,
    *,
    action: str,
    prompt: str,
    mode: str,
    body: Mapping[str, Any],
    width: int,
    height: int,
    grid: bool,
    variant: int,
    custom_id: str = "",
    delay: float = 0.0,
    corrupt: bool = False,
) -> MjTask:
    """Create, store and bill a task."""
    config = call.config
    bot_type = body.get("botType")
    task = MjTask(
        id=call.state.new_mj_task_id(),
        action=action,
        prompt=prompt,
        mode=mode,
        bot_type=bot_type if isinstance(bot_type, str) and bot_type else "MID_JOURNEY",
        state=str(body.get("state") or ""),
        custom_id=custom_id,
        schedule=Schedule(
            submitted_at=call.state.clock(),
            duration=config.mj_task_seconds * MODES[mode],
            delay=delay,
        ),
        submit_wall=time.time(),
        fails=contains_word(prompt, config.mj_fail_word),
        corrupt=corrupt,
        width=width,
        height=height,
        grid=grid,
        variant=variant,
    )
    call.request.app[MJ_TASKS].add(task)
    call.stats._submitted(task.id, TaskStats("midjourney", prompt, action, mode))
    return task
