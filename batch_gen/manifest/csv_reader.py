"""Read a CSV manifest into the format-neutral :class:`Document`.

A header row names the columns (request fields, ``id``, ``prompt`` and ``params.<name>``),
then each row is one job. Columns whose names start with ``x-`` are the user's own (notes
beside the prompts) and never read. Every cell is text as written; only the integer and
list columns are parsed. A CSV manifest has no defaults, output or run settings.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from .document import Document, RawJob, Setting
from .fields import (
    CSV_COLUMNS,
    CSV_INT_FIELDS,
    CSV_LIST_FIELDS,
    CSV_PARAMS_PREFIX,
    is_extension,
    unknown_message,
)
from .problems import Report

_INT_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_UNNAMED = ""  # a column with an empty header cell (spreadsheets add them): ignored if empty


def read_csv(text: str, report: Report) -> Document:
    """Read a CSV manifest: a header row naming columns, then one job per row.

    Each row's line is the physical line it starts on, even after a quoted cell that spans
    lines. Empty cells are "not set"; rows with every cell empty are skipped.
    """
    document = Document()
    # newline="": quoted cells keep their line breaks. strict: an unclosed quote is an error
    # rather than a prompt that silently swallows the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        header = next(reader, [])
        start = reader.line_num + 1  # line_num counts the lines consumed so far
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        report.add(start, None, f"invalid CSV in the row starting here ({exc}): check its quotes")
        if not header:
            return document

    columns = _columns(header, report)
    if columns is None:
        return document
    for line, cells in rows:
        if not "".join(cells).strip():
            continue
        if len(cells) > len(columns):
            message = f"row has {len(cells)} cells but the header names {len(columns)} columns"
            report.add(line, None, message)
        document.jobs.append(_job(line, cells, columns, report))
    return document


def _columns(header: list[str], report: Report) -> list[str | None] | None:
    """What each column feeds (a field name, ``params.<name>``, ``_UNNAMED``, or None to
    ignore a column of the user's own, an unknown or a repeated one); None when no row can
    be read."""
    names = [cell.strip() for cell in header]
    if not any(names):
        report.add(1, None, "the first line must be a header naming the columns, with 'prompt'")
        return None
    columns: list[str | None] = []
    for name in names:
        is_param = name.startswith(CSV_PARAMS_PREFIX) and len(name) > len(CSV_PARAMS_PREFIX)
        if name == _UNNAMED:
            columns.append(_UNNAMED)
        elif is_extension(name):
            columns.append(None)
        elif name in columns:
            report.add(1, name, f"column {name!r} appears twice: keep one")
            columns.append(None)
        elif name in CSV_COLUMNS or is_param:
            columns.append(name)
        else:
            elsewhere = "; provider-specific fields go in 'params.<name>' columns"
            report.add(1, name, unknown_message("column", name, CSV_COLUMNS, elsewhere=elsewhere))
            columns.append(None)
    if "prompt" not in columns:
        report.add(1, "prompt", "the header has no 'prompt' column: every job needs a prompt")
        return None
    return columns


def _job(line: int, cells: list[str], columns: list[str | None], report: Report) -> RawJob:
    """One row as a raw job; int fields are parsed here, every other value stays a string."""
    settings: list[Setting] = []
    params: list[Setting] = []
    # zip stops at the shorter: a short row's missing cells are empty, extra cells reported.
    for number, (name, cell) in enumerate(zip(columns, cells, strict=False), start=1):
        if name is None or not cell.strip():
            continue
        if name == _UNNAMED:
            report.add(line, None, f"column {number} has a value but no name in the header")
        elif name == "prompt":
            settings.append(Setting(name, cell, line))  # as written, like YAML
        elif name.startswith(CSV_PARAMS_PREFIX):
            params.append(Setting(name.removeprefix(CSV_PARAMS_PREFIX), cell.strip(), line))
        elif name in CSV_INT_FIELDS and not _INT_TEXT.fullmatch(cell):
            report.add(line, name, f"must be an integer, got {cell.strip()!r}")
        elif name in CSV_LIST_FIELDS:
            settings.append(Setting(name, _list(name, cell), line))
        else:
            value = int(cell) if name in CSV_INT_FIELDS else cell.strip()
            settings.append(Setting(name, value, line))
    return RawJob(line, tuple(settings), tuple(params))


def _list(name: str, cell: str) -> Any:
    """``a.png;b.png`` → a list of paths (one path alone stays a string); ``1;3`` → [1, 3]
    for int lists (items left as text if not numbers, for the field's check to report)."""
    items = [item.strip() for item in cell.split(";") if item.strip()]
    if CSV_LIST_FIELDS[name] == "int":
        return [int(item) if _INT_TEXT.fullmatch(item) else item for item in items]
    return items[0] if len(items) == 1 else items
