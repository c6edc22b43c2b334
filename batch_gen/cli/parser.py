"""The command line's grammar: subcommands, options, their help, and how a command line
that does not parse is reported (one line, exit status 2, as every other usage error).

Option values are only parsed here; their ranges are checked with the run's options
(:mod:`batch_gen.config`), in the same words whether the value is out of range or not a
number at all. No option may be abbreviated: ``--dry`` is an error, not ``--dry-run``.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from batch_gen import __version__
from batch_gen.cli.exits import EXIT_USAGE
from batch_gen.config import WHOLE_NUMBER_OPTIONS, range_problem
from batch_gen.shards import Shard, parse_shard

PROG = "batch_gen"

RUN_EPILOG = """\
environment:
  COMETAPI_KEY        the API key: required unless --offline or --dry-run; spaces and
                      line breaks around it are ignored; never printed, logged or stored
  COMETAPI_BASE_URL   the API's base URL (default https://api.cometapi.com)
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY
                      proxies for API calls and image downloads, as curl and pip use them
  BATCH_GEN_OFFLINE_LATENCY
                      seconds of latency the offline simulator adds per request
  GITHUB_ACTIONS=true, GITHUB_STEP_SUMMARY
                      set by GitHub Actions: the run's summary (a dry run's plan) is
                      appended to the step summary as Markdown, and failed jobs are
                      annotated at their lines in the manifest

exit status:
  0    every job succeeded or was already done
  1    at least one job failed, or was left undone (--fail-fast, --max-cost)
  2    the manifest or the command line is invalid; nothing was sent
  3    the run could not start or was aborted: missing or rejected key, unknown model,
       exhausted quota, unreachable host, an output folder or --report path that cannot
       be written, the output folder in use by another run, images another provider or
       manifest made in the way
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP) after saving state; the same command resumes
"""

STATUS_EPILOG = """\
exit status (for scripts: "is everything done?"):
  0    every job of the manifest succeeded and its files are in place
  1    some job is not done: pending, running or failed
  2    the manifest or the command line is invalid
"""

GALLERY_EPILOG = """\
exit status:
  0    the page is written; its path is printed
  2    the manifest or the command line is invalid
  3    the page cannot be written
"""

PRUNE_EPILOG = """\
exit status:
  0    listed (or, with --delete, removed)
  2    the manifest or the command line is invalid
  3    the output folder is in use by a run (with --delete), or a file cannot be removed
"""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and no abbreviated options (subcommands' parsers are
    of this class too: argparse makes them of their parent's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allow_abbrev = False

    def error(self, message: str) -> NoReturn:
        """Print ``batch_gen: <message>`` in one line and exit 2; a complaint about an
        option's value reads as the range check's (``--concurrency must be ...``), anything
        else points at the help."""
        line = one_line(message)
        if not line.startswith("-") or " must be " not in line:
            line += f" (see '{self.prog} --help')"
        self.exit(EXIT_USAGE, f"{PROG}: {line}\n")

    def options_of(self, command: str | None) -> list[str]:
        """The options of a subcommand (None: of this parser)."""
        parser: argparse.ArgumentParser = self
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and command in action.choices:
                parser = action.choices[command]
        return [name for action in parser._actions for name in action.option_strings]


def parse_arguments(parser: Parser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; an option no one takes is an error naming the option meant, when
    one is close (``--dry``: ``--dry-run``), and the subcommand's help. Exits 2 on errors."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        message = unknown_arguments(extras, known=parser.options_of(args.command))
        parser.exit(EXIT_USAGE, f"{PROG}: {message} (see '{PROG} {args.command} --help')\n")
    return args


def one_line(message: str) -> str:
    """argparse's message in the words batch_gen uses: ``argument --concurrency: --con...
    must be ...`` (an option's own complaint) becomes ``--concurrency must be ...``."""
    found = re.fullmatch(r"argument (\S+?)(?:/\S+)?: (.*)", message, flags=re.DOTALL)
    if found is None:
        return " ".join(message.split())
    name, complaint = found.groups()
    if complaint.startswith(name + " "):
        return complaint
    return f"{name}: {complaint}"


def unknown_arguments(extras: Sequence[str], *, known: Sequence[str]) -> str:
    """The message for arguments no option takes, naming the option meant when one is
    close (``--dry``: ``--dry-run``)."""
    option = next((word for word in extras if word.startswith("-")), None)
    if option is None:
        return f"unexpected argument {extras[0]!r}" if extras else "unexpected arguments"
    close = difflib.get_close_matches(option.split("=")[0], known, n=1, cutoff=0.6)
    hint = f": did you mean {close[0]}?" if close else ""
    return f"unknown option {option}{hint}"


def version() -> str:
    """The installed distribution's version, else the package's own."""
    from importlib import metadata  # ~15 ms to import: only `--version` needs it

    try:
        return metadata.version("batch_gen")
    except metadata.PackageNotFoundError:
        return __version__


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for (argparse's own action wants the text
    when the parser is built, and finding it costs every command ~15 ms)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        del kwargs
        super().__init__(
            option_strings, dest, nargs=0, help="show the version and exit", default=None
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        print(f"{PROG} {version()}")  # on stdout, as argparse's own action prints it
        parser.exit()


def _number_type(option: str) -> Callable[[str], float]:
    """Parse a number for ``--<option>``: a non-number gets the range check's own words."""
    whole = option in WHOLE_NUMBER_OPTIONS

    def parse(text: str) -> float:
        try:
            if whole:
                return int(text)
            return float(text.strip().removeprefix("$") if option == "max_cost" else text)
        except ValueError:
            raise argparse.ArgumentTypeError(range_problem(option, text)) from None

    parse.__name__ = option  # argparse names the type in some messages
    return parse


def _add_common(parser: argparse.ArgumentParser, *, quiet: bool) -> None:
    """``--debug`` (and ``--quiet``) on a subcommand; SUPPRESS keeps a subcommand from
    resetting what was given before it (``batch_gen --debug run ...``)."""
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show a traceback with errors and log what batch_gen does (the key redacted)",
    )
    if quiet:
        parser.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            default=argparse.SUPPRESS,
            help="print only errors (and what --json asks for); the exit status tells the rest",
        )


