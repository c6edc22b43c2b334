"""The command line's exit statuses (the README's table; ``run --help`` repeats it)."""

from __future__ import annotations

import signal

EXIT_OK = 0
EXIT_FAILED = 1  # a job failed or was left undone; for ``status``: not every job is done
EXIT_USAGE = 2  # the manifest or the command line is invalid; nothing was sent
EXIT_CONFIG = 3  # the run could not start, or was aborted as a whole
EXIT_INTERRUPTED = 130  # Ctrl-C, SIGTERM or SIGHUP, after saving state
# The reader of stdout went away (``| head``): what a shell reports for a program that
# SIGPIPE ended, such as ``git log | head``.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
