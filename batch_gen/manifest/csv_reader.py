"""Read a CSV manifest into the format-neutral :class:`Document`.

A header row names the columns (request fields, ``id``, ``prompt`` and ``params.<name>``),
then each row is one job. Columns whose names start with ``x-`` are the user's own (notes
beside the prompts) and never read. Every cell is text as written; only the integer and
list columns are parsed. A CSV manifest has no defaults, output or run settings.

Rows are read lazily: :attr:`Document.jobs` is an iterator that the job builder consumes
once, so a million-row file never holds its rows, its raw jobs and its jobs all at once.
"""

from __future__ import annotations

import csv
import enum
import io
import operator
import re
from collections.abc import Callable, Hashable, Iterator
from typing import Any, NamedTuple, TypeVar

import msgspec

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
_T = TypeVar("_T")
_UNNAMED = ""  # a column with an empty header cell (spreadsheets add them): ignored if empty
# Characters per StringIO when lines are read (see lines_of).
_CHUNK = 1 << 20


class _Kind(enum.Enum):
    """What a column's cells become, decided once from the header rather than per cell."""

    IGNORED = enum.auto()  # the user's own, unknown or repeated: never read
    UNNAMED = enum.auto()  # no name in the header: a value there is a problem
    PROMPT = enum.auto()  # as written, like YAML
    PARAM = enum.auto()  # ``params.<name>``: stripped text, passed through
    INT = enum.auto()
    LIST = enum.auto()
    TEXT = enum.auto()  # stripped text


# Reading a member through its Enum class costs ~80 ns, several times per cell: the loop
# over a million rows compares against these module names instead.
_IGNORED, _UNNAMED_COLUMN, _PROMPT, _PARAM, _INT, _LIST, _TEXT = _Kind


class _Column(NamedTuple):
    number: int  # 1-based, for messages
    name: str  # the setting's name (a param's without its prefix)
    kind: _Kind


def read_csv(text: str, report: Report) -> Document:
    """Read a CSV manifest: a header row naming columns, then one job per row.

    Each row's line is the physical line it starts on, even after a quoted cell that spans
    lines. Empty cells are "not set"; rows with every cell empty are skipped. The header's
    problems are reported here; each row's as :attr:`Document.jobs` is iterated.
    """
    document = Document()
    lines = lines_of(text)
    # strict: an unclosed quote is an error rather than a prompt that silently swallows the
    # rest of the file.
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        report.add(1, None, f"invalid CSV in the row starting here ({exc}): check its quotes")
        return document
    columns = _columns(header, report)
    if columns is None:
        _check_quotes(reader, report)  # report broken quotes too, not one problem per try
    else:
        document.jobs = _rows(reader, columns, report)
    return document


def lines_of(text: str, *, chunk: int = _CHUNK) -> Iterator[str]:
    """The text's physical lines with their endings, exactly as
    ``io.StringIO(text, newline="")`` gives them (a line ends after "\\n", "\\r\\n" or a
    lone "\\r", and nowhere else), read through one StringIO per ``chunk`` characters.

    StringIO copies its text at four bytes a character (400 MB for a million-row
    manifest), yet reads lines faster than any split written in Python. Each chunk ends
    just after a "\\n", so no line (not even a "\\r\\n") is cut; a quoted cell may span
    chunks, as it spans lines.
    """
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start + chunk)
        end = size if end < 0 else end + 1
        yield from io.StringIO(text[start:end], newline="")
        start = end


def _rows(reader: Any, columns: list[_Column], report: Report) -> Iterator[_Row]:
    """Each non-empty row, in file order."""
    return _records(reader, report, _Table(columns, report).row)


class _Table:
    """What a row's cells are: the header's columns, and where its id, its prompt and the
    cells of the rest of its fields stand (the row's token)."""

    def __init__(self, columns: list[_Column], report: Report) -> None:
        self.columns = columns
        self.report = report
        self.width = len(columns)
        names = [column.name if column.kind is not _IGNORED else None for column in columns]
        self.id_at = names.index("id") if "id" in names else None
        self.prompt_at = names.index("prompt")
        rest = [
            number
            for number, column in enumerate(columns)
            if column.kind is not _IGNORED and number not in (self.id_at, self.prompt_at)
        ]
        # itemgetter runs in C; for one index it gives the cell itself, as good a token.
        self.token_of: Callable[[list[str]], Hashable] = (
            operator.itemgetter(*rest) if rest else (lambda cells: ())
        )

    def row(self, line: int, cells: list[str]) -> _Row:
        """The row at ``line``: its shortcut when it has one cell per column."""
        if len(cells) != self.width or self.id_at is None:
            return _Row(line, None, None, None, cells, self)
        job_id = cells[self.id_at].strip() or None  # read as a text column reads it
        prompt = cells[self.prompt_at]
        return _Row(
            line, job_id, prompt if prompt.strip() else None, self.token_of(cells), cells, self
        )


