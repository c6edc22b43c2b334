"""GitHub Actions: workflow commands for annotations, and the step summary's limits.

Under GitHub Actions (``GITHUB_ACTIONS=true``) a line such as
``::error file=jobs.yaml,line=12,title=...::message`` on stdout becomes an annotation at
that line of the file in the pull request and the run's page. GitHub shows at most 10
annotations of each kind (error, warning, notice) per step, so :func:`annotation_lines`
emits 10 and then one notice with the number of the rest. The step summary is the
Markdown file ``$GITHUB_STEP_SUMMARY`` names; GitHub refuses more than 1 MiB of it per
step, so :func:`summary_room` says how much is left and the renderers stay within it.

Escaping follows GitHub's runner (``ActionCommand``): in a message ``%``, ``\\r`` and
``\\n`` are percent-encoded; in a property value ``:`` and ``,`` are too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ACTIONS_VARIABLE = "GITHUB_ACTIONS"
SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"
WORKSPACE_VARIABLE = "GITHUB_WORKSPACE"
SUMMARY_LIMIT = 1024 * 1024  # bytes of one step's summary GitHub accepts
SHOWN_PER_KIND = 10  # annotations of one kind GitHub shows per step


def in_github_actions(environ: Mapping[str, str]) -> bool:
    """Whether this process runs as a step of a GitHub Actions job."""
    return environ.get(ACTIONS_VARIABLE) == "true"


def escape_data(text: str) -> str:
    """A workflow command's message, as the runner decodes it back (a lone surrogate,
    which cannot be printed as UTF-8, becomes U+FFFD)."""
    text = _SURROGATE.sub("\ufffd", text)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_property(text: str) -> str:
    """A workflow command's property value (``file``, ``title``), as the runner decodes it."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


@dataclass(frozen=True, slots=True)
class Annotation:
    """One annotation: ``kind`` is ``error``, ``warning`` or ``notice``; ``file`` relative
    to the repository (see :func:`repository_path`), ``line`` 1-based."""

    kind: str
    message: str
    title: str | None = None
    file: str | None = None
    line: int | None = None

    def command(self) -> str:
        """The workflow command line, e.g. ``::error file=a.yaml,line=3::why``."""
        properties = [
            f"{name}={escape_property(str(value))}"
            for name, value in (("file", self.file), ("line", self.line), ("title", self.title))
            if value is not None
        ]
        head = f"{self.kind} {','.join(properties)}" if properties else self.kind
        return f"::{head}::{escape_data(self.message)}"


def annotation_lines(annotations: Iterable[Annotation], *, rest: str) -> list[str]:
    """The commands of the first 10 annotations of each kind, then, when some were left
    out, one notice: ``rest`` formatted with ``{count}`` and ``{kind}`` (``errors``) for
    each kind that had more."""
    shown: dict[str, int] = {}
    left: dict[str, int] = {}
    lines = []
    for annotation in annotations:
        kind = annotation.kind
        if shown.get(kind, 0) < SHOWN_PER_KIND:
            shown[kind] = shown.get(kind, 0) + 1
            lines.append(annotation.command())
        else:
            left[kind] = left.get(kind, 0) + 1
    lines.extend(
        Annotation("notice", rest.format(count=count, kind=f"{kind}s")).command()
        for kind, count in left.items()
    )
    return lines


def repository_path(path: Path, environ: Mapping[str, str]) -> str:
    """``path`` as GitHub places annotations: relative to the checkout
    (``$GITHUB_WORKSPACE``, else the working directory) when it lies inside it, with ``/``;
    else absolute."""
    base = Path(environ.get(WORKSPACE_VARIABLE) or os.getcwd()).resolve()
    absolute = path.resolve()
    try:
        return absolute.relative_to(base).as_posix()
    except ValueError:
        return absolute.as_posix()


def summary_room(path: Path) -> int:
    """How many bytes may still be appended to the step summary at ``path``: 1 MiB less
    what earlier commands of the step wrote there (never below 0)."""
    try:
        used = path.stat().st_size
    except FileNotFoundError:
        used = 0
    return max(SUMMARY_LIMIT - 1 - used, 0)


def append_summary(path: Path, text: str) -> None:
    """Append ``text`` to the step summary at ``path``.

    Raises:
        OSError: it cannot be written.
    """
    with open(path, "a", encoding="utf-8") as summary:
        summary.write(text)
