"""Usage tokens as the APIs report them: read under either naming, and summed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Tokens:
    """Usage tokens as the API reports them, summed."""

    input: int = 0
    output: int = 0
    total: int = 0

    def add(self, usage: Mapping[str, Any] | None) -> None:
        if not usage:
            return
        inp, out, total = token_counts(usage)
        self.input += inp
        self.output += out
        self.total += total


def token_counts(usage: Mapping[str, Any]) -> tuple[int, int, int]:
    """``(input, output, total)`` tokens of a usage document, under either naming (OpenAI's
    ``input_tokens``/``output_tokens``, chat-style ``prompt_tokens``/``completion_tokens``):
    a count that is not an integer is 0, and a total not given (or 0) is input plus output.

    Plain code: it reads every succeeded record of a 100,000-job state for the estimates.
    """
    get = usage.get
    inp = get("input_tokens", _ABSENT)
    if inp is _ABSENT:
        inp = get("prompt_tokens")
    out = get("output_tokens", _ABSENT)
    if out is _ABSENT:
        out = get("completion_tokens")
    total = get("total_tokens")
    # type() first: the usual int costs one check, not two isinstance calls.
    if type(inp) is not int:
        inp = _int(inp)
    if type(out) is not int:
        out = _int(out)
    if type(total) is not int:
        total = _int(total)
    return inp, out, total or inp + out


_ABSENT = object()


def token_totals(usage: Mapping[str, Any] | None) -> dict[str, int] | None:
    """Input, output and total tokens of a usage document (OpenAI or chat-style names)."""
    if not usage:
        return None
    inp, out, total = token_counts(usage)
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": total}


def add_usage(total: Any, usage: Any) -> dict[str, Any] | None:
    """Sum two usage documents field by field (nested objects too); ignore non-numbers."""
    if not usage:
        return dict(total) if total else None
    result: dict[str, Any] = dict(total) if total else {}
    for name, value in usage.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            current = result.get(name, 0)
            result[name] = (current if isinstance(current, int | float) else 0) + value
        elif isinstance(value, dict):
            result[name] = add_usage(result.get(name) or {}, value) or {}
    return result


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
