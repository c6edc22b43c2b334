"""Decoding a JSON answer without its big base64 strings (pure).

An image answer is about a megabyte of base64 inside a little JSON. Decoding all of it
makes that megabyte a fresh ``str`` first, the largest cost per image of the event loop
(measured: README, "Performance"), only for the text to be decoded from base64 later. Here
each value of a named key is lifted out as written (a view of the answer's bytes, which
base64 decoding reads as they are) and only the rest is decoded, each lifted value replaced
by a marker the caller swaps back.

The shortcut is taken only when it is exact: a lifted value holds no escape, and every
marker turns up where a value of that key was expected; anything else decodes the whole
answer as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

# A marker is a string no answer carries: NUL, then the lifted value's number.
_MARK = "\x00"


@dataclass(frozen=True, slots=True)
class Lifted:
    """A decoded document whose values of ``key`` are markers for ``values``."""

    document: Any
    values: tuple[memoryview, ...]

    def value(self, text: object) -> memoryview | None:
        """The lifted value ``text`` (a marker) stands for, or None if it is not one."""
        if isinstance(text, str) and text.startswith(_MARK):
            return self.values[int(text[1:])]
        return None


def decode_lifting(body: bytes, key: str, places: Sequence[str]) -> Lifted:
    """``body`` decoded as JSON, its string values of ``key`` lifted out (see the module
    docstring). ``places`` is where they may be: the path of a list of objects, e.g.
    ``("data",)``. Raises what ``msgspec.json.decode`` raises for the whole body."""
    found = _lift(body, key)
    if found is not None:
        rest, values = found
        try:
            document = msgspec.json.decode(rest)
        except (msgspec.DecodeError, UnicodeDecodeError):
            document = None  # decoded whole below, so that the error is about the answer
        if document is not None and _markers(document, key, places) == len(values):
            return Lifted(document, values)
    return Lifted(msgspec.json.decode(body), ())


def _lift(body: bytes, key: str) -> tuple[bytes, tuple[memoryview, ...]] | None:
    """``body`` with each string value of ``key`` replaced by a marker, and those values;
    None when there is none, or one holds an escape (it is then decoded as JSON)."""
    pattern = re.compile(rb'"' + re.escape(key.encode()) + rb'"\s*:\s*"')
    parts: list[bytes] = []
    values: list[memoryview] = []
    view = memoryview(body)
    position = 0
    while (match := pattern.search(body, position)) is not None:
        start = match.end()
        end = body.find(b'"', start)
        if end < 0 or body.find(b"\\", start, end) >= 0:
            return None
        parts += (body[position:start], b"\\u0000%d" % len(values))
        values.append(view[start:end])
        position = end
    if not values:
        return None
    parts.append(body[position:])
    return b"".join(parts), tuple(values)


def _markers(document: Any, key: str, places: Sequence[str]) -> int:
    """How many values of ``key`` in the list of objects at ``places`` are markers, in
    order; -1 if one is out of order. Fewer than were lifted: some marker is elsewhere."""
    items: Any = document
    for name in places:
        items = items.get(name) if isinstance(items, dict) else None
    if not isinstance(items, list):
        return -1
    count = 0
    for item in items:
        value = item.get(key) if isinstance(item, dict) else None
        if isinstance(value, str) and value.startswith(_MARK):
            if value != f"{_MARK}{count}":
                return -1
            count += 1
    return count
