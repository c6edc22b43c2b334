"""Where a run writes: its output folder and the files it is asked for (``--report``),
checked before anything is sent, so that a path that cannot be written costs nothing.

A run's first writes are its lock and state inside the output folder, and a report is
written only after the whole (paid) run: both are checked here first. A check either
passes or raises, naming the path, the setting it came from and the cause:

- :class:`~batch_gen.errors.UsageError` (exit 2) for a folder no run should take as its
  output: the root of the file system, the home folder, a system folder. A run sweeps
  its output folder for leftover temp files and writes its state there;
- :class:`~batch_gen.errors.UnwritablePathError` (exit 3) for a path the file system
  will not let the run write: a file where a folder is needed or the reverse, a path
  under a file, a read-only or forbidden folder.

With ``create`` (a real run) missing folders are created and writing is tried with a
nameless temp file; without it (a dry run) nothing is created and the checks only read.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from batch_gen.errors import UnwritablePathError, UsageError
from batch_gen.files.atomic import write_atomic
from batch_gen.state.layout import STATE_DIR_NAME

# Top-level folders of the operating system: a run there would scatter images among
# system files and sweep them for temp files. Compared after resolving symbolic links.
SYSTEM_FOLDERS = frozenset(
    Path(name)
    for name in (
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/lib",
        "/lib64",
        "/proc",
        "/run",
        "/sbin",
        "/sys",
        "/usr",
        "/var",
    )
)


def refused_output(path: Path, *, home: Path | None = None) -> str | None:
    """Why ``path`` must not be an output folder (e.g. ``"the root of the file system"``),
    or None. Pure but for resolving symbolic links; ``home`` defaults to the user's."""
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        return "the root of the file system"
    if home is None:
        with contextlib.suppress(RuntimeError):  # no home folder known
            home = Path.home()
    if home is not None and resolved == home.resolve():
        return "the home folder"
    if resolved in SYSTEM_FOLDERS:
        return "a system folder"
    return None


def check_output_folder(path: Path, *, setting: str, create: bool) -> None:
    """Check that ``path`` can be a run's output folder; ``setting`` says where it came
    from (e.g. ``"--output"``). With ``create``, create it and try writing a file in it.

    Raises:
        UsageError: a folder no run should write into (see :func:`refused_output`).
        UnwritablePathError: it is a file, lies under a file, or cannot be written.
    """
    reason = refused_output(path)
    if reason is not None:
        raise UsageError(
            f"{setting} {_shown(path)}: refusing {reason} as the output folder: a run writes its"
            " images and state there and clears leftover temp files from it; choose a"
            " folder of its own"
        )
    where = f"the output folder {_shown(path)} ({setting})"
    if path.exists() and not path.is_dir():
        raise UnwritablePathError(f"cannot use {where}: it is a file, not a folder")
    state = path / STATE_DIR_NAME
    if state.exists() and not state.is_dir():
        raise UnwritablePathError(
            f"cannot use {where}: its state folder {_shown(state)} is a file, not a folder"
        )
    _check_ancestors(path, where=where)
    _check_folder(path, where=where, create=create)


def check_output_file(path: Path, *, setting: str, create: bool) -> None:
    """Check that a file the run writes at its end (``--report``; ``setting`` names it)
    can be written there, before anything is sent. With ``create``, create its folder and
    try writing a file beside it.

    Raises:
        UnwritablePathError: it is a folder, lies under a file, or cannot be written.
    """
    where = f"{setting} {_shown(path)}"
    if path.is_dir():
        raise UnwritablePathError(f"cannot write {where}: it is a folder, not a file")
    _check_ancestors(path, where=where)
    if path.exists():
        _check_access(path, where=where)
    _check_folder(path.parent, where=where, create=create)


def _check_folder(folder: Path, *, where: str, create: bool) -> None:
    """That ``folder`` can be written: created and tried with ``create``, else its
    permissions (or its nearest existing ancestor's) checked."""
    if not create:
        _check_access(folder if folder.exists() else _existing_ancestor(folder), where=where)
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _try_writing_in(folder)
    except OSError as error:
        raise UnwritablePathError(f"cannot write {where}: {_cause(error)}") from error


def write_output_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path``: atomically (temp file, then rename) for a regular file,
    so that a failed write never leaves half a report; directly for anything else that
    exists, such as ``/dev/stdout`` or a named pipe.

    Raises:
        OSError: the write failed.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = stat.S_IFREG
    data = text.encode("utf-8")
    if stat.S_ISREG(mode):
        write_atomic(path, data)
    else:
        with open(path, "wb") as file:
            file.write(data)


def _check_ancestors(path: Path, *, where: str) -> None:
    """UnwritablePathError when a folder on the way to ``path`` is in fact a file."""
    ancestor = _existing_ancestor(path.parent) if path.parent != path else path
    if not ancestor.is_dir():
        raise UnwritablePathError(f"cannot use {where}: {_shown(ancestor)} is a file, not a folder")


def _existing_ancestor(path: Path) -> Path:
    """``path`` itself or the nearest folder above it that exists (as a path, not a dir)."""
    current = path.absolute()
    while not current.exists() and current.parent != current:
        current = current.parent
    return current


def _check_access(path: Path, *, where: str) -> None:
    """UnwritablePathError when the system says ``path`` cannot be written (a read-only
    file system, or permissions; for the superuser only the former)."""
    needed = os.W_OK | (os.X_OK if path.is_dir() else 0)
    if not os.access(path, needed):
        cause = "a read-only file system" if _read_only(path) else "permission denied"
        raise UnwritablePathError(f"cannot write {where}: {cause}")


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _try_writing_in(folder: Path) -> None:
    """Create and drop a nameless file in ``folder`` (O_TMPFILE where there is one, else a
    temp name removed at once). Raises OSError when the folder refuses it."""
    with tempfile.TemporaryFile(dir=folder):
        pass


def _cause(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def _shown(path: Path) -> str:
    """The absolute path: a relative one may be relative to the manifest or to the working
    directory, and the message must leave no doubt which file is meant."""
    return os.path.abspath(path)
