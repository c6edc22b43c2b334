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
- ``POST /mj/task/list-by-condition`` ``{ids:[...]}`` → a JSON array of the known tasks,
  as new-api answers it: ids it does not know are left out without a word, and the order
  is shuffled (none is promised). Each listed task counts as a status read.
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
fetches count as ``polls`` for the prompt and ``fetches`` for the task id. The tasks
themselves live in :mod:`.midjourney_tasks`. See ``docs/protocols/midjourney.md``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator import midjourney_actions as actions
from batch_gen.simulator.config import Fault
from batch_gen.simulator.content import (
    decode_base64_image,
    format_label,
    size_for_ratio,
    sniff_image,
)
from batch_gen.simulator.errors import ErrorFamily, MjError, json_response
from batch_gen.simulator.faults import NOT_AN_IMAGE
from batch_gen.simulator.gateway import PUBLIC, Admission, Arrival, Body, Call, endpoint
from batch_gen.simulator.images import ImageFormat, spec_for, variant_for
from batch_gen.simulator.midjourney_tasks import (
    MJ_TASKS,
    MODES,
    MjStore,
    Status,
    new_task,
    submit_answer,
    task_view,
)
from batch_gen.simulator.routing import Route, SimApi
from batch_gen.simulator.state import install_store
from batch_gen.simulator.stats import UploadStats

__all__ = ["API", "MODES"]

_PREFIXES: Final[Mapping[str, str | None]] = {
    "": None,
    "/mj-fast": "fast",
    "/mj-turbo": "turbo",
    "/mj-relax": "relax",
}
_GRID_LONG_SIDE: Final = 512
_PREVIEW_DIVISOR: Final = 4
# midjourney-proxy's own descriptions (its full-width commas included).
_QUEUED: Final = "排队中，前面还有1个任务"  # noqa: RUF001
_QUEUE_FULL: Final = "队列已满，请稍后尝试"  # noqa: RUF001
_EXISTS: Final = "任务已存在"
_AR_FLAG: Final = re.compile(r"--(?:ar|aspect)\s+(\d{1,3}:\d{1,3})")


def _grid_size(prompt: str) -> tuple[int, int]:
    match = _AR_FLAG.search(prompt)
    if match is not None and (size := size_for_ratio(match[1], _GRID_LONG_SIDE, multiple=2)):
        return size
    return _GRID_LONG_SIDE, _GRID_LONG_SIDE


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


# --------------------------------------------------------------------------------------
# Imagine


def _imagine_arrival(call: Call) -> Arrival:
    """Counted under the prompt, with the reference images it carries."""
    body = call.body
    if body is None:
        return Arrival(None)
    prompt = body.get("prompt")
    references, field_name = _references(body)
    upload = None
    if references:
        upload = UploadStats(
            images=len(references),
            mask=False,
            parts=(field_name,) * len(references),
            formats=tuple(format_label(data) if data else "unknown" for data in references),
        )
    return Arrival(prompt if isinstance(prompt, str) else None, upload)


