"""Markdown that fits: table cells escaped, and a document that never grows past a byte
limit (GitHub's step summary takes 1 MiB per step), cut short with a note instead.

Pure.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

# Bytes kept free for what closes a block (``</details>``) and the note that says how
# much was left out.
RESERVE = 600


# Control characters and lone surrogates: no Markdown needs them, and a lone surrogate
# cannot even be written as UTF-8.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def _flat(text: object) -> str:
    """``text`` on one line, runs of white space as one space, nothing unprintable."""
    return _UNPRINTABLE.sub("\ufffd", " ".join(str(text).split()))


def cell(text: object) -> str:
    """``text`` as one table cell: HTML escaped (GitHub renders HTML in Markdown), ``|``
    escaped, line breaks as spaces, Markdown emphasis characters made literal."""
    flat = _flat(text)
    escaped = html.escape(flat, quote=False).replace("|", "&#124;")
    for mark in ("\\", "*", "_", "`", "[", "]"):
        escaped = escaped.replace(mark, "\\" + mark)
    return escaped


def code(text: object) -> str:
    """``text`` as inline code in a table cell (a job id, a file name)."""
    flat = _flat(text)
    return "<code>" + html.escape(flat, quote=False).replace("|", "&#124;") + "</code>"


def table(header: Sequence[str], align: str) -> list[str]:
    """A table's head: ``align`` has one letter per column, ``l`` or ``r``."""
    rule = ["---:" if side == "r" else ":---" for side in align]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]


def row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


class Document:
    """Markdown lines that stay within ``limit`` bytes of UTF-8 (with their newlines)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lines: list[str] = []
        self._size = 0
        self.cut = False  # whether something was left out

    def add(self, *lines: str, reserve: int = RESERVE) -> bool:
        """Add ``lines`` if they fit with ``reserve`` bytes to spare; else add nothing,
        note that something was cut and return False."""
        size = sum(len(line.encode("utf-8")) + 1 for line in lines)
        if self._size + size + reserve > self.limit:
            self.cut = True
            return False
        self._lines.extend(lines)
        self._size += size
        return True

    def close(self, *lines: str) -> None:
        """Add what closes the document (the reserve was kept for it) if it fits at all."""
        self.add(*lines, reserve=0)

    def text(self) -> str:
        return "".join(line + "\n" for line in self._lines)


def details(
    document: Document,
    summary: str,
    head: Sequence[str],
    rows: Iterable[str],
    *,
    total: int,
    more: str,
) -> None:
    """A collapsed block (``<details>``) of a table: ``head`` and as many of the ``total``
    ``rows`` as fit, then ``more`` (formatted with ``{count}``) for the rows left out."""
    if not document.add("<details>", f"<summary>{summary}</summary>", "", *head):
        return
    shown = 0
    for line in rows:
        if not document.add(line):
            break
        shown += 1
    lines = [""]
    if shown < total:
        lines = ["", more.format(count=total - shown), ""]
    document.close(*lines, "</details>", "")