class _Row(msgspec.Struct, frozen=True, gc=False):
    """A CSV row as a :class:`~.document.Row`: its shortcut, and its cells for ``raw()``."""

    line: int
    job_id: str | None
    prompt: str | None
    token: Hashable | None
    cells: list[str]
    table: _Table

    def raw(self) -> RawJob:
        """The row as a raw job, its problems reported (extra cells, unreadable values)."""
        table, cells = self.table, self.cells
        if len(cells) > table.width:
            message = f"row has {len(cells)} cells but the header names {table.width} columns"
            table.report.add(self.line, None, message)
        return _job(self.line, cells, table.columns, table.report)


def _check_quotes(reader: Any, report: Report) -> None:
    """Read the rest of the file only to report where its CSV is invalid."""
    for _ in _records(reader, report, lambda line, cells: None):
        pass


def _records(reader: Any, report: Report, make: Callable[[int, list[str]], _T]) -> Iterator[_T]:
    """``make(line, cells)`` for each row with a value, where ``line`` is the physical line
    the row starts on; stops at the first invalid CSV, reported at the row it starts."""
    start = reader.line_num + 1  # line_num counts the lines consumed so far
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if "".join(cells).strip():
                yield make(line, cells)
    except csv.Error as exc:
        report.add(start, None, f"invalid CSV in the row starting here ({exc}): check its quotes")


def _columns(header: list[str], report: Report) -> list[_Column] | None:
    """What each column feeds; None when no row can be read."""
    names = [cell.strip() for cell in header]
    if not any(names):
        report.add(1, None, "the first line must be a header naming the columns, with 'prompt'")
        return None
    columns: list[_Column] = []
    taken: set[str] = set()
    for number, name in enumerate(names, start=1):
        kind = _kind(name, taken, report)
        if kind is not _Kind.IGNORED and kind is not _Kind.UNNAMED:
            taken.add(name)
        setting = name.removeprefix(CSV_PARAMS_PREFIX) if kind is _Kind.PARAM else name
        columns.append(_Column(number, setting, kind))
    if "prompt" not in taken:
        report.add(1, "prompt", "the header has no 'prompt' column: every job needs a prompt")
        return None
    return columns


def _kind(name: str, taken: set[str], report: Report) -> _Kind:
    """The kind of the column headed ``name``; reports a repeated or unknown one."""
    if name == _UNNAMED:
        return _Kind.UNNAMED
    if is_extension(name):
        return _Kind.IGNORED
    if name in taken:
        report.add(1, name, f"column {name!r} appears twice: keep one")
        return _Kind.IGNORED
    if name.startswith(CSV_PARAMS_PREFIX) and len(name) > len(CSV_PARAMS_PREFIX):
        return _Kind.PARAM
    if name not in CSV_COLUMNS:
        elsewhere = "; provider-specific fields go in 'params.<name>' columns"
        report.add(1, name, unknown_message("column", name, CSV_COLUMNS, elsewhere=elsewhere))
        return _Kind.IGNORED
    if name == "prompt":
        return _Kind.PROMPT
    if name in CSV_INT_FIELDS:
        return _Kind.INT
    return _Kind.LIST if name in CSV_LIST_FIELDS else _Kind.TEXT


def _job(line: int, cells: list[str], columns: list[_Column], report: Report) -> RawJob:
    """One row as a raw job; int fields are parsed here, every other value stays a string."""
    settings: list[Setting] = []
    params: list[Setting] = []
    # zip stops at the shorter: a short row's missing cells are empty, extra cells reported.
    for (number, name, kind), cell in zip(columns, cells, strict=False):
        if kind is _IGNORED or not cell.strip():
            continue
        if kind is _TEXT:
            settings.append(Setting(name, cell.strip(), line))
        elif kind is _PROMPT:
            settings.append(Setting(name, cell, line))  # as written, like YAML
        elif kind is _PARAM:
            params.append(Setting(name, cell.strip(), line))
        elif kind is _INT:
            if _INT_TEXT.fullmatch(cell):
                settings.append(Setting(name, int(cell), line))
            else:
                report.add(line, name, f"must be an integer, got {cell.strip()!r}")
        elif kind is _LIST:
            settings.append(Setting(name, _list(name, cell), line))
        else:
            report.add(line, None, f"column {number} has a value but no name in the header")
    return RawJob(line, tuple(settings), tuple(params))


def _list(name: str, cell: str) -> Any:
    """``a.png;b.png`` → a list of paths (one path alone stays a string); ``1;3`` → [1, 3]
    for int lists (items left as text if not numbers, for the field's check to report)."""
    items = [item.strip() for item in cell.split(";") if item.strip()]
    if CSV_LIST_FIELDS[name] == "int":
        return [int(item) if _INT_TEXT.fullmatch(item) else item for item in items]
    return items[0] if len(items) == 1 else items
