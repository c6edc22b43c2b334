"""Composed YAML nodes to plain values, keeping line numbers, merge keys and value limits.

We compose rather than load so that every value keeps its position, and so that duplicate
keys (which a plain load silently collapses to the last) can be reported. Nothing escapes
for bad input: syntax errors, odd tags, recursive aliases and alias bombs all become
problems in the :class:`~batch_gen.manifest.problems.Report`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from .problems import Report, describe

_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
NULL_TAG = "tag:yaml.org,2002:null"
_MAX_YAML_VALUES = 1_000_000
INVALID: Final = object()  # a value that could not be read; its problem is already reported
_YAML_ONLY_KINDS = {"date": "a date", "datetime": "a timestamp", "bytes": "binary data"}
# The tags YAML gives a plain scalar by its look alone: for a field that takes text, the
# scalar's source text is the value, whatever YAML 1.1 would make of it.
_IMPLICIT_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "timestamp")
)
_INT_TAG = "tag:yaml.org,2002:int"
# An integer YAML reads as written: no leading zero (octal), 0x, 0b, '_' or ':' (base 60).
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")


def line_of(node: Node) -> int:
    """The 1-based line the node starts on."""
    return int(node.start_mark.line) + 1


def join(prefix: str, name: str) -> str:
    """A dotted field path: ``join("defaults", "n") == "defaults.n"``."""
    return f"{prefix}.{name}" if prefix else name


def compose(text: str, report: Report) -> Node | None:
    """Parse ``text`` into a node tree; report a syntax error or an empty document."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        context = f" ({exc.context})" if exc.context else ""
        report.add(line, None, f"invalid YAML: {exc.problem}{context}")
        return None
    except ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        report.add(line, None, f"invalid YAML: {exc.reason} (U+{exc.character:04X})")
        return None
    except yaml.YAMLError as exc:
        report.add(None, None, f"invalid YAML: {exc}")
        return None
    except RecursionError:
        report.add(None, None, "invalid YAML: nested too deeply")
        return None
    if root is None:
        report.add(1, None, "the manifest is empty: it needs a 'jobs' list")
    return root


@dataclass(frozen=True, slots=True)
class Entry:
    """One key of a YAML mapping: the key, its line and the value's node."""

    key: str
    line: int
    node: Node


