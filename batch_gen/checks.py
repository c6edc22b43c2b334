"""Value checks for manifest fields: each returns a complaint, or None when the value is
fine. The manifest's field tables and the APIs' specs (for their own fields) use them."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Check = Callable[[Any], str | None]


def describe(value: Any) -> str:
    """Show a value as the user wrote it, with its type when that is the surprise."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def is_int(value: Any) -> bool:
    """An integer, and not a boolean (True is an int in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def non_empty_string(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    return f"must be a non-empty string, got {describe(value)}"


def int_between(low: int, high: int | None = None) -> Check:
    """An integer from ``low`` (to ``high``, when given)."""
    wanted = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def check(value: Any) -> str | None:
        if is_int(value) and low <= value and (high is None or value <= high):
            return None
        return f"must be {wanted}, got {describe(value)}"

    return check


def positive_number(value: Any) -> str | None:
    if (is_int(value) or isinstance(value, float)) and math.isfinite(value) and value > 0:
        return None
    return f"must be a number > 0, got {describe(value)}"


def one_of(*options: str, aliases: Mapping[str, str] | None = None) -> Check:
    """One of ``options``; a near miss gets a "did you mean" (``aliases`` map common
    spellings, lower-cased, to the option meant)."""
    listed = ", ".join(repr(option) for option in options)

    def check(value: Any) -> str | None:
        if isinstance(value, str) and value in options:
            return None
        complaint = f"must be one of {listed}, got {describe(value)}"
        if not isinstance(value, str):
            return complaint
        guess = (aliases or {}).get(value.lower(), value.lower())
        return complaint + did_you_mean(guess, options)

    return check


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ""."""
    matches = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {matches[0]!r}?" if matches else ""


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one request field that only some image APIs take is checked and carried.

    ``csv_list`` is the kind of the items when a CSV cell holds a ';'-separated list of
    them (None: the cell is one value). ``keyed`` is False for a field that enters the
    job's key another way (the route, or the input file's content), not as written.
    """

    check: Check
    csv_list: Literal["text", "int"] | None = None
    keyed: bool = True
