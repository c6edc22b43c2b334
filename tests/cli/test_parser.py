"""The command line's grammar: one-line usage errors, no abbreviations, the help."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from support import write_manifest

from batch_gen import __version__
from batch_gen.cli import main
from batch_gen.cli.parser import build_parser, one_line, unknown_arguments, version


def _usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one line a bad command line prints (exit 2), without its trailing newline:
    argparse's errors exit, the options' checks return the status."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code  # type: ignore[assignment]
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("batch_gen: ")
    return captured.err.rstrip("\n")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_manifest(tmp_path, ["a red cube"])  # jobs.yaml


@pytest.mark.parametrize(
    ("value", "shown"),
    [("-1", "-1"), ("0", "0"), ("x", "'x'"), ("1.5", "'1.5'"), ("", "''")],
)
def test_a_bad_concurrency_gets_one_wording_whatever_is_wrong(
    capsys: pytest.CaptureFixture[str], value: str, shown: str
) -> None:
    """Out of range (checked with the options) or not a number (argparse): same words."""
    line = _usage_error(capsys, "run", "jobs.yaml", "--concurrency", value, "--offline")
    assert line == f"batch_gen: --concurrency must be a whole number of 1 or more, got {shown}"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["run", "m.yaml", "--dry"],
            "batch_gen: unknown option --dry: did you mean --dry-run? (see 'batch_gen run --help')",
        ),
        (
            ["run", "m.yaml", "--out", "x"],
            "batch_gen: unknown option --out: did you mean --output? (see 'batch_gen run --help')",
        ),
        (
            ["status", "m.yaml", "--jso"],
            "batch_gen: unknown option --jso: did you mean --json? (see 'batch_gen status --help')",
        ),
        (
            ["run"],
            "batch_gen: the following arguments are required: manifest"
            " (see 'batch_gen run --help')",
        ),
        (
            ["run", "m.yaml", "--output"],
            "batch_gen: --output: expected one argument (see 'batch_gen run --help')",
        ),
        (
            ["run", "m.yaml", "--timeout", "soon"],
            "batch_gen: --timeout must be a number of seconds above 0, got 'soon'",
        ),
        (
            ["run", "m.yaml", "--max-cost", "$lots"],
            "batch_gen: --max-cost must be an amount in USD of 0 or more, got '$lots'",
        ),
    ],
)
def test_usage_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert _usage_error(capsys, *argv) == expected


def test_no_parser_takes_abbreviations() -> None:
    parser = build_parser()
    assert parser.allow_abbrev is False
    for command in ("run", "status", "models", "simulator"):
        options = parser.options_of(command)
        assert options, command
    # Every subcommand parser is of the same class, so it refuses abbreviations too.
    args, extras = parser.parse_known_args(["run", "m.yaml", "--dry", "--verif"])
    assert extras == ["--dry", "--verif"]
    assert (args.dry_run, args.verify) == (False, False)


def test_debug_and_quiet_go_before_or_after_the_subcommand() -> None:
    parser = build_parser()
    assert parser.parse_args(["--debug", "run", "m.yaml"]).debug is True
    after = parser.parse_args(["run", "m.yaml", "--debug", "-q"])
    assert (after.debug, after.quiet) == (True, True)
    plain = parser.parse_args(["status", "m.yaml"])
    assert (plain.debug, plain.quiet) == (False, False)


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    assert version() == metadata.version("batch_gen") == __version__
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"batch_gen {version()}\n"


def test_run_help_names_the_environment_and_the_exit_statuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    for name in (
        "COMETAPI_KEY",
        "COMETAPI_BASE_URL",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "NO_PROXY",
        "BATCH_GEN_OFFLINE_LATENCY",
        "--debug",
        "--quiet",
        "--list",
        "--json",
    ):
        assert name in text, name
    statuses = text[text.index("exit status:") :]
    for status in ("0 ", "1 ", "2 ", "3 ", "130 "):
        assert f"\n  {status}" in statuses, status


def test_status_help_says_what_its_exit_status_means(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["status", "--help"])
    text = capsys.readouterr().out
    assert "--all" in text
    assert "0    every job of the manifest succeeded" in text
    assert "1    some job is not done" in text


@pytest.mark.parametrize(
    ("message", "line"),
    [
        ("argument --concurrency: --concurrency must be x", "--concurrency must be x"),
        ("argument --output: expected one argument", "--output: expected one argument"),
        ("argument --port/-p: not an integer: 'x'", "--port: not an integer: 'x'"),
        (
            "the following arguments are\nrequired: manifest",
            "the following arguments are required: manifest",
        ),
    ],
)
def test_one_line(message: str, line: str) -> None:
    assert one_line(message) == line


def test_unknown_arguments_suggest_only_close_options() -> None:
    known = ["--dry-run", "--output", "--json"]
    assert (
        unknown_arguments(["--dry"], known=known) == "unknown option --dry: did you mean --dry-run?"
    )
    assert unknown_arguments(["--zzz"], known=known) == "unknown option --zzz"
    assert unknown_arguments(["--outptu=x"], known=known).endswith("did you mean --output?")
    assert unknown_arguments(["extra"], known=known) == "unexpected argument 'extra'"
