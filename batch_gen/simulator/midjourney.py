"""Midjourney through CometAPI: the midjourney-proxy protocol as new-api relays it.

Routes (each also under the speed prefixes ``/mj-fast``, ``/mj-turbo``, ``/mj-relax``,
e.g. ``/mj-turbo/mj/submit/imagine``; plain ``/mj`` is fast unless the body's
``accountFilter.modes`` says otherwise):

- ``POST /mj/submit/imagine`` ``{prompt, botType?, base64Array?, accountFilter?, state?}``
  → HTTP 200 ``{"code","description","result","properties"}``. Codes: 1 submitted; 21
  already exists (``result`` is this prompt's latest task, nothing billed; a new task if
  there is none); 22 queued (the task starts ``mj_task_seconds / 2`` late); 23 queue full
  (nothing created: back off); 24 banned prompt (the trigger word; ``properties`` has
  ``promptEn`` and ``bannedWord``). Codes come from ``mj_scripts``, else ``mj_p21/22/23``,
  else 1. ``description`` is localized like midjourney-proxy's (Chinese for 21-24): branch
  on ``code``. Request errors are new-api's HTTP 400 ``{"description","type":
  "upstream_error","code":4}``.
- ``GET /mj/task/{id}/fetch`` → the task (below). An unknown id gets what new-api sends:
  HTTP **400** ``{"description":"task_no_found ","type":"upstream_error","code":4}`` (the
  trailing space is new-api's ``"%s %s"`` formatting with an empty result).
- ``POST /mj/submit/action`` ``{taskId, customId}`` → a submit response (code 1) for a new
  task. ``customId`` must be one of the buttons of the task's **latest** fetch: buttons get
  fresh random customIds on every read after SUCCESS, so a stale or invented one gets 400
  code 4 ``customId not found``; an unknown task ``task_not_found``; a task not yet
  successful ``task_status_not_success``. Upsample (U1-U4) gives an UPSCALE task whose
  image is one grid cell; variation (V1-V4), reroll and the upscale's Vary/Zoom buttons
  give new grids.
- ``POST /mj/submit/change`` ``{taskId, action: UPSCALE|VARIATION|REROLL, index}`` — the
  legacy form of action (no customId).
- ``POST /mj/task/list-by-condition`` ``{ids:[...]}`` → a JSON array of the known tasks.
- ``GET /mj/image/{id}`` (no auth, like new-api's image proxy) → PNG: the full image once
  SUCCESS, a small preview while IN_PROGRESS (``imageUrl`` then ends in ``?rand=``);
  otherwise HTTP 400 ``{"error":"midjourney_task_not_found"}``.

A task walks NOT_START → SUBMITTED → IN_PROGRESS (``progress`` "0%"…"99%") → SUCCESS
("100%", ``imageUrl``, buttons) or FAILURE (``failReason``; prompts containing
``mj_fail_word``, half way through). Progress is read off the clock: a task takes
``mj_task_seconds`` in fast mode, half in turbo, twice in relax. An IMAGINE result is a 2x2
grid PNG whose long side is 512 (``--ar W:H`` in the prompt sets its shape); an UPSCALE is
one cell (half the grid's width and height).

Billing: a created task is billed once at submit (``PromptStats.submits`` and ``billed``);
fetches count as ``polls`` for the prompt and ``fetches`` for the task id.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.common import (
    NOT_AN_IMAGE,
    Call,
    ErrorStyle,
    MjError,
    api_route,
    contains_word,
    decode_base64_image,
    json_response,
    read_json_object,
    size_for_ratio,
    sniff_image,
)
from batch_gen.simulator.config import Fault, SimulatorConfig
from batch_gen.simulator.images import ImageFormat, ImageSpec, variant_for
from batch_gen.simulator.state import STATE_KEY, SimState, TaskStats, UploadStats

MODES: Final[Mapping[str, float]] = {"fast": 1.0, "turbo": 0.5, "relax": 2.0}
"""Speed modes and how they scale ``mj_task_seconds``."""
_PREFIXES: Final[Mapping[str, str | None]] = {
    "": None,
    "/mj-fast": "fast",
    "/mj-turbo": "turbo",
    "/mj-relax": "relax",
}
_GRID_LONG_SIDE: Final = 512
_PREVIEW_DIVISOR: Final = 4
_CHANNEL: Final = {"discordChannelId": "1238472210316103680", "discordInstanceId": "1238472210316"}
_FAIL_REASON: Final = "Job failed to process, please try again later"
# midjourney-proxy's own descriptions (its full-width commas included).
_QUEUED: Final = "排队中，前面还有1个任务"  # noqa: RUF001
_QUEUE_FULL: Final = "队列已满，请稍后尝试"  # noqa: RUF001
_AR_FLAG: Final = re.compile(r"--(?:ar|aspect)\s+(\d{1,3}:\d{1,3})")


class Status(StrEnum):
    """midjourney-proxy task statuses (note FAILURE, not FAILED)."""

    NOT_START = "NOT_START"
    SUBMITTED = "SUBMITTED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


# customId kind → (resulting action, result is a grid)
_BUTTON_ACTIONS: Final[Mapping[str, tuple[str, bool]]] = {
    "upsample": ("UPSCALE", False),
    "variation": ("VARIATION", True),
    "reroll": ("REROLL", True),
    "high_variation": ("VARIATION", True),
    "low_variation": ("VARIATION", True),
    "Outpaint": ("ZOOM", True),
}


@dataclass(frozen=True, slots=True)
class _Button:
    kind: str
    """A key of ``_BUTTON_ACTIONS``."""
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
    *(_Button("upsample", i, f"U{i}") for i in range(1, 5)),
    _Button("reroll", 0, "", "🔄"),
    *(_Button("variation", i, f"V{i}") for i in range(1, 5)),
)
_UPSCALE_BUTTONS: Final = (
    _Button("high_variation", 1, "Vary (Strong)", "🪄"),
    _Button("low_variation", 1, "Vary (Subtle)", "🪄"),
    _Button("Outpaint", 50, "Zoom Out 2x", "🔍"),
    _Button("Outpaint", 75, "Zoom Out 1.5x", "🔍"),
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
    submitted_at: float
    """Clock time of the submit."""
    submit_wall: float
    """Epoch seconds of the submit (for the ms timestamps clients see)."""
    delay: float
    """Seconds spent queued before the work starts (code 22)."""
    duration: float
    fails: bool
    corrupt: bool
    """The bad_b64 fault hit the submit: the image served is not an image."""
    width: int
    height: int
    grid: bool
    variant: int
    buttons: dict[str, _Button] = field(default_factory=dict)
    """The customIds shown by the latest read (replaced on every read after SUCCESS)."""

    def phase(self, now: float) -> tuple[Status, int]:
        """Status and progress percent at clock time *now*."""
        elapsed = now - self.submitted_at - self.delay
        span = self.duration
        if elapsed < 0.1 * span:
            return Status.NOT_START, 0
        if elapsed < 0.2 * span:
            return Status.SUBMITTED, 0
        if self.fails and elapsed >= 0.5 * span:
            return Status.FAILURE, int((0.3 / 0.8) * 100)
        if elapsed < span:
            return Status.IN_PROGRESS, min(99, int((elapsed - 0.2 * span) / (0.8 * span) * 100))
        return Status.SUCCESS, 100


class MjStore:
    """The tasks of one app, and the positions of the imagine code scripts."""

    def __init__(self) -> None:
        self.tasks: dict[str, MjTask] = {}
        self.latest_by_prompt: dict[str, str] = {}
        self.script_positions: dict[str, int] = {}

    def clear(self) -> None:
        """Forget every task (``POST /_sim/reset``)."""
        self.tasks.clear()
        self.latest_by_prompt.clear()
        self.script_positions.clear()

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


def _grid_size(prompt: str) -> tuple[int, int]:
    match = _AR_FLAG.search(prompt)
    if match is not None and (size := size_for_ratio(match[1], _GRID_LONG_SIDE, multiple=2)):
        return size
    return _GRID_LONG_SIDE, _GRID_LONG_SIDE


def _dto(task: MjTask, *, now: float, origin: str) -> dict[str, Any]:
    """The task as a fetch shows it; after SUCCESS this mints the task's fresh buttons."""
    status, progress = task.phase(now)
    image_url = ""
    buttons: list[dict[str, Any]] = []
    start = task.submit_wall + task.delay + 0.1 * task.duration
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
    finish = task.submit_wall + task.delay + (0.5 if task.fails else 1.0) * task.duration
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
        "properties": {"finalPrompt": task.prompt, **_CHANNEL},
        "buttons": buttons,
    }