def _checked_prompt(body: Mapping[str, Any]) -> str:
    """The imagine's prompt, once its fields pass midjourney-proxy's checks."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise MjError("prompt_is_required")
    if body.get("botType") not in (None, "", "MID_JOURNEY", "NIJI_JOURNEY"):
        raise MjError("botType must be MID_JOURNEY or NIJI_JOURNEY")
    references, _ = _references(body)
    if any(data is None or sniff_image(data) is None for data in references):
        raise MjError("base64 image is invalid")
    return prompt


def _nonew_task(call: Call, store: MjStore, prompt: str, code: int) -> dict[str, Any] | None:
    """The answer of a submit *code* that creates no task (24, 23, 21 with a task), None
    when a task must be created; code 4 raises."""
    if code == 24:
        word = call.config.trigger_word or prompt.split()[0]
        return submit_answer(24, "可能包含敏感词", None, promptEn=prompt, bannedWord=word)
    if code == 23:
        return submit_answer(23, _QUEUE_FULL, None)
    if code == 4:
        raise MjError("submit_rejected: the upstream account refused the job")
    now = call.state.clock()
    if code == 21 and (task := store.latest(prompt, now=now)) is not None:
        status, _ = task.phase(now)
        image_url = f"{call.origin}/mj/image/{task.id}" if status is Status.SUCCESS else ""
        return submit_answer(21, _EXISTS, task.id, status=status.value, imageUrl=image_url)
    return None


async def _imagine(call: Call, prefix_mode: str | None) -> web.StreamResponse:
    body = call.json
    prompt = _checked_prompt(body)
    mode = _mode_of(body, prefix_mode)
    fault = await call.upstream(prompt, billed=1)
    store = call.request.app[MJ_TASKS]
    code = 24 if call.triggered(prompt) else store.next_code(prompt, call.state)
    if (answer := _nonew_task(call, store, prompt, code)) is not None:
        return await call.reply(answer, fault=fault)
    width, height = _grid_size(prompt)
    task = new_task(
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
        answer = submit_answer(22, _QUEUED, task.id, numberOfQueues=1)
    elif code == 21:
        answer = submit_answer(21, _EXISTS, task.id, status=Status.NOT_START.value, imageUrl="")
    else:
        answer = submit_answer(1, "Submission successful", task.id)
    return await call.reply(answer, fault=fault)


# --------------------------------------------------------------------------------------
# Polls and the image proxy


async def _fetch(call: Call) -> web.StreamResponse:
    store = call.request.app[MJ_TASKS]
    task = call.poll(store, call.request.match_info["id"])
    if task is None:
        raise MjError("task_no_found")
    return await call.reply(task_view(task, now=call.state.clock(), origin=call.origin))


async def _list_by_condition(call: Call) -> web.StreamResponse:
    ids = call.body.get("ids") if call.body is not None else None
    if not isinstance(ids, list):
        raise MjError("do_request_failed")
    store = call.request.app[MJ_TASKS]
    now = call.state.clock()
    found: list[dict[str, Any]] = []
    for raw in ids:
        task = store.live(str(raw), now=now) if isinstance(raw, str | int) else None
        if task is not None:
            call.stats._polled(task.id)
            found.append(task_view(task, now=now, origin=call.origin))
    call.state.rng.shuffle(found)  # no order is promised: a client must match by id
    return await call.reply(found)


async def _image(call: Call) -> web.StreamResponse:
    """The task's image as PNG (a preview while in progress); no auth, not counted."""
    state = call.state
    now = state.clock()
    task = call.request.app[MJ_TASKS].live(call.request.match_info["id"], now=now)
    if task is None:
        return json_response({"error": "midjourney_task_not_found"}, status=400)
    status, _ = task.phase(now)
    if status not in (Status.IN_PROGRESS, Status.SUCCESS):
        return json_response({"error": "midjourney_task_not_found"}, status=400)
    if task.corrupt:
        return web.Response(body=NOT_AN_IMAGE, content_type="image/png")
    divisor = 1 if status is Status.SUCCESS else _PREVIEW_DIVISOR
    image = await state.images.get(
        spec_for(
            state.config,
            task.prompt,
            width=max(1, task.width // divisor),
            height=max(1, task.height // divisor),
            format=ImageFormat.PNG,
            variant=task.variant,
            grid=task.grid,
        )
    )
    return web.Response(body=image.data, content_type=image.content_type)


# --------------------------------------------------------------------------------------
# Registration

_IMAGINE: Final = Admission(family=ErrorFamily.MJ, body=Body.JSON, arrival=_imagine_arrival)
_POLL: Final = Admission(family=ErrorFamily.MJ)
_LIST: Final = Admission(family=ErrorFamily.MJ, body=Body.OPTIONAL_JSON)


def _bound(
    handler: Callable[[Call, str | None], Awaitable[web.StreamResponse]], prefix_mode: str | None
) -> Callable[[Call], Awaitable[web.StreamResponse]]:
    """*handler* knowing the speed mode of its path prefix."""

    async def submit(call: Call) -> web.StreamResponse:
        return await handler(call, prefix_mode)

    submit.__name__ = handler.__name__
    return submit


def _routes() -> tuple[Route, ...]:
    """Every route under every speed prefix, then the image proxy."""
    routes: list[Route] = []
    fetch = endpoint(_POLL, _fetch)
    list_by_condition = endpoint(_LIST, _list_by_condition)
    for prefix, mode in _PREFIXES.items():
        imagine = endpoint(_IMAGINE, _bound(_imagine, mode))
        action = endpoint(actions.ADMISSION, _bound(actions.action, mode))
        change = endpoint(actions.ADMISSION, _bound(actions.change, mode))
        routes += [
            Route("POST", f"{prefix}/mj/submit/imagine", imagine),
            Route("POST", f"{prefix}/mj/submit/action", action),
            Route("POST", f"{prefix}/mj/submit/change", change),
            Route("GET", f"{prefix}/mj/task/{{id}}/fetch", fetch),
            Route("POST", f"{prefix}/mj/task/list-by-condition", list_by_condition),
        ]
    routes.append(Route("GET", "/mj/image/{id}", endpoint(PUBLIC, _image)))
    return tuple(routes)


def _setup(app: web.Application) -> None:
    install_store(app, MJ_TASKS, MjStore())


API: Final = SimApi(routes=_routes(), setup=_setup)