class NodeReader:
    """Turns composed YAML nodes into plain JSON-compatible values, keeping line numbers.

    Scalars go through the safe constructor, so `n: 2` is an int and `n: "2"` a string.
    """

    def __init__(self, report: Report) -> None:
        self._report = report
        self._constructor = SafeConstructor()
        # Nodes being read, to catch recursive aliases (`&a [*a]`), which compose allows.
        self._open: set[int] = set()
        self._merging: set[int] = set()
        # Aliases can expand a small file into billions of values ("billion laughs"), so
        # each value read from outside may expand into at most this many nodes.
        self._budget = _MAX_YAML_VALUES

    def entries(self, node: MappingNode, where: str) -> list[Entry]:
        """The mapping's entries as written, with YAML merge keys (``<<: *x``) applied.

        Keys must be strings and appear once; the entries a merge brings in give way to
        the mapping's own keys, and an earlier merge wins over a later one.
        """
        own: dict[str, Entry] = {}
        merged: list[Entry] = []
        self._merging.add(id(node))
        try:
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    merged.extend(self._merged(value_node, where))
                else:
                    self._add_entry(own, key_node, value_node, where)
        finally:
            self._merging.discard(id(node))
        for entry in merged:
            own.setdefault(entry.key, entry)
        return list(own.values())

    def _add_entry(
        self, own: dict[str, Entry], key_node: Node, value_node: Node, where: str
    ) -> None:
        key = self.plain(key_node, where)
        if key is INVALID:
            return
        line = line_of(key_node)
        if not isinstance(key, str):
            self._report.add(line, where or None, f"keys must be strings, got {describe(key)}")
        elif key in own:
            message = f"duplicate key {key!r} (first at line {own[key].line}): set it once"
            self._report.add(line, join(where, key), message)
        else:
            own[key] = Entry(key, line, value_node)

    def _merged(self, node: Node, where: str) -> list[Entry]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        entries: list[Entry] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                self._report.add(line_of(source), where or None, "'<<' must merge a mapping")
            elif id(source) in self._merging:
                self._report.add(line_of(source), where or None, "a YAML merge refers to itself")
            else:
                entries.extend(self.entries(source, where))
        return entries

    def plain(self, node: Node, where: str) -> Any:
        """The node as plain Python (str, int, float, bool, None, list, dict) or INVALID."""
        if not self._open:
            self._budget = _MAX_YAML_VALUES
        return self._plain(node, where)

    def text(self, node: Node, where: str) -> Any:
        """The value of a field that takes text: a scalar's text as written, so that
        ``id: 0123`` is ``"0123"`` (not octal 83) and ``prompt: yes`` is ``"yes"`` (not
        true). An empty value stays None (YAML's "no value"), for the field's check to
        refuse; a null spelled out (``~``, ``null``) is refused here, with the hint to quote
        it. Anything else (a list, an explicit odd tag) is :meth:`plain`, for the field's
        check to refuse or the reader to report."""
        if isinstance(node, ScalarNode) and node.tag in _IMPLICIT_TAGS:
            return node.value
        if isinstance(node, ScalarNode) and node.tag == NULL_TAG and node.value:
            message = f"YAML reads {node.value!r} as no value: quote it to mean the text"
            self._report.add(line_of(node), where or None, message)
            return INVALID
        return self.plain(node, where)

    def _plain(self, node: Node, where: str) -> Any:
        self._budget -= 1
        if self._budget == 0:
            self._report.add(line_of(node), where or None, "too many values: are aliases nested?")
        if self._budget <= 0:
            return INVALID
        if isinstance(node, ScalarNode):
            return self._scalar(node, where)
        if id(node) in self._open:
            self._report.add(line_of(node), where or None, "a YAML alias refers to itself")
            return INVALID
        before = self._report.count
        self._open.add(id(node))
        try:
            value = self._collection(node, where)
        finally:
            self._open.discard(id(node))
        return INVALID if self._report.count > before else value

    def _collection(self, node: Node, where: str) -> Any:
        if isinstance(node, SequenceNode) and node.tag == _SEQ_TAG:
            return [self._plain(item, where) for item in node.value]
        if isinstance(node, MappingNode) and node.tag == _MAP_TAG:
            return {
                entry.key: self._plain(entry.node, join(where, entry.key))
                for entry in self.entries(node, where)
            }
        self._report.add(line_of(node), where or None, f"unsupported YAML tag {node.tag!r}")
        return INVALID

    def _scalar(self, node: ScalarNode, where: str) -> Any:
        try:
            value: object = self._constructor.construct_object(node)
        # Explicit tags (`!!int abc`, `!!timestamp x`, `!custom`) fail in assorted ways.
        except Exception as exc:
            reason = getattr(exc, "problem", None) or str(exc)
            self._report.add(line_of(node), where or None, f"cannot read this value: {reason}")
            return INVALID
        if isinstance(value, float) and not math.isfinite(value):
            message = f"{node.value!r} is not a finite number; quote it to pass a string"
        elif node.tag == _INT_TAG and not _DECIMAL.fullmatch(node.value):
            message = (
                f"YAML reads {node.value!r} as {value}, not as written: write the number in "
                "decimal digits (no leading zero, '0x', '0b', '_' or ':'), or quote it to "
                "pass text"
            )
        elif value is None or isinstance(value, str | int | float | bool):
            return value
        else:  # dates, timestamps, !!binary: JSON has no such values
            kind = _YAML_ONLY_KINDS.get(type(value).__name__, type(value).__name__)
            message = f"{kind} is not supported here; quote it to pass a string"
        self._report.add(line_of(node), where or None, message)
        return INVALID