def _submitted(
    code: int, description: str, task_id: str | None, **properties: Any
) -> dict[str, Any]:
    return {
        "code": code,
        "description": description,
        "result": task_id,
        "properties": {**_CHANNEL, **properties},
    }


def _mode_of(body: Mapping[str, Any], prefix_mode: str | None) -> str:
    if prefix_mode is not None:
        return prefix_mode
    account_filter = body.get("accountFilter")
    if isinstance(account_filter, Mapping):
        modes = account_filter.get("modes")
        if isinstance(modes, list) and modes and str(modes[0]).lower() in MODES:
            return str(modes[0]).lower()
    return "fast"


def _references(body: Mapping[str, Any]) -> tuple[list[bytes | None], str]:
    """The imagine's reference images: ``base64Array`` (or the older ``base64``)."""
    field_name = "base64Array" if "base64Array" in body else "base64"
    raw = body.get(field_name)
    if raw in (None, "", []):
        return [], field_name
    items = raw if isinstance(raw, list) else [raw]
    return [decode_base64_image(item) if isinstance(item, str) else None for item in items], (
        field_name
    )


def _new_task(
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
    config: SimulatorConfig = call.config
    store = call.request.app[MJ_TASKS]
    bot_type = body.get("botType")
    task = MjTask(
        id=call.state.new_mj_task_id(),
        action=action,
        prompt=prompt,
        mode=mode,
        bot_type=bot_type if isinstance(bot_type, str) and bot_type else "MID_JOURNEY",
        state=str(body.get("state") or ""),
        custom_id=custom_id,
        submitted_at=call.state.clock(),
        submit_wall=time.time(),
        delay=delay,
        duration=config.mj_task_seconds * MODES[mode],
        fails=contains_word(prompt, config.mj_fail_word),
        corrupt=corrupt,
        width=width,
        height=height,
        grid=grid,
        variant=variant,
    )
    store.tasks[task.id] = task
    store.latest_by_prompt[prompt] = task.id
    call.stats._submitted(task.id, TaskStats("midjourney", prompt, action, mode))
    return task


async def _imagine(call: Call, prefix_mode: str | None) -> web.StreamResponse:
    body = await read_json_object(call.request)
    prompt = body.get("prompt") if body is not None else None
    references: list[bytes | None] = []
    if body is not None:
        call.count_prompt(prompt)
        references, field_name = _references(body)
        if isinstance(prompt, str) and prompt and references:
            formats = tuple(
                (fmt.value if data is not None and (fmt := sniff_image(data)) else "unknown")
                for data in references
            )
            call.stats.uploads[prompt] = UploadStats(
                images=len(references),
                mask=False,
                parts=(field_name,) * len(references),
                formats=formats,
            )
    call.check_key()
    if body is None:
        raise MjError("bind_request_body_failed")
    call.admit()
    if not isinstance(prompt, str) or not prompt.strip():
        raise MjError("prompt_is_required")
    if body.get("botType") not in (None, "", "MID_JOURNEY", "NIJI_JOURNEY"):
        raise MjError("botType must be MID_JOURNEY or NIJI_JOURNEY")
    if any(data is None or sniff_image(data) is None for data in references):
        raise MjError("base64 image is invalid")
    mode = _mode_of(body, prefix_mode)
    fault = await call.upstream(prompt, billed=1, style=ErrorStyle.MJ)
    store = call.request.app[MJ_TASKS]
    code = 24 if call.triggered(prompt) else store.next_code(prompt, call.state)
    if code == 24:
        word = call.config.trigger_word or prompt.split()[0]
        return await call.reply(
            _submitted(24, "可能包含敏感词", None, promptEn=prompt, bannedWord=word), fault=fault
        )
    if code == 23:
        return await call.reply(_submitted(23, _QUEUE_FULL, None), fault=fault)
    if code == 4:
        raise MjError("submit_rejected: the upstream account refused the job")
    if code == 21 and (existing := store.latest_by_prompt.get(prompt)) in store.tasks:
        task = store.tasks[existing]
        status, _ = task.phase(call.state.clock())
        image_url = f"{call.origin}/mj/image/{task.id}" if status is Status.SUCCESS else ""
        answer = _submitted(21, "任务已存在", task.id, status=status.value, imageUrl=image_url)
        return await call.reply(answer, fault=fault)
    width, height = _grid_size(prompt)
    task = _new_task(
        call,
        action="IMAGINE",
        prompt=prompt,
        mode=mode,
        body=body,
        width=width,
        height=height,
        grid=True,
        variant=variant_for(prompt, call.config.image_variants),
        delay=call.config.mj_task_seconds * MODES[mode] / 2 if code == 22 else 0.0,
        corrupt=fault is Fault.BAD_B64,
    )
    if code == 22:
        answer = _submitted(22, _QUEUED, task.id, numberOfQueues=1)
    elif code == 21:
        answer = _submitted(21, "任务已存在", task.id, status=Status.NOT_START.value, imageUrl="")
    else:
        answer = _submitted(1, "Submission successful", task.id)
    return await call.reply(answer, fault=fault)


def _parent_of(call: Call, body: Mapping[str, Any] | None) -> MjTask | None:
    if body is None:
        return None
    task_id = body.get("taskId")
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        task_id = str(task_id)
    if not isinstance(task_id, str):
        return None
    return call.request.app[MJ_TASKS].tasks.get(task_id)


async def _child(
    call: Call,
    parent: MjTask,
    button: _Button,
    *,
    body: Mapping[str, Any],
    prefix_mode: str | None,
    custom_id: str,
) -> web.StreamResponse:
    """Bill and create the task an action on *parent* starts; answer its submit."""
    fault = await call.upstream(parent.prompt, billed=1, style=ErrorStyle.MJ)
    action, grid = _BUTTON_ACTIONS[button.kind]
    if grid:
        width, height = (
            (parent.width, parent.height)
            if parent.grid
            else (
                parent.width * 2,
                parent.height * 2,
            )
        )
        offset = {"REROLL": 4, "ZOOM": 12}.get(action, 8 + button.index)
        variant = parent.variant + offset
    else:
        width, height = max(1, parent.width // 2), max(1, parent.height // 2)
        # The upscale shows the grid cell it was picked from.
        variant = parent.variant + button.index - 1
    task = _new_task(
        call,
        action=action,
        prompt=parent.prompt,
        mode=prefix_mode or parent.mode,
        body={"botType": parent.bot_type, **body},
        width=width,
        height=height,
        grid=grid,
        variant=variant,
        custom_id=custom_id,
        corrupt=fault is Fault.BAD_B64,
    )
    answer = _submitted(1, "Submission successful", task.id, numberOfQueues=0)
    return await call.reply(answer, fault=fault)


def _successful_parent(call: Call, body: Mapping[str, Any], parent: MjTask | None) -> MjTask:
    if not body.get("taskId"):
        raise MjError("taskId is required")
    if parent is None:
        raise MjError("task_not_found")
    status, _ = parent.phase(call.state.clock())
    if status is not Status.SUCCESS:
        raise MjError("task_status_not_success")
    return parent


async def _action(call: Call, prefix_mode: str | None) -> web.StreamResponse:
    body = await read_json_object(call.request)
    parent = _parent_of(call, body)
    if parent is not None:
        call.count_prompt(parent.prompt)
    call.check_key()
    if body is None:
        raise MjError("bind_request_body_failed")
    call.admit()
    custom_id = body.get("customId")
    if not isinstance(custom_id, str) or not custom_id:
        raise MjError("customId is required")
    parent = _successful_parent(call, body, parent)
    button = parent.buttons.get(custom_id)
    if button is None:
        # Buttons are re-minted on every read: only the latest fetch's customIds work.
        raise MjError("customId not found")
    return await _child(
        call, parent, button, body=body, prefix_mode=prefix_mode, custom_id=custom_id
    )


_CHANGE_KINDS: Final[Mapping[str, str]] = {
    "UPSCALE": "upsample",
    "VARIATION": "variation",
    "REROLL": "reroll",
}


async def _change(call: Call, prefix_mode: str | None) -> web.StreamResponse:
    body = await read_json_object(call.request)
    parent = _parent_of(call, body)
    if parent is not None:
        call.count_prompt(parent.prompt)
    call.check_key()
    if body is None:
        raise MjError("bind_request_body_failed")
    call.admit()
    action = body.get("action")
    index = body.get("index", 0)
    kind = _CHANGE_KINDS.get(action) if isinstance(action, str) else None
    if kind is None:
        raise MjError("action must be UPSCALE, VARIATION or REROLL")
    if action != "REROLL" and (not isinstance(index, int) or not 1 <= index <= 4):
        raise MjError("index must be 1..4")
    parent = _successful_parent(call, body, parent)
    if not parent.grid:
        raise MjError("the task has no grid to act on")
    button = _Button(kind, index if action != "REROLL" else 0, "")
    return await _child(call, parent, button, body=body, prefix_mode=prefix_mode, custom_id="")


async def _fetch(call: Call) -> web.StreamResponse:
    call.authorize()
    task_id = call.request.match_info["id"]
    call.stats._polled(task_id)
    task = call.request.app[MJ_TASKS].tasks.get(task_id)
    if task is None:
        raise MjError("task_no_found")
    return await call.reply(_dto(task, now=call.state.clock(), origin=call.origin))


async def _list_by_condition(call: Call) -> web.StreamResponse:
    call.authorize()
    body = await read_json_object(call.request)
    ids = body.get("ids") if body is not None else None
    if not isinstance(ids, list):
        raise MjError("do_request_failed")
    store = call.request.app[MJ_TASKS]
    now = call.state.clock()
    found: list[dict[str, Any]] = []
    for raw in ids:
        task = store.tasks.get(str(raw)) if isinstance(raw, str | int) else None
        if task is not None:
            call.stats._polled(task.id)
            found.append(_dto(task, now=now, origin=call.origin))
    return await call.reply(found)


async def _image(request: web.Request) -> web.StreamResponse:
    """The task's image as PNG (a preview while in progress); no auth, not counted."""
    state = request.app[STATE_KEY]
    task = request.app[MJ_TASKS].tasks.get(request.match_info["id"])
    if task is None:
        return json_response({"error": "midjourney_task_not_found"}, status=400)
    status, _ = task.phase(state.clock())
    if status not in (Status.IN_PROGRESS, Status.SUCCESS):
        return json_response({"error": "midjourney_task_not_found"}, status=400)
    if task.corrupt:
        return web.Response(body=NOT_AN_IMAGE, content_type="image/png")
    divisor = 1 if status is Status.SUCCESS else _PREVIEW_DIVISOR
    image = await state.images.get(
        ImageSpec(
            max(1, task.width // divisor),
            max(1, task.height // divisor),
            ImageFormat.PNG,
            state.config.image_mode,
            task.variant,
            grid=task.grid,
        )
    )
    return web.Response(body=image.data, content_type=image.content_type)


def _bound(
    handler: Callable[[Call, str | None], Awaitable[web.StreamResponse]], prefix_mode: str | None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """*handler* as an API route that knows the speed mode of its path prefix."""

    async def submit(call: Call) -> web.StreamResponse:
        return await handler(call, prefix_mode)

    return api_route(submit)


def add_routes(app: web.Application) -> None:
    """Register the Midjourney routes (under every speed prefix) on *app*."""
    store = MjStore()
    app[MJ_TASKS] = store
    app[STATE_KEY].on_reset(store.clear)
    fetch = api_route(_fetch)
    list_by_condition = api_route(_list_by_condition)
    for prefix, mode in _PREFIXES.items():
        app.router.add_post(f"{prefix}/mj/submit/imagine", _bound(_imagine, mode))
        app.router.add_post(f"{prefix}/mj/submit/action", _bound(_action, mode))
        app.router.add_post(f"{prefix}/mj/submit/change", _bound(_change, mode))
        app.router.add_get(f"{prefix}/mj/task/{{id}}/fetch", fetch)
        app.router.add_post(f"{prefix}/mj/task/list-by-condition", list_by_condition)
    app.router.add_get("/mj/image/{id}", _image)
