"""Run options: the key and base URL from the environment, and the one wording for a bad
number."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import write_manifest

from batch_gen.config import api_key_from, base_url_from, build_options, range_problem
from batch_gen.errors import ConfigurationError, MissingKeyError, UsageError
from batch_gen.manifest import load_manifest
from batch_gen.models import Manifest


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
    return load_manifest(write_manifest(tmp_path, ["a red cube"]))


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("sk-abc123", "sk-abc123"),
        ("sk-abc123\r\n", "sk-abc123"),  # $(cat key.txt) of a file saved on Windows
        ("  sk-abc123\n", "sk-abc123"),
        ("\tsk-abc123 ", "sk-abc123"),
        (" \r\n", None),  # blank is no key
        ("", None),
    ],
)
def test_the_key_is_stripped_and_a_blank_one_is_no_key(raw: str, key: str | None) -> None:
    assert api_key_from({"COMETAPI_KEY": raw}) == key


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        ("sk-abc\r\nsk-def", "a line break (CR) inside it, at character 7 of 14"),
        ("sk-abc\nsk-def", "a line break (LF) inside it, at character 7 of 13"),
        ("sk abc", "a space inside it, at character 3 of 6"),
        ("sk-é", "the character U+00E9 inside it, at character 4 of 4"),
    ],
)
def test_a_key_with_whitespace_inside_is_refused_without_showing_it(raw: str, what: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        api_key_from({"COMETAPI_KEY": raw})
    message = str(caught.value)
    assert message.startswith(f"COMETAPI_KEY has {what};")
    assert "abc" not in message


def test_a_blank_key_is_a_missing_key(manifest: Manifest) -> None:
    with pytest.raises(MissingKeyError):
        build_options(manifest, environ={"COMETAPI_KEY": " \r\n"})
    options = build_options(manifest, environ={"COMETAPI_KEY": " sk-x\r\n"})
    assert options.api_key == "sk-x"
    offline = build_options(manifest, environ={"COMETAPI_KEY": "two\nlines"}, offline=True)
    assert offline.api_key is None  # offline, the key is not read at all


def test_the_base_url_is_stripped(manifest: Manifest) -> None:
    environ = {"COMETAPI_BASE_URL": " http://127.0.0.1:8787\r\n", "COMETAPI_KEY": "k"}
    assert base_url_from(environ) == "http://127.0.0.1:8787"
    assert build_options(manifest, environ=environ).base_url == "http://127.0.0.1:8787"
    assert base_url_from(environ, given=" http://h ") == "http://h"
    assert base_url_from({}) == "https://api.cometapi.com"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("concurrency", 0, "--concurrency must be a whole number of 1 or more, got 0"),
        ("concurrency", -1, "--concurrency must be a whole number of 1 or more, got -1"),
        ("rpm", -5, "--rpm must be a whole number of 0 or more (0: no limit), got -5"),
        ("max_attempts", 0, "--max-attempts must be a whole number of 1 or more, got 0"),
        ("timeout", 0, "--timeout must be a number of seconds above 0, got 0"),
        ("timeout", float("inf"), "--timeout must be a number of seconds above 0, got inf"),
        ("max_cost", float("nan"), "--max-cost must be an amount in USD of 0 or more, got nan"),
        ("poll_interval", -0.5, "--poll-interval must be a number of seconds above 0, got -0.5"),
    ],
)
def test_out_of_range_numbers_are_one_wording(
    manifest: Manifest, option: str, value: float, message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        build_options(manifest, environ={"COMETAPI_KEY": "k"}, **{option: value})
    assert str(caught.value) == message
    assert range_problem(option, value) == message


def test_edges_of_the_ranges_are_accepted(manifest: Manifest) -> None:
    options = build_options(
        manifest, environ={"COMETAPI_KEY": "k"}, concurrency=1, rpm=0, max_cost=0.0, timeout=0.5
    )
    assert (options.concurrency, options.rpm, options.max_cost) == (1, 0, 0.0)
