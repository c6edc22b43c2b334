"""Read a YAML manifest's sections into the format-neutral :class:`Document`.

Sections are read in a fixed order (the jobs need the defaults); every problem is reported
with its line and dotted field, and sorted into file order by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from typing import Any

from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from batch_gen.checks import non_empty_string
from batch_gen.models import RunDefaults

from .document import Document, RawJob, Request, Setting
from .fields import (
    DEFAULTS_KEYS,
    JOB_KEYS,
    OUTPUT_KEYS,
    RUN_CHECKS,
    TEXT_FIELDS,
    TOP_KEYS,
    check_request,
    is_extension,
    unknown_message,
)
from .names import filename_complaint
from .problems import Report, describe, is_int
from .yaml_nodes import INVALID, NULL_TAG, Entry, NodeReader, compose, line_of


def read_yaml(text: str, report: Report) -> Document:
    """The document ``text`` holds; what cannot be read is reported and left out."""
    document = Document()
    root = compose(text, report)
    if root is None:
        return document
    if not isinstance(root, MappingNode):
        kind = "a list" if isinstance(root, SequenceNode) else "a single value"
        report.add(
            line_of(root), None, f"the top level must be a mapping with a 'jobs' list, got {kind}"
        )
        return document
    reader = NodeReader(report)
    sections: dict[str, Entry] = {}
    for entry in reader.entries(root, ""):
        if entry.key in TOP_KEYS:
            sections[entry.key] = entry
        else:
            _unknown(entry, TOP_KEYS, report)

    # Fixed order: the jobs need the defaults; problems are sorted into file order later.
    if "version" in sections:
        _check_version(sections["version"], reader, report)
    if "defaults" in sections:
        document.defaults = _defaults(sections["defaults"], reader, report)
    if "output" in sections:
        _output(sections["output"], reader, report, document)
    if "run" in sections:
        document.run = _run(sections["run"], reader, report)
    if "jobs" in sections:
        document.jobs = _jobs(sections["jobs"], reader, report)
    else:
        report.add(line_of(root), "jobs", "missing 'jobs': the manifest needs a list of jobs")
    return document


def _section(
    entry: Entry, reader: NodeReader, report: Report, allowed: Sequence[str] | None
) -> list[Entry]:
    """The entries of a section mapping whose keys are ``allowed`` (None: any key, for
    params, which pass through untouched).

    Unknown keys are reported with a suggestion, keys of the user's own (``x-...``) left
    out; an empty (null) section has no entries.
    """
    node = entry.node
    if isinstance(node, ScalarNode) and node.tag == NULL_TAG:
        return []  # `defaults:` with every key commented out
    if not isinstance(node, MappingNode):
        report.add(entry.line, entry.key, "must be a mapping of keys to values")
        return []
    known: list[Entry] = []
    for child in reader.entries(node, entry.key):
        if allowed is None or child.key in allowed:
            known.append(child)
        else:
            _unknown(child, allowed, report, prefix=f"{entry.key}.")
    return known


def _unknown(entry: Entry, allowed: Sequence[str], report: Report, *, prefix: str = "") -> None:
    """Report an unknown key, unless it is one of the user's own (``x-...``)."""
    if not is_extension(entry.key):
        elsewhere = "; provider-specific fields go under 'params'" if "params" in allowed else ""
        message = unknown_message("key", entry.key, allowed, elsewhere=elsewhere)
        report.add(entry.line, prefix + entry.key, message)


def _settings(
    entries: Iterable[Entry], reader: NodeReader, prefix: str, *, text: Set[str] = TEXT_FIELDS
) -> list[Setting]:
    """The values of the entries, those named in ``text`` as written (see
    :data:`~.fields.TEXT_FIELDS`); values that could not be read are left out."""
    settings = []
    for entry in entries:
        read = reader.text if entry.key in text else reader.plain
        value = read(entry.node, prefix + entry.key)
        if value is not INVALID:
            settings.append(Setting(entry.key, value, entry.line))
    return settings


def _check_version(entry: Entry, reader: NodeReader, report: Report) -> None:
    value = reader.plain(entry.node, "version")
    if value is not INVALID and not (is_int(value) and value == 1):
        report.add(entry.line, "version", f"only version 1 is supported, got {describe(value)}")


def _request_parts(
    entries: list[Entry], reader: NodeReader, report: Report, prefix: str
) -> tuple[list[Setting], list[Setting]]:
    """Split a defaults or job mapping into its own settings and its ``params``."""
    own = [entry for entry in entries if entry.key != "params"]
    params: list[Setting] = []
    for entry in entries:
        if entry.key == "params":  # any key goes: params pass through untouched
            section = Entry(prefix + "params", entry.line, entry.node)
            params = _settings(_section(section, reader, report, None), reader, prefix + "params.")
    return _settings(own, reader, prefix), params


def _defaults(entry: Entry, reader: NodeReader, report: Report) -> Request:
    entries = _section(entry, reader, report, DEFAULTS_KEYS)
    settings, params = _request_parts(entries, reader, report, "defaults.")
    return check_request(settings, params, prefix="defaults.", report=report)


def _output(entry: Entry, reader: NodeReader, report: Report, document: Document) -> None:
    entries = _section(entry, reader, report, OUTPUT_KEYS)
    for setting in _settings(entries, reader, "output.", text=set(OUTPUT_KEYS)):
        if setting.name == "dir":
            complaint = non_empty_string(setting.value)
            if complaint is None:
                document.output_dir = setting.value
        else:
            complaint = filename_complaint(setting.value)
            if complaint is None:
                document.filename = setting.value
        if complaint is not None:
            report.add(setting.line, f"output.{setting.name}", complaint)


def _run(entry: Entry, reader: NodeReader, report: Report) -> RunDefaults:
    values: dict[str, Any] = {}
    entries = _section(entry, reader, report, tuple(RUN_CHECKS))
    for setting in _settings(entries, reader, "run.", text=frozenset()):
        complaint = RUN_CHECKS[setting.name](setting.value)
        if complaint is None:
            values[setting.name] = setting.value
        else:
            report.add(setting.line, f"run.{setting.name}", complaint)
    if "timeout" in values:
        values["timeout"] = float(values["timeout"])
    return RunDefaults(**values)


def _jobs(entry: Entry, reader: NodeReader, report: Report) -> list[RawJob]:
    node = entry.node
    if not isinstance(node, SequenceNode) or not node.value:
        report.add(entry.line, "jobs", "must be a non-empty list of jobs, each with a prompt")
        return []
    jobs: list[RawJob] = []
    for item in node.value:
        if not isinstance(item, MappingNode):
            report.add(line_of(item), "jobs", "each job must be a mapping with at least a prompt")
            continue
        known: list[Entry] = []
        for child in reader.entries(item, ""):
            if child.key in JOB_KEYS:
                known.append(child)
            else:
                _unknown(child, JOB_KEYS, report)
        settings, params = _request_parts(known, reader, report, "")
        unread = {child.key for child in known} - {setting.name for setting in settings}
        jobs.append(RawJob(line_of(item), tuple(settings), tuple(params), frozenset(unread)))
    return jobs
