"""Value objects shared by every layer: jobs, their recorded state, and run settings.

All are frozen: configuration is checked once at the edge and then passed explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import msgspec

DEFAULT_BASE_URL = "https://api.cometapi.com"
DEFAULT_FILENAME = "{id}.{ext}"
DEFAULT_CONCURRENCY = 4
DEFAULT_RPM = 0  # no limit of our own: concurrency and the provider's 429s govern
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_TIMEOUT = 300.0  # seconds per request: a high-quality image can take minutes


class JobStatus(StrEnum):
    """The life of a job: pending → running → succeeded | failed."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class InputFile:
    """An input image (or mask) a job sends: read when the manifest is, hashed into the key."""

    role: str  # "image" or "mask"
    path: Path  # absolute
    sha256: str
    bytes: int
    format: str  # sniffed: png, jpeg, webp, gif


# A Struct: built 100,000 times for a large CSV. gc=False: a job holds plain values and
# never a reference back to itself, so the collector need not track a million of them.
class Job(msgspec.Struct, frozen=True, gc=False):
    """One validated manifest entry, ready to run.

    ``request`` holds every request field but the prompt (``model``, ``size``, ``n``, the
    pass-through ``params`` merged in, ...), already merged with the manifest defaults.
    ``key`` is a hash of everything that decides the image (see :mod:`batch_gen.keys`):
    when it changes, the job runs again.
    """

    id: str
    index: int  # 1-based position in the manifest, for the {index} placeholder
    prompt: str
    request: Mapping[str, Any]
    api: str  # which provider route serves the job, e.g. "openai.generations"
    key: str
    line: int | None = None  # where the job starts in the manifest, for messages
    inputs: tuple[InputFile, ...] = ()  # input images, then the mask, in manifest order
    images: int = 0  # image files the job makes (0: ``n``); Midjourney: grid + upscales

    @property
    def model(self) -> str:
        return str(self.request.get("model", ""))

    @property
    def n(self) -> int:
        """How many image files the job makes."""
        if self.images:
            return self.images
        value = self.request.get("n", 1)
        return value if isinstance(value, int) else 1


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """Where images go: a folder and a file-name template."""

    dir: Path
    filename: str = DEFAULT_FILENAME


@dataclass(frozen=True, slots=True)
class RunDefaults:
    """The manifest's ``run:`` section; ``None`` means "not set here"."""

    concurrency: int | None = None
    rpm: int | None = None
    max_attempts: int | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Manifest:
    """A validated manifest."""

    path: Path
    jobs: tuple[Job, ...]
    output: OutputSpec
    run: RunDefaults = field(default_factory=RunDefaults)
    sha256: str = ""  # of the manifest file's bytes: identifies this exact version of it


# The two record types are msgspec Structs: immutable values like frozen dataclasses, but
# built several times faster and decoded straight from the state journal's JSON, which is
# most of the cost of loading a 100,000-job state (0.18 s, against 0.76 s via dicts).
# ``omit_defaults`` keeps journal lines short.


class ImageRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """One saved image file. ``file`` is relative to the output folder, '/'-separated."""

    number: int = msgspec.field(name="index")  # 1-based image number within the job
    file: str = ""
    sha256: str = ""
    bytes: int = 0
    format: str = ""  # sniffed from the bytes: png, jpeg, webp, gif
    width: int | None = None
    height: int | None = None
    revised_prompt: str | None = None


class JobRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """What the state store knows of one job."""

    id: str
    key: str
    status: JobStatus
    # The most tries any one request of the job needed, over all runs with this key (1:
    # every request succeeded at its first try); ``tries``: the failed tries so far of the
    # request being made now. Records written before ``tries`` counted every request sent.
    attempts: int = 0
    images: tuple[ImageRecord, ...] = ()
    error: str | None = None
    retryable: bool | None = None
    ambiguous_retries: int = 0
    usage: dict[str, Any] | None = None  # token totals
    updated_at: float = 0.0
    # Provider task ids by step ("submit", "imagine", "upscale:2", ...): recorded before the
    # first poll, so a resumed run polls the task it paid for instead of submitting again.
    tasks: dict[str, str] | None = None
    # Requests sent whose fate is not known yet: recorded before each paid request goes
    # out, so that a run killed meanwhile leaves the next one a record of what it may have
    # been charged for.
    in_flight: int = 0
    tries: int = 0

    @property
    def files(self) -> tuple[str, ...]:
        return tuple([image.file for image in self.images])  # a list: no generator frame

    def replace(self, **changes: Any) -> JobRecord:
        """A copy with ``changes`` applied."""
        return msgspec.structs.replace(self, **changes)
