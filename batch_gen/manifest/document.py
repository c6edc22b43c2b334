"""The format-neutral shape both readers produce: raw jobs plus the manifest's settings.

The YAML and CSV readers bring a file to a :class:`Document`, so the checks on ids,
prompts, request fields and duplicates (:mod:`batch_gen.manifest.jobs`) are written once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(slots=True)
class Request:
    """Checked request fields and pass-through params of one place (defaults or a job)."""

    fields: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Document:
    """A manifest as read: its raw jobs, checked defaults, output and run settings.

    ``jobs`` may be an iterator (the CSV reader's reads rows as it goes): iterate it once,
    after the other fields, and expect problems to be reported while it is iterated.
    """

    jobs: Iterable[RawJob] = ()
    defaults: Request = field(default_factory=Request)
    output_dir: str | None = None
    filename: str = DEFAULT_FILENAME
    run: RunDefaults = field(default_factory=RunDefaults)
