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
        inp = _int(usage.get("input_tokens", usage.get("prompt_tokens")))
        out = _int(usage.get("output_tokens", usage.get("completion_tokens")))
        self.input += inp
        self.output += out
        self.total += _int(usage.get("total_tokens")) or inp + out


def token_totals(usage: Mapping[str, Any] | None) -> dict[str, int] | None:
    """Input, output and total tokens of a usage document (OpenAI or chat-style names)."""
    if not usage:
        return None
    tokens = Tokens()
    tokens.add(usage)
    return {
        "input_tokens": tokens.input,
        "output_tokens": tokens.output,
        "total_tokens": tokens.total,
    }


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
