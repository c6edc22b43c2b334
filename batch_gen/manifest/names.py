"""Checks on the values that name files: job ids and the output file-name template.

Both must keep every file inside the output folder, visible, and distinct per job.
"""

from __future__ import annotations

import re
import string
from typing import Any

from batch_gen.files.naming import PLACEHOLDER_PATTERN, PLACEHOLDERS

from .problems import describe, did_you_mean

MAX_ID_LENGTH = 200
#: What an id may hold, as the README says it (the checks below are its code).
ID_RULE = (
    "an id may use only ASCII letters (A-Z, a-z), digits (0-9), '.', '_' and '-', each "
    "part starting with a letter or digit; '/' separates folders"
)

_DISTINCT_PLACEHOLDERS = ("id", "index", "key")  # any one gives each job its own name

_ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DRIVE = re.compile(r"[A-Za-z]:")

# The common, valid shape in one match: checking 100,000 ids part by part costs a second.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*")


def id_complaint(job_id: str) -> str | None:
    """Why ``job_id`` cannot name files inside the output folder, or None if it can."""
    if len(job_id) <= MAX_ID_LENGTH and _SAFE_ID.fullmatch(job_id):
        return None  # every part starts with a letter or digit: no '.', '..' or hidden part
    shown = repr(job_id)
    if not job_id:
        return "must not be empty"
    if len(job_id) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters, got {len(job_id)}"
    if "\\" in job_id:
        return f"{shown} contains '\\': separate folders with '/'"
    if job_id.startswith("/") or _DRIVE.match(job_id):
        return f"{shown} is an absolute path: it would escape the output folder"
    parts = job_id.split("/")
    if any(part in (".", "..") for part in parts):
        return f"{shown} has a '.' or '..' part: it could escape the output folder"
    if any(part.startswith(".") for part in parts):
        return f"{shown} starts a part with '.': the file would be hidden"
    if any(not part for part in parts):
        return f"{shown} has an empty part between '/'"
    bad = next((part for part in parts if not _ID_PART.fullmatch(part)), None)
    if bad is not None:
        return f"{shown}: {_offence(bad)}; {ID_RULE}"
    return None


def _offence(part: str) -> str:
    """What in ``part`` (one that breaks the id rule) breaks it first."""
    bad = next((char for char in part if not _ID_PART.fullmatch(f"a{char}")), None)
    if bad is not None:
        return f"{bad!r} is not allowed"
    return f"{part!r} starts with {part[0]!r}"  # '_' or '-': allowed, but not first


def filename_complaint(template: Any) -> str | None:
    """Why ``template`` cannot name each job's files inside the output folder, or None.

    The template language is the one :func:`batch_gen.files.naming.render_filename` substitutes:
    literal text plus plain ``{name}`` placeholders, without format specs, conversions or
    escaped braces (which ``str.format`` would accept and the renderer would not).
    """
    if not isinstance(template, str) or not template.strip():
        return f"must be a non-empty string, got {describe(template)}"
    shown = repr(template)
    try:
        list(string.Formatter().parse(template))  # parses lazily: list() finds the error
    except ValueError as exc:
        return f"{shown} is not a valid template: {exc}"
    names = PLACEHOLDER_PATTERN.findall(template)
    leftover = PLACEHOLDER_PATTERN.sub("", template)
    if "{" in leftover or "}" in leftover:  # `{{id}}` is fine for str.format, not for us
        return f"{shown} has a literal brace: only placeholders like {{id}} may use braces"
    unknown = next((name for name in names if name not in PLACEHOLDERS), None)
    if unknown is not None:
        allowed = [f"{{{name}}}" for name in PLACEHOLDERS]
        hint = did_you_mean(f"{{{unknown}}}", allowed)
        if ":" in unknown or "!" in unknown:
            hint += " (format specs and conversions are not supported)"
        return f"unknown placeholder {{{unknown}}} (allowed: {', '.join(allowed)}){hint}"
    if not set(names) & set(_DISTINCT_PLACEHOLDERS):
        return f"{shown} needs {{id}}, {{index}} or {{key}}: else every job writes one file"
    return _template_path_complaint(template)


def _template_path_complaint(template: str) -> str | None:
    """Why the template's path would leave the output folder or hide its files, or None."""
    shown = repr(template)
    if template.startswith(("/", "\\")) or _DRIVE.match(template):
        return f"{shown} is absolute: it must be relative to the output folder"
    if "\\" in template:
        return f"{shown} contains '\\': separate folders with '/'"
    parts = template.split("/")
    if ".." in parts:
        return f"{shown} has a '..' part: it would escape the output folder"
    if any(part.startswith(".") for part in parts):
        # Also keeps images out of the state folder, output/<dir>/.batch_gen.
        return f"{shown} starts a part with '.': the files would be hidden"
    return None
