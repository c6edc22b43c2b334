"""GitHub Actions workflow commands: escaped as the runner decodes them, 10 per kind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from batch_gen.ci.github import (
    SUMMARY_LIMIT,
    Annotation,
    annotation_lines,
    escape_data,
    escape_property,
    in_github_actions,
    repository_path,
    summary_room,
)


def unescape(text: str) -> str:
    """What GitHub's runner does to a command's message or property (ActionCommand)."""
    for escaped, plain in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, plain)
    return text


def parse(line: str) -> tuple[str, dict[str, str], str]:
    """A workflow command line as the runner splits it: ``::kind props::message``."""
    found = re.fullmatch(r"::(\w+)(?: ([^:]*))?::(.*)", line, flags=re.DOTALL)
    assert found is not None, line
    kind, props, message = found.groups()
    properties = {}
    for part in (props or "").split(","):
        if part:
            name, _, value = part.partition("=")
            properties[name] = unescape(value)
    return kind, properties, unescape(message)


@pytest.mark.parametrize(
    "text", ["plain", "100% done", "two\nlines\r\n", "a:b,c", "%0A is not a newline", "::x::"]
)
def test_escaped_text_decodes_back_to_itself(text: str) -> None:
    line = Annotation("error", text, title=text, file=f"dir/{text}", line=7).command()
    assert "\n" not in line
    assert "\r" not in line
    kind, properties, message = parse(line)
    assert (kind, message) == ("error", text)
    assert properties == {"file": f"dir/{text}", "line": "7", "title": text}


def test_escape_rules() -> None:
    assert escape_data("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad:e,f"
    assert escape_data("lone \ud800") == "lone \ufffd"
    assert escape_property("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad%3Ae%2Cf"


def test_a_command_without_properties() -> None:
    assert Annotation("notice", "hello").command() == "::notice::hello"
    assert Annotation("error", "x", file="m.yaml").command() == "::error file=m.yaml::x"


def test_ten_of_each_kind_then_one_notice_with_the_rest() -> None:
    found = [Annotation("error", f"e{n}") for n in range(25)]
    found += [Annotation("warning", f"w{n}") for n in range(3)]
    lines = annotation_lines(found, rest="{count} more {kind}")
    kinds = [parse(line)[0] for line in lines]
    assert kinds.count("error") == 10
    assert kinds.count("warning") == 3
    assert lines[-1] == "::notice::15 more errors"
    assert len(lines) == 14


def test_only_github_actions_counts() -> None:
    assert in_github_actions({"GITHUB_ACTIONS": "true"})
    assert not in_github_actions({"CI": "true"})
    assert not in_github_actions({})


def test_paths_are_relative_to_the_workspace(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs" / "a.yaml"
    env = {"GITHUB_WORKSPACE": str(tmp_path)}
    assert repository_path(manifest, env) == "jobs/a.yaml"
    assert repository_path(Path("/elsewhere/b.yaml"), env) == "/elsewhere/b.yaml"


def test_summary_room_counts_what_the_step_wrote_before(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    assert summary_room(summary) == SUMMARY_LIMIT - 1
    summary.write_bytes(b"x" * 1000)
    assert summary_room(summary) == SUMMARY_LIMIT - 1001
    summary.write_bytes(b"x" * (SUMMARY_LIMIT + 5))
    assert summary_room(summary) == 0
