"""Midjourney's actions on a finished task: ``/mj/submit/action`` (a button's customId
from the task's latest fetch) and its legacy form ``/mj/submit/change`` (action and index).
Each bills and creates a child task. See ``docs/protocols/midjourney.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator.config import Fault
from batch_gen.simulator.errors import ErrorFamily, MjError
from batch_gen.simulator.gateway import Admission, Arrival, Body, Call
from batch_gen.simulator.midjourney_tasks import (
    BUTTON_ACTIONS,
    MJ_TASKS,
    Button,
    MjTask,
    Status,
    new_task,
    submit_answer,
)


def _parent_of(call: Call) -> MjTask | None:
    """The task the body's ``taskId`` names, if it exists."""
    body = call.body
    if body is None:
        return None
    task_id = body.get("taskId")
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        task_id = str(task_id)
    if not isinstance(task_id, str):
        return None
    return call.request.app[MJ_TASKS].live(task_id, now=call.state.clock())


async def _child(
    call: Call,
    parent: MjTask,
    button: Button,
    *,
    body: Mapping[str, Any],
    prefix_mode: str | None,
    custom_id: str,
) -> web.StreamResponse:
    """Bill and create the task an action on *parent* starts; answer its submit."""
    fault = await call.upstream(parent.prompt, billed=1)
    action, grid = BUTTON_ACTIONS[button.kind]
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
    task = new_task(
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
    answer = submit_answer(1, "Submission successful", task.id, numberOfQueues=0)
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


async def action(call: Call, prefix_mode: str | None) -> web.StreamResponse:
    body = call.json
    parent = _parent_of(call)
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


async def change(call: Call, prefix_mode: str | None) -> web.StreamResponse:
    body = call.json
    parent = _parent_of(call)
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
    button = Button(kind, index if action != "REROLL" else 0, "")
    return await _child(call, parent, button, body=body, prefix_mode=prefix_mode, custom_id="")


def _parent_arrival(call: Call) -> Arrival:
    """An action is counted under the prompt of the task it acts on."""
    parent = _parent_of(call)
    return Arrival(parent.prompt if parent is not None else None)


ADMISSION: Final = Admission(family=ErrorFamily.MJ, body=Body.JSON, arrival=_parent_arrival)
"""Actions are counted under the prompt of the task they act on."""
