"""Reading Midjourney's answers (pure): submit codes and task statuses, as the table in
:mod:`.midjourney` describes them (docs/protocols/midjourney.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from ..errors import (
    BadResponseError,
    ContentPolicyError,
    InvalidRequestError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from .answers import error_from_response, json_object, redact
from .base import Answer, BulkPoll, Ended, Generation, Poll, Ready, ReturnedImage, Running

# failReason wording seen from Midjourney and proxies ("Banned prompt detected", "Request
# cancelled due to image filters", "Job action restricted"...) vs. a malformed flag.
_MODERATION = re.compile(
    r"banned|moderat|prohibit|blocked|filter|restricted|violat|nsfw|inappropriate|sensitive"
    r"|policy|敏感|违规",
    re.IGNORECASE,
)
_INVALID = re.compile(r"invalid (?:parameter|param|link|image)|unrecognized|参数", re.IGNORECASE)
_GONE = re.compile(r"task_no[t]?_found|task not found", re.IGNORECASE)
_TASK_ID_KEYS = ("taskId", "id", "task_id")


def _code(document: Mapping[str, Any] | None) -> int | None:
    value = document.get("code") if document is not None else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _task_id(document: Mapping[str, Any]) -> str | None:
    """``result`` as a string (old proxies send a number), else an id in ``properties``."""
    result = document.get("result")
    if isinstance(result, int | str) and not isinstance(result, bool) and str(result).strip():
        return str(result).strip()
    properties = document.get("properties")
    if isinstance(properties, Mapping):
        for name in _TASK_ID_KEYS:
            value = properties.get(name)
            if isinstance(value, int | str) and not isinstance(value, bool) and str(value):
                return str(value)
    return None


def submit_task_id(answer: Answer, *, secret: str | None, what: str) -> str:
    """The task id an imagine or action answer carries, or raise the error it stands for.

    Branches on ``code``, never on the localized ``description`` (see the module table).
    A 200 that cannot be read may still have created (and billed) a task: ambiguous.
    """
    status, headers, body = answer.status, answer.headers, answer.body
    document = json_object(body)
    code = _code(document)
    description = redact(str((document or {}).get("description") or "").strip(), secret)
    message = f"{what} refused (code {code}): {description or '(no description)'}"
    if status != 200:
        # new-api wraps midjourney-proxy's codes in HTTP errors (400 code 4, 429 code 30).
        if code == 24:
            raise ContentPolicyError(message, status=status, code=str(code))
        raise error_from_response(status, headers, body, secret=secret)
    if document is None:
        raise BadResponseError(f"{what}: the answer is not a JSON object", ambiguous=True)
    if code in (1, 21, 22):
        task_id = _task_id(document)
        if task_id is None:
            raise BadResponseError(f"{what}: code {code} but no task id", ambiguous=True)
        return task_id
    # An HTTP 200 carries these refusals, so no status goes with them ("HTTP 200: ...").
    if code in (23, 30):
        raise RateLimitError(message, code=str(code))
    if code == 24:
        properties = document.get("properties")
        banned = properties.get("bannedWord") if isinstance(properties, Mapping) else None
        if banned:
            message += f" (banned word: {banned})"
        raise ContentPolicyError(message, code=str(code))
    if code in (3, 4):
        raise InvalidRequestError(message, code=str(code))
    # 5 / 9 (system failure) and codes this client does not know: nothing was created.
    raise ServerError(message, code=None if code is None else str(code))


def failure_error(reason: str, task_id: str) -> ProviderError:
    """The error a FAILURE with ``failReason`` stands for (see the module table)."""
    message = f"Midjourney task {task_id} failed: {reason or '(no reason given)'}"
    if _MODERATION.search(reason):
        return ContentPolicyError(message)
    if _INVALID.search(reason):
        return InvalidRequestError(message)
    return ServerError(message)  # "Job failed to process", timeouts...: submit again


def read_task(task: Mapping[str, Any], task_id: str) -> Poll:
    """Classify one fetched task; raise BadResponseError (the task kept) if it succeeded
    without an ``imageUrl``."""
    status = str(task.get("status") or "").upper()
    if status == "SUCCESS":
        url = task.get("imageUrl")
        if not isinstance(url, str) or not url:
            raise BadResponseError(f"Midjourney task {task_id} succeeded without an imageUrl")
        generation = Generation(images=(ReturnedImage(url=url),), request_id=task_id)
        return Ready(generation, task)
    if status == "FAILURE":
        return Ended(failure_error(str(task.get("failReason") or ""), task_id))
    if status == "MODAL":
        return Ended(
            InvalidRequestError(
                f"Midjourney task {task_id} asks for more input (MODAL: a remix or region "
                "prompt through /mj/submit/modal), which a batch cannot give"
            )
        )
    if status in ("CANCEL", "CANCELED", "CANCELLED"):
        return Ended(ServerError(f"Midjourney task {task_id} was cancelled"))
    return Running(task)  # NOT_START, SUBMITTED, IN_PROGRESS, and statuses unknown to us


def read_fetch(answer: Answer, task_id: str, *, secret: str | None) -> Poll:
    """Classify a ``/mj/task/{id}/fetch`` answer (see :func:`read_task`).

    An unknown id (new-api: HTTP 400 ``{"code":4,"description":"task_no_found"}``) ends the
    task as lost: a later try submits again.
    """
    status, headers, body = answer.status, answer.headers, answer.body
    document = json_object(body)
    if document is not None and "status" not in document:
        description = str(document.get("description") or document.get("error") or "")
        if _GONE.search(description):
            return Ended(
                BadResponseError(
                    f"Midjourney task {task_id} is gone (task_no_found); a later try submits again",
                    status=status,
                    code="4",
                ),
                lost=True,
            )
    if status != 200:
        raise error_from_response(status, headers, body, secret=secret)
    if document is None or "status" not in document:
        # Not a task (an error envelope in a 200?): retry rather than poll it until the
        # task deadline. The task stays recorded.
        shown = redact(body[:200].decode("utf-8", "replace"), secret)
        raise BadResponseError(f"Midjourney task {task_id}: not a task in the answer: {shown}")
    return read_task(document, task_id)


# Statuses that say the bulk route is not there (or not for us), not that it failed this
# once: a gateway without list-by-condition. Auth errors, timeouts and 429s are not refusals.
_NOT_REFUSALS = frozenset({401, 403, 408, 429})


def bulk_refused(status: int) -> bool:
    """Whether an answer of ``status`` to ``list-by-condition`` means the gateway refuses
    the route itself: any 4xx but 401, 403, 408 and 429, and 501."""
    return status == 501 or (400 <= status < 500 and status not in _NOT_REFUSALS)


def read_list(answer: Answer, task_ids: Sequence[str], *, secret: str | None) -> BulkPoll | None:
    """Classify a ``/mj/task/list-by-condition`` answer: each listed task of ``task_ids``
    as :func:`read_task` reads it (its error, if reading it raised), matched by ``id``
    (a number in old proxies); tasks the gateway left out are not in it, and no order is
    assumed. None when the gateway refuses the route (:func:`bulk_refused`, or a 200 that
    is not a list of tasks); raises the error a passing failure stands for."""
    status, headers, body = answer.status, answer.headers, answer.body
    if bulk_refused(status):
        return None
    if status != 200:
        raise error_from_response(status, headers, body, secret=secret)
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if not isinstance(document, list):
        return None
    wanted = set(task_ids)
    found: dict[str, Poll | ProviderError] = {}
    for task in document:
        task_id = str(task.get("id")) if isinstance(task, Mapping) else None
        if task_id is None or task_id not in wanted:
            continue
        try:
            found[task_id] = read_task(task, task_id)
        except ProviderError as error:
            found[task_id] = error
    return found
