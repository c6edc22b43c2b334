"""The format-neutral shape both readers produce: raw jobs plus the manifest's settings.

The YAML and CSV readers bring a file to a :class:`Document`, so the checks on ids,
prompts, request fields and duplicates (:mod:`batch_gen.manifest.jobs`) are written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from batch_gen.models import DEFAULT_FILENAME, RunDefaults

# Setting and RawJob are built once per job (100,000 times for a large CSV): NamedTuples,
# immutable like frozen dataclasses but five times cheaper to build.


class Setting(NamedTuple):
    """One field as written: its name, its plain value and the line it is on."""

    name: str
    value: Any
    line: int


class RawJob(NamedTuple):
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
    """A manifest as read: its raw jobs, checked defaults, output and run settings."""

    jobs: list[RawJob] = field(default_factory=list)
    defaults: Request = field(default_factory=Request)
    output_dir: str | None = None
    filename: str = DEFAULT_FILENAME
    run: RunDefaults = field(default_factory=RunDefaults)
