"""The one place where an exception becomes what the user sees: one line on stderr
(``batch_gen: <what and why>``) and an exit status. Never a traceback, unless ``--debug``.

- ManifestError, UsageError → 2: the message (a manifest's problems one per line);
- ConfigurationError (the key, the lock, paths, images in the way) → 3: the message;
- ProviderError raised out of a command → 3: an abort (a job's own failure is in the
  run's summary, never raised);
- OSError (a full disk, a file in the way) → 3: the path and the system's reason;
- any other BatchGenError → 1: the message;
- KeyboardInterrupt → 130: ``interrupted``;
- anything else, a bug → 3: its type and message, and the advice to use ``--debug``.

An exception group (from a TaskGroup) is judged by the first exception in it that is
not a cancellation.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from batch_gen.ci.github import (
    Annotation,
    annotation_lines,
    in_github_actions,
    repository_path,
)
from batch_gen.cli.debug import LOGGER
from batch_gen.cli.exits import EXIT_CONFIG, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE
from batch_gen.errors import (
    BatchGenError,
    ConfigurationError,
    ManifestError,
    ProviderError,
    UnwritablePathError,
    UsageError,
)

# What to do about the commonest file-system causes; the system's own words say what.
_OS_HINTS = {
    errno.ENOSPC: "the disk is full: free some space, then run the same command again",
    errno.EDQUOT: "the disk quota is used up: free some space, then run the same command again",
    errno.EROFS: "a read-only file system: choose another folder with --output",
    errno.EACCES: "choose a folder you may write with --output",
    errno.EPERM: "choose a folder you may write with --output",
}


# Failures of a whole file system, which a write (not an open) reports without a file name.
_WHOLE_DISK = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


@dataclass(frozen=True, slots=True)
class Failure:
    """What the user is told, and the exit status."""

    message: str  # without the "batch_gen: " prefix
    status: int


def failure_of(error: BaseException) -> Failure:
    """The line and exit status for ``error`` (see the table above). Pure."""
    error = _first_real(error)
    if isinstance(error, KeyboardInterrupt):
        return Failure("interrupted", EXIT_INTERRUPTED)
    if isinstance(error, ManifestError | UsageError):
        return Failure(str(error), EXIT_USAGE)
    if isinstance(error, ConfigurationError):
        return Failure(str(error), EXIT_CONFIG)
    if isinstance(error, ProviderError):
        return Failure(error.describe(), EXIT_CONFIG)
    if isinstance(error, BatchGenError):
        return Failure(str(error), EXIT_FAILED)
    if isinstance(error, OSError):
        return Failure(os_error_message(error), EXIT_CONFIG)
    if isinstance(error, MemoryError):
        return Failure("out of memory", EXIT_CONFIG)
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return Failure(
        f"unexpected error (a bug in batch_gen): {' '.join(text.split())};"
        " run again with --debug for the traceback",
        EXIT_CONFIG,
    )


def os_error_message(error: OSError) -> str:
    """``<path>: <the system's reason> (<what to do>)``, e.g. ``/data/out/.batch_gen/state
    .jsonl: No space left on device (the disk is full: ...)``; the path only when known."""
    cause = error.strerror or str(error) or type(error).__name__
    where = _absolute(error.filename)
    if where is not None and error.filename2 is not None:
        where = f"{where} -> {_absolute(error.filename2)}"
    text = f"{where}: {cause}" if where is not None else cause
    hint = _OS_HINTS.get(error.errno) if error.errno is not None else None
    return f"{text} ({hint})" if hint else text


def in_output_folder(error: OSError, folder: Path) -> OSError | UnwritablePathError:
    """``error`` as the run (which writes into ``folder``) should report it: a full disk,
    a used-up quota or a read-only file system seen by a write names no file, so it
    becomes an UnwritablePathError naming the folder; any other error is kept."""
    if error.filename is not None or error.errno not in _WHOLE_DISK:
        return error
    return UnwritablePathError(
        f"cannot write the output folder {os.path.abspath(folder)}: {os_error_message(error)}"
    )


def report_failure(
    error: BaseException, *, debug: bool, environ: Mapping[str, str] = os.environ
) -> int:
    """Tell the user about ``error`` in one line (after its traceback, with ``debug``,
    through the redacting debug log) and return the exit status. Under GitHub Actions,
    annotate it too: a manifest's problems at their lines."""
    failure = failure_of(error)
    if debug and not isinstance(error, KeyboardInterrupt):
        logging.getLogger(LOGGER).debug("traceback", exc_info=error)
    print(f"batch_gen: {failure.message}", file=sys.stderr)
    if in_github_actions(environ) and not isinstance(error, KeyboardInterrupt):
        with contextlib.suppress(OSError):
            print("\n".join(failure_annotations(error, failure, environ)), flush=True)
    return failure.status


def failure_annotations(
    error: BaseException, failure: Failure, environ: Mapping[str, str]
) -> list[str]:
    """The workflow commands that annotate ``error``: each problem of a manifest at its
    file and line (10, then a notice with the rest), else the one line as an error."""
    error = _first_real(error)
    if not isinstance(error, ManifestError):
        return [Annotation("error", failure.message, title="batch_gen").command()]
    found = [
        Annotation(
            "error",
            f"{problem.field}: {problem.message}" if problem.field else problem.message,
            title="batch_gen: manifest problem",
            file=repository_path(Path(problem.file), environ),
            line=problem.line,
        )
        for problem in error.problems
    ]
    return annotation_lines(found, rest="{count} more manifest problems: see the log")


def _absolute(filename: object) -> str | None:
    """A file name an OSError carries, made absolute (a relative one leaves doubt about
    which folder is meant); None when there is none."""
    if filename is None:
        return None
    if isinstance(filename, str | bytes):
        return os.path.abspath(os.fsdecode(filename))
    return str(filename)  # a descriptor


def silence_stdout() -> None:
    """After a BrokenPipeError on stdout (the reader went away: ``| head``), point stdout at
    the null device, so that nothing more is tried there, Python's flush at exit
    included, which would otherwise complain on stderr."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _first_real(error: BaseException) -> BaseException:
    """``error``, or for a group the first exception in it (depth first) that is not a
    cancellation; the group itself when there is none."""
    if not isinstance(error, BaseExceptionGroup):
        return error
    for inner in error.exceptions:
        found = _first_real(inner)
        if not isinstance(found, BaseExceptionGroup) and not _is_cancellation(found):
            return found
    return error


def _is_cancellation(error: BaseException) -> bool:
    # asyncio is looked up, not imported: importing it costs `status` ~30 ms of start-up,
    # and where it was never imported nothing can have been cancelled.
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(error, asyncio.CancelledError)
