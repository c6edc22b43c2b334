"""The problem collector of one manifest file, and the small helpers its messages share."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from batch_gen.errors import Problem


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
    """Whether ``value`` is an integer, and not a boolean (True is an int in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""`` if none is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {matches[0]!r}?" if matches else ""


class Report:
    """Collects problems for one file; ``count`` lets a caller tell whether a step added any."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    @property
    def count(self) -> int:
        return len(self.problems)

    def add(self, line: int | None, field: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, line, field, message))

    def unknown(self, line: int, name: str, allowed: Sequence[str], *, prefix: str = "") -> None:
        """Report an unknown key, suggesting the closest allowed one (or ``params``)."""
        hint = did_you_mean(name, allowed)
        if not hint and "params" in allowed:
            hint = "; provider-specific fields go under 'params'"
        self.add(line, prefix + name, f"unknown key {name!r}{hint}")

    def in_file_order(self) -> list[Problem]:
        """The problems sorted by line, each once.

        Sections are checked in a fixed order (defaults before jobs), not as written, and
        a YAML anchor merged into many jobs would otherwise report its problem per job.
        """
        unique = dict.fromkeys(self.problems)
        return sorted(unique, key=lambda problem: problem.line or 0)
