"""Reading Bria's answers (pure): text-to-image results, edit task statuses and errors
(docs/protocols/bria.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from ..errors import (
    BadResponseError,
    ContentPolicyError,
    InvalidRequestError,
    ProviderError,
    ServerError,
)
from .answers import billed_json, error_from_response
from .base import Ended, Generation, Poll, Ready, ReturnedImage, Running

_MODERATION = re.compile(r"moderat|blocked|nsfw|inappropriate|policy", re.IGNORECASE)
# An ERROR task whose error says the input is at fault: sending it again will not help.
_INPUT_FAULT = re.compile(
    r"invalid|unsupported|not supported|too (large|big|small)|corrupt|cannot decode|"
    r"could not (be )?(decode|read)|mask",
    re.IGNORECASE,
)


def parse_status(body: bytes, task_id: str) -> Poll:
    """Read a 200 poll answer (pure).

    ``COMPLETED`` with ``result.image_url`` → the image; ``ERROR`` → a ProviderError
    (:func:`task_error`); ``IN_PROGRESS``, ``UNKNOWN`` or any other status → not finished.
    A ``COMPLETED`` task without an image is finished with a retryable BadResponseError. A
    body that does not parse raises BadResponseError, retryable, the task kept.
    """
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BadResponseError(f"Bria task {task_id}: the answer is not valid JSON") from exc
    if not isinstance(document, dict):
        raise BadResponseError(f"Bria task {task_id}: the answer is not a JSON object")
    status = str(document.get("status", "")).upper()
    if status == "ERROR":
        return Ended(task_error(document.get("error"), task_id))
    if status != "COMPLETED":
        return Running(document)
    images = _image_urls(document.get("result"))
    if not images:
        error = BadResponseError(f"Bria task {task_id} completed without an image", ambiguous=True)
        return Ended(error)
    result = document.get("result")
    extra = {
        name: result[name]
        for name in ("seed", "refined_prompt")
        if isinstance(result, dict) and name in result
    }
    generation = Generation(
        images=tuple(ReturnedImage(url=url) for url in images),
        request_id=task_id,
        extra=extra,
    )
    return Ready(generation, document)


def task_error(error: Any, task_id: str) -> ProviderError:
    """The error of an ``ERROR`` task: permanent when it blames the input (an invalid
    image or mask) or moderation, else retryable (a new task may well succeed)."""
    message = code = details = None
    if isinstance(error, dict):
        message = error.get("message")
        code = error.get("code")
        details = error.get("details")
    elif isinstance(error, str):
        message = error
    text = " ".join(str(part) for part in (message, details) if part) or "no reason given"
    described = f"Bria task {task_id} failed: {text}"
    code_text = str(code) if code is not None else None
    if _MODERATION.search(text):
        return ContentPolicyError(described, code=code_text)
    if code in (400, 415, 422) or _INPUT_FAULT.search(text):
        return InvalidRequestError(described, code=code_text)
    return ServerError(described, code=code_text)


def parse_results(body: bytes, request_id: str | None = None) -> Generation:
    """The URLs of a text-to-image answer, ``result[].urls[]``, as images to download.

    A body without a URL is a retryable BadResponseError, marked ambiguous (billed).
    """
    document = billed_json(body, request_id)
    if isinstance(document, dict) and "error" in document and not document.get("result"):
        raise bria_error(400, {}, body, secret=None)
    entries = document.get("result") if isinstance(document, dict) else None
    urls = _image_urls(entries)
    if not urls:
        raise BadResponseError("the answer carries no image", ambiguous=True, request_id=request_id)
    seeds = [
        entry["seed"]
        for entry in (entries if isinstance(entries, list) else ())
        if isinstance(entry, dict) and "seed" in entry
    ]
    return Generation(
        images=tuple(ReturnedImage(url=url) for url in urls),
        request_id=request_id,
        extra={"seeds": seeds} if seeds else {},
    )


def _image_urls(result: Any) -> list[str]:
    """Every image URL in a ``result``: an object or a list of them, each holding
    ``image_url``, ``url`` or ``urls`` (Bria's answers use all three)."""
    entries = result if isinstance(result, list) else [result]
    urls: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            urls.append(entry)
            continue
        if not isinstance(entry, dict):
            continue
        for name in ("image_url", "url"):
            if isinstance(entry.get(name), str) and entry[name]:
                urls.append(entry[name])
        listed = entry.get("urls")
        if isinstance(listed, list):
            urls.extend(url for url in listed if isinstance(url, str) and url)
    return urls


def bria_error(
    status: int, headers: Mapping[str, str], body: bytes, *, secret: str | None
) -> ProviderError:
    """The shared classification, plus Bria's moderation refusals (422
    ``content_moderation``), which are safety refusals rather than malformed requests."""
    error = error_from_response(status, headers, body, secret=secret)
    if type(error) is InvalidRequestError and (
        error.code == "content_moderation" or _MODERATION.search(error.message)
    ):
        return ContentPolicyError(
            error.message, status=status, code=error.code, request_id=error.request_id
        )
    return error
