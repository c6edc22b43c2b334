"""The command line: parse, build options, call one library function, map the outcome to
an exit status. Nothing else lives here.

- :mod:`.parser`: the grammar, the help, one-line usage errors;
- :mod:`.run`, :mod:`.status`, :mod:`.gallery`, :mod:`.prune`, :mod:`.models`: one
  module per subcommand
  (:mod:`.ci`: what a run writes for CI: JUnit, the GitHub step summary, annotations);
- :mod:`.failures`: the one place where an exception becomes one line and an exit status
  (:mod:`.exits` lists them); :mod:`.debug`: ``--debug``'s log, the key redacted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from batch_gen.cli.debug import enable_debug_log
from batch_gen.cli.exits import EXIT_BROKEN_PIPE, holding, leave, release_held
from batch_gen.cli.failures import report_failure, silence_stdout
from batch_gen.cli.parser import build_parser, parse_arguments
from batch_gen.config import KEY_VARIABLE

__all__ = ["build_parser", "entry", "main"]


def entry() -> NoReturn:
    """``python -m batch_gen`` and the ``batch-gen`` script: :func:`main`, then exit with
    its status; at once (:func:`~.exits.leave`) after a command that held what it built."""
    code = main()
    if holding():
        leave(code)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: the process's) and return its exit status."""
    release_held()  # what an earlier call held (tests call main many times)
    args = parse_arguments(build_parser(), argv)
    if args.debug:
        # Redact the key as set, before any check of it: whatever a message may carry.
        enable_debug_log(secret=os.environ.get(KEY_VARIABLE, "").strip() or None)
    try:
        return _command(args.command)(args)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as git and other tools do.
        silence_stdout()
        return EXIT_BROKEN_PIPE
    except (Exception, KeyboardInterrupt) as error:  # the one place errors become a line
        return report_failure(error, debug=args.debug)


def _command(name: str) -> Callable[..., int]:
    # Imported per command: `status` need not import what `run` does.
    if name == "run":
        from batch_gen.cli.run import run_command

        return run_command
    if name == "status":
        from batch_gen.cli.status import status_command

        return status_command
    if name == "gallery":
        from batch_gen.cli.gallery import gallery_command

        return gallery_command
    if name == "prune":
        from batch_gen.cli.prune import prune_command

        return prune_command
    from batch_gen.cli.models import models_command, simulator_command

    return models_command if name == "models" else simulator_command
