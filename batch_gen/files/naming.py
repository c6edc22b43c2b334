"""Image file names: the template language, and which relative paths are safe to write.

Pure: nothing here touches the file system. A file name comes from
:func:`render_filename` (placeholders filled in from the job) and is then checked and
joined to the output folder by :func:`resolve_inside`, which refuses anything that would
land outside the folder, inside its state folder, or under a temp-file name.

Temp files of the crash-safe write protocol (:mod:`batch_gen.files.atomic`) are named
``.<name>.<12 hex digits>.part``; :func:`partial_name` builds such names and
:func:`is_partial_name` recognises them, so that writing, refusing and cleaning up follow
one rule.
"""

from __future__ import annotations

import functools
import posixpath
import re
from pathlib import Path

from batch_gen.errors import BatchGenError
from batch_gen.keys import short_key
from batch_gen.models import Job
from batch_gen.state.layout import STATE_DIR_NAME

PARTIAL_SUFFIX = ".part"

#: The file-name placeholders, in the order messages list them.
PLACEHOLDERS = ("id", "index", "n", "model", "key", "ext")

#: Stands for the extension in :class:`UnsuffixedNames`: no job id holds it, and
#: :func:`resolve_inside` refuses it in a written name.
EXT_MARK = "\x00"

PLACEHOLDER_PATTERN = re.compile(r"\{([^{}]*)\}")
_UNSAFE_MODEL_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Both temp-name forms: ".<name>.<sha256[:12]>.part" and ".<name>.<12 random hex>.part".
# Matching them exactly keeps remove_stale_partials off files that are not ours.
_PARTIAL_NAME = re.compile(r"\..+\.[0-9a-f]{12}\.part")


class UnsafePathError(BatchGenError, ValueError):
    """A relative output path is empty, absolute, or would land outside the output folder
    (or inside its state folder)."""


def render_filename(
    template: str, *, job: Job, image_number: int, image_count: int, ext: str
) -> str:
    """Return the relative, '/'-separated file name of one image of ``job``.

    Placeholders: ``{id}``, ``{index}`` (the job's 1-based manifest position), ``{n}`` (the
    1-based image number), ``{model}`` (the model with every character outside
    ``[A-Za-z0-9._-]`` replaced by ``_``), ``{key}`` (the first 12 hex digits of the job
    key) and ``{ext}`` (the extension of the real format, see
    :data:`batch_gen.files.formats.EXTENSIONS`).

    When ``image_count > 1`` and the template has no ``{n}``, ``-{n}`` is inserted before
    the last ``.{ext}`` (or appended when there is none), so ``{id}.{ext}`` becomes
    ``{id}-{n}.{ext}`` and the images of one job never collide.

    The result is not checked for safety: pass it through :func:`resolve_inside`.

    Raises:
        ValueError: the template uses a placeholder other than those above.
    """
    return "".join(
        _value(text, job, image_number, ext) if is_name else text
        for is_name, text in _compiled(template, image_count > 1)
    )


class UnsuffixedNames:
    """``names(job)``: the file names of every image of ``job`` under ``template``, in
    order, with :data:`EXT_MARK` for the extension, which only each image's bytes decide:
    names equal here may be one file. Built once for many jobs (the template parsed once).
    """

    def __init__(self, template: str) -> None:
        self._single = _compiled(template, False)
        self._numbered = _compiled(template, True)

    def __call__(self, job: Job) -> list[str]:
        # Plain loops: on Python 3.11 each comprehension is a function call of its own,
        # which doubles the time for 100,000 jobs.
        count = job.n
        parts = self._numbered if count > 1 else self._single
        names = []
        for number in range(1, count + 1):
            pieces = []
            for is_name, text in parts:
                pieces.append(_value(text, job, number, EXT_MARK) if is_name else text)
            names.append("".join(pieces))
        return names


@functools.lru_cache(maxsize=64)
def _compiled(template: str, numbered: bool) -> tuple[tuple[bool, str], ...]:
    """The template as (is a placeholder, text) parts, parsed once: rendering 100,000
    names part by part takes a fraction of the time of a regex substitution each."""
    if numbered and "{n}" not in template:
        template = _insert_image_number(template)
    parts: list[tuple[bool, str]] = []
    position = 0
    for match in PLACEHOLDER_PATTERN.finditer(template):
        if match.group(1) not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {match.group(0)} in file name {template!r}")
        if match.start() > position:
            parts.append((False, template[position : match.start()]))
        parts.append((True, match.group(1)))
        position = match.end()
    if position < len(template):
        parts.append((False, template[position:]))
    return tuple(parts)


def _value(name: str, job: Job, image_number: int, ext: str) -> str:
    if name == "id":
        return job.id
    if name == "ext":
        return ext
    if name == "n":
        return str(image_number)
    if name == "index":
        return str(job.index)
    if name == "model":
        return _UNSAFE_MODEL_CHARS.sub("_", job.model)
    return short_key(job.key)


def unknown_placeholders(template: str) -> tuple[str, ...]:
    """Return the placeholder names in ``template`` that :func:`render_filename` rejects."""
    return tuple(name for name in PLACEHOLDER_PATTERN.findall(template) if name not in PLACEHOLDERS)


def _insert_image_number(template: str) -> str:
    position = template.rfind(".{ext}")
    if position < 0:
        return template + "-{n}"
    return template[:position] + "-{n}" + template[position:]


def resolve_inside(root: Path, relative: str) -> Path:
    """Join ``relative`` to ``root`` and return the normalised path, or refuse it.

    ``relative`` must be a non-empty, '/'-separated relative path with no backslash, drive
    or NUL, that after resolving ``.`` and ``..`` segments names something strictly inside
    ``root`` and outside its state folder ``.batch_gen`` (compared case-insensitively, for
    case-insensitive file systems). Names of the temp-file form ``.<name>.<12 hex>.part``
    are refused too, since
    :func:`~batch_gen.files.atomic.remove_stale_partials` would delete them. Pure: the file
    system is not consulted, so symbolic links are not followed.

    Raises:
        UnsafePathError: with the reason.
    """
    reason = _unsafe_reason(relative)
    if reason is not None:
        raise UnsafePathError(f"unsafe output path {relative!r}: {reason}")
    return root.joinpath(*posixpath.normpath(relative).split("/"))


def is_safe(relative: str) -> bool:
    """Whether :func:`resolve_inside` accepts ``relative``."""
    return _unsafe_reason(relative) is None


def _unsafe_reason(relative: str) -> str | None:
    if not relative:
        return "it is empty"
    if "\\" in relative or "\x00" in relative:
        return "it contains a backslash or NUL character"
    if _DRIVE.match(relative):
        return "it names a drive"
    if relative.startswith("/"):
        return "it is absolute"
    normal = posixpath.normpath(relative)
    parts = normal.split("/")
    if normal == "." or parts[0] == "..":
        return "it does not name a file inside the output folder"
    if parts[0].casefold() == STATE_DIR_NAME:
        return f"it lies inside the state folder {STATE_DIR_NAME}"
    if is_partial_name(parts[-1]):
        return "names like '.<name>.<12 hex digits>.part' are reserved for temporary files"
    return None


def partial_name(final_name: str, tag: str) -> str:
    """Return the temp-file name ``.<final_name>.<tag>.part`` (``tag``: 12 hex digits)."""
    return f".{final_name}.{tag}{PARTIAL_SUFFIX}"


def is_partial_name(name: str) -> bool:
    """Whether ``name`` (a bare file name) has the temp-file form of :func:`partial_name`."""
    return _PARTIAL_NAME.fullmatch(name) is not None
