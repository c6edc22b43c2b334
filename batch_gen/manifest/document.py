"""The format-neutral shape both readers produce: raw jobs plus the manifest's settings.

The YAML and CSV readers bring a file to a :class:`Document`, so the checks on ids,
prompts, request fields and duplicates (:mod:`batch_gen.manifest.jobs`) are written once.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from batch_gen.models import DEFAULT_FILENAME, RunDefaults

# Setting and RawJob are built once per cell and per job (millions of times for a large
# CSV): frozen msgspec Structs build in a third of a NamedTuple's time, and gc=False keeps
# them out of the garbage collector's lists (they hold no reference cycles).


class Setting(msgspec.Struct, frozen=True, gc=False):
    """One field as written: its name, its plain value and the line it is on."""

    name: str
    value: Any
    line: int


class RawJob(msgspec.Struct, frozen=True, gc=False):
    """A job as written, before checks: ``settings`` holds id, prompt and request fields;
    ``unread`` names the fields written with a value that could not be read (already
    reported: not to be reported missing too)."""

    line: int
    settings: tuple[Setting, ...]
    params: tuple[Setting, ...]
    unread: frozenset[str] = frozenset()


class Row(Protocol):
    """A job offered with a shortcut (a CSV row): besides building its :class:`RawJob`
    (``raw()``, which reports the row's own problems, called at most once), it tells its
    id and prompt as they would be read (None when blank or absent) and a ``token`` that
    is equal for two rows only when everything else they set is written alike (None: no
    shortcut). The job builder checks a row in full the first time it meets its token;
    for later rows of a token that was free of problems, only the id and the prompt."""

    @property
    def line(self) -> int: ...
    @property
    def job_id(self) -> str | None: ...
    @property
    def prompt(self) -> str | None: ...
    @property
    def token(self) -> Hashable | None: ...
    def raw(self) -> RawJob: ...


@dataclass(slots=True)
class Request:
    """Checked request fields and pass-through params of one place (defaults or a job)."""

    fields: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Document:
    """A manifest as read: its raw jobs, checked defaults, output and run settings.

    ``jobs`` may be an iterator (the CSV reader's reads rows as it goes, and gives
    :class:`Row` shortcuts): iterate it once, after the other fields, and expect problems
    to be reported while it is iterated.
    """

    jobs: Iterable[RawJob | Row] = ()
    defaults: Request = field(default_factory=Request)
    output_dir: str | None = None
    filename: str = DEFAULT_FILENAME
    run: RunDefaults = field(default_factory=RunDefaults)