def build_parser() -> Parser:
    """The whole command line: ``run``, ``status``, ``gallery``, ``prune``, ``models`` and
    ``simulator``."""
    parser = Parser(
        prog=PROG,
        description="Turn a manifest of image prompts into image files through CometAPI.",
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument(
        "--debug", action="store_true", help="tracebacks with errors, and a debug log"
    )
    parser.set_defaults(quiet=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(commands)
    _add_status(commands)
    _add_gallery(commands)
    _add_prune(commands)
    _add_models(commands)
    _add_simulator(commands)
    return parser


Subcommands = argparse._SubParsersAction  # the type add_subparsers returns


def _add_run(commands: Subcommands[Parser]) -> None:
    run = commands.add_parser(
        "run",
        help="run a manifest (resumes where it left off)",
        description="Run the jobs of a manifest that are not done yet.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("manifest", type=Path, help="a .yaml/.yml or .csv manifest")
    run.add_argument(
        "--output",
        type=Path,
        help="output folder, relative to the working directory (default: the manifest's"
        " output.dir, relative to the manifest; else output/<manifest stem>)",
    )
    number = _number_type
    run.add_argument(
        "--concurrency", type=number("concurrency"), help="requests in flight (default 4)"
    )
    run.add_argument("--rpm", type=number("rpm"), help="requests per minute, 0 = no limit")
    run.add_argument(
        "--max-attempts", type=number("max_attempts"), help="tries per request (default 5)"
    )
    run.add_argument("--timeout", type=number("timeout"), help="seconds per request (default 300)")
    run.add_argument("--base-url", help="API base URL (default $COMETAPI_BASE_URL or CometAPI)")
    run.add_argument("--offline", action="store_true", help="use the built-in simulator")
    run.add_argument("--dry-run", action="store_true", help="print the plan, send nothing")
    run.add_argument(
        "--list", action="store_true", help="with --dry-run: one row per job, in columns"
    )
    run.add_argument(
        "--json", action="store_true", help="with --dry-run: the plan and every job as JSON"
    )
    run.add_argument("--only", help="comma-separated job ids to run")
    run.add_argument("--retry-failed", action="store_true", help="retry permanent failures too")
    run.add_argument("--force", action="store_true", help="run every job again")
    run.add_argument("--fail-fast", action="store_true", help="stop after the first failure")
    run.add_argument(
        "--report",
        type=Path,
        metavar="FILE.json",
        help="write a JSON report (its path is checked before anything is sent)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress display")
    run.add_argument(
        "--max-cost",
        type=number("max_cost"),
        metavar="USD",
        help="stop before the cost would exceed USD",
    )
    run.add_argument(
        "--no-catalog", action="store_true", help="skip the model catalog (no model check)"
    )
    run.add_argument(
        "--poll-interval",
        type=number("poll_interval"),
        help="seconds between polls of a task (default 3)",
    )
    run.add_argument(
        "--task-timeout",
        type=number("task_timeout"),
        help="give up polling a task after this (default 1800)",
    )
    run.add_argument(
        "--verify",
        action="store_true",
        help="check every done image's sha256, not only its size; remake those that differ",
    )
    run.add_argument(
        "--reject",
        type=Path,
        metavar="FILE.json",
        help="make again the jobs whose images the gallery's exported FILE rejected (with a"
        " new seed where the model takes one), keeping their earlier versions; jobs remade"
        " since are left alone",
    )
    run.add_argument(
        "--gallery",
        action="store_true",
        help="write <output>/gallery.html at the end of the run (as 'batch_gen gallery')",
    )
    run.add_argument(
        "--replace-foreign",
        action="store_true",
        help="allow replacing images made by another provider (offline simulator versus a"
        " real base URL) or for another manifest; without it such a run stops before sending",
    )
    _add_ci_options(run)
    _add_common(run, quiet=True)


def _add_ci_options(run: argparse.ArgumentParser) -> None:
    """``run``'s options for CI and for more than one machine."""
    run.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="run only shard K of N (1 <= K <= N): the jobs whose sha256 of the id, mod N,"
        " is K-1; shards may run at the same time on one output folder",
    )
    run.add_argument(
        "--junit",
        type=Path,
        metavar="FILE.xml",
        help="write a JUnit XML report, one test case per job (its path is checked before"
        " anything is sent)",
    )
    run.add_argument(
        "--plan-md",
        type=Path,
        metavar="FILE.md",
        help="with --dry-run: write the plan as Markdown (new, changed and removed jobs,"
        " requests, estimated cost), e.g. for a pull request",
    )


def _shard(text: str) -> Shard:
    try:
        return parse_shard(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


_shard.__name__ = "shard"  # argparse names the type in some messages


def _add_status(commands: Subcommands[Parser]) -> None:
    status = commands.add_parser(
        "status",
        help="show where each job of a manifest stands",
        description="Show where each job of a manifest stands, from the recorded state and"
        " the files; says when a run is in progress. Reads only.",
        epilog=STATUS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_finished_run(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--all", action="store_true", help="list every unfinished job (default: the first 20)"
    )
    _add_common(status, quiet=True)


def _add_finished_run(parser: Parser) -> None:
    """The manifest and output folder of a run to look at (status, gallery, prune)."""
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--output", type=Path, help="output folder, if the run used --output")


def _add_gallery(commands: Subcommands[Parser]) -> None:
    gallery = commands.add_parser(
        "gallery",
        help="write the review page of a manifest's images",
        description="Write <output>/gallery.html: every job of the manifest with its images,"
        " status, cost and earlier versions, in one page that opens from disk. Reject"
        " images there and export the choice for 'run --reject FILE'.",
        epilog=GALLERY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_finished_run(gallery)
    _add_common(gallery, quiet=True)


def _add_prune(commands: Subcommands[Parser]) -> None:
    prune = commands.add_parser(
        "prune",
        help="remove the images of jobs no longer in a manifest",
        description="List the images and metadata files of jobs that are no longer in the"
        " manifest (only files batch_gen made for this manifest, as their metadata files"
        " say); with --delete, remove them.",
        epilog=PRUNE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_finished_run(prune)
    prune.add_argument(
        "--delete", action="store_true", help="remove them (without it: only list them)"
    )
    _add_common(prune, quiet=True)


def _add_models(commands: Subcommands[Parser]) -> None:
    models = commands.add_parser("models", help="list models and prices from the catalog")
    models.add_argument("--type", help="only this model type (image, text, ...)")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.add_argument("--refresh", action="store_true", help="ignore the day-old cache")
    models.add_argument("--base-url", help="API base URL (default $COMETAPI_BASE_URL or CometAPI)")
    models.add_argument("--offline", action="store_true", help="the built-in simulator's models")
    _add_common(models, quiet=False)


def _add_simulator(commands: Subcommands[Parser]) -> None:
    from batch_gen.simulator.cli_args import add_simulator_arguments

    simulator = commands.add_parser("simulator", help="serve the CometAPI-compatible simulator")
    add_simulator_arguments(simulator)
    _add_common(simulator, quiet=False)
