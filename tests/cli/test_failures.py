"""The one place where an exception becomes one line and an exit status."""

from __future__ import annotations

import asyncio
import errno
import io
import logging
from pathlib import Path

import pytest

from batch_gen.cli.debug import LOGGER, enable_debug_log, redact
from batch_gen.cli.failures import Failure, failure_of, in_output_folder, os_error_message
from batch_gen.errors import (
    AuthenticationError,
    ConfigurationError,
    ManifestError,
    OutputLockedError,
    Problem,
    UnwritablePathError,
    UsageError,
)
from batch_gen.files.naming import UnsafePathError

NO_SPACE = "No space left on device"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            UsageError("--only needs at least one job id"),
            Failure("--only needs at least one job id", 2),
        ),
        (OutputLockedError("in use"), Failure("in use", 3)),
        (UnwritablePathError("cannot write"), Failure("cannot write", 3)),
        (ConfigurationError("no key"), Failure("no key", 3)),
        (AuthenticationError("rejected", status=401), Failure("HTTP 401: rejected", 3)),
        (UnsafePathError("unsafe output path"), Failure("unsafe output path", 1)),
        (KeyboardInterrupt(), Failure("interrupted", 130)),
        (
            IsADirectoryError(errno.EISDIR, "Is a directory", "/o/.batch_gen/state.jsonl"),
            Failure("/o/.batch_gen/state.jsonl: Is a directory", 3),
        ),
        (
            OSError(errno.ENOSPC, NO_SPACE),
            Failure(
                f"{NO_SPACE} (the disk is full: free some space, then run the same command again)",
                3,
            ),
        ),
        (
            ValueError("Newline or carriage return character detected\nin a header"),
            Failure(
                "unexpected error (a bug in batch_gen): ValueError: Newline or carriage return"
                " character detected in a header; run again with --debug for the traceback",
                3,
            ),
        ),
    ],
)
def test_failure_of(error: BaseException, expected: Failure) -> None:
    assert failure_of(error) == expected


def test_a_manifest_error_keeps_its_problem_lines() -> None:
    error = ManifestError([Problem("m.yaml", 3, "n", "must be an integer")])
    assert failure_of(error) == Failure(
        "1 problem in the manifest:\n  m.yaml:3: n: must be an integer", 2
    )


def test_an_exception_group_is_judged_by_its_first_real_exception() -> None:
    """A TaskGroup's group: cancellations of the other tasks do not count."""
    inner = OSError(errno.ENOSPC, NO_SPACE, "/o/a.png")
    group = BaseExceptionGroup(
        "unhandled errors in a TaskGroup",
        [asyncio.CancelledError(), ExceptionGroup("nested", [inner])],
    )
    assert failure_of(group).message.startswith(f"/o/a.png: {NO_SPACE}")
    assert failure_of(group).status == 3


def test_os_error_message_makes_paths_absolute_and_names_both_of_a_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    error = OSError(errno.EROFS, "Read-only file system", "out/a.png", None, "out/b.png")
    assert os_error_message(error) == (
        f"{tmp_path}/out/a.png -> {tmp_path}/out/b.png: Read-only file system"
        " (a read-only file system: choose another folder with --output)"
    )


def test_a_full_disk_at_the_start_of_a_run_names_the_output_folder(tmp_path: Path) -> None:
    """A write that fails for want of space names no file: the run names its folder."""
    error = OSError(errno.ENOSPC, NO_SPACE)
    translated = in_output_folder(error, tmp_path / "out")
    assert isinstance(translated, UnwritablePathError)
    assert failure_of(translated) == Failure(
        f"cannot write the output folder {tmp_path}/out: {NO_SPACE} (the disk is full: free"
        " some space, then run the same command again)",
        3,
    )
    named = OSError(errno.ENOSPC, NO_SPACE, "/o/state.jsonl")
    assert in_output_folder(named, tmp_path) is named  # already says where
    other = OSError(errno.EIO, "Input/output error")
    assert in_output_folder(other, tmp_path) is other


def test_the_debug_log_never_shows_the_key() -> None:
    key = "sk-secret-0123456789"
    stream = io.StringIO()
    logger = enable_debug_log(secret=key, stream=stream)
    try:
        logging.getLogger(f"{LOGGER}.http").debug("POST /v1 Authorization: Bearer %s", key)
        logging.getLogger(f"{LOGGER}.http").debug("header %s", "Bearer other-token")
        try:
            raise ValueError(f"bad header {key}")
        except ValueError as error:
            logger.debug("traceback", exc_info=error)
    finally:
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    text = stream.getvalue()
    assert "sk-secret" not in text
    assert "other-token" not in text
    assert "Traceback" in text
    assert text.count("[redacted]") == 3
    assert redact("no secret here", None) == "no secret here"
