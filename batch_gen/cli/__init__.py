"""The command line: parse, build options, call one library function, map the outcome to
an exit status. Nothing else lives here.

Exit status: 0 all done; 1 a job failed; 2 bad manifest or command line; 3 configuration or
authentication error (missing/rejected key, unknown model, output folder locked);
130 interrupted (state saved).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from . import __version__
from .config import build_options, provider_identity
from .errors import BatchGenError, ConfigurationError, ManifestError, UsageError
from .gcpause import gc_paused
from .manifest import default_output_dir, load_manifest, with_provider
from .planning.status import StatusReport, format_status, read_status, status_of
from .state.jobindex import read_job_index
from .state.runinfo import read_run_info

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on bad usage already; keep its message, add nothing."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _money(text: str) -> float:
    try:
        value = float(text.lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an amount in USD: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from .simulator.cli_args import add_simulator_arguments

    parser = _Parser(
        prog="batch_gen",
        description="Turn a manifest of image prompts into image files through CometAPI.",
    )
    parser.add_argument("--version", action="version", version=f"batch_gen {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a manifest (resumes where it left off)")
    run.add_argument("manifest", type=Path, help="a .yaml/.yml or .csv manifest")
    run.add_argument(
        "--output",
        type=Path,
        help="output folder, relative to the working directory (default: the manifest's"
        " output.dir, relative to the manifest; else output/<manifest stem>)",
    )
    run.add_argument("--concurrency", type=_positive_int, help="requests in flight (default 4)")
    run.add_argument("--rpm", type=_positive_int, help="requests per minute, 0 = no limit")
    run.add_argument("--max-attempts", type=_positive_int, help="tries per request (default 5)")
    run.add_argument("--timeout", type=_seconds, help="seconds per request (default 300)")
    run.add_argument("--base-url", help="API base URL (default $COMETAPI_BASE_URL or CometAPI)")
    run.add_argument("--offline", action="store_true", help="use the built-in simulator")
    run.add_argument("--dry-run", action="store_true", help="print the plan, send nothing")
    run.add_argument("--only", help="comma-separated job ids to run")
    run.add_argument("--retry-failed", action="store_true", help="retry permanent failures too")
    run.add_argument("--force", action="store_true", help="run every job again")
    run.add_argument("--fail-fast", action="store_true", help="stop after the first failure")
    run.add_argument("--report", type=Path, metavar="FILE.json", help="write a JSON report")
    run.add_argument("--no-progress", action="store_true", help="no progress display")
    run.add_argument(
        "--max-cost", type=_money, metavar="USD", help="stop before the cost would exceed USD"
    )
    run.add_argument(
        "--no-catalog", action="store_true", help="skip the model catalog (no model check)"
    )
    run.add_argument(
        "--poll-interval", type=_seconds, help="seconds between polls of a task (default 3)"
    )
    run.add_argument(
        "--task-timeout", type=_seconds, help="give up polling a task after this (default 1800)"
    )
    run.add_argument(
        "--verify",
        action="store_true",
        help="check every done image's sha256, not only its size; remake those that differ",
    )
    run.add_argument(
        "--replace-foreign",
        action="store_true",
        help="allow replacing images made by another provider (offline simulator versus a"
        " real base URL) or for another manifest; without it such a run stops before sending",
    )

    status = commands.add_parser("status", help="show where each job of a manifest stands")
    status.add_argument("manifest", type=Path)
    status.add_argument("--output", type=Path, help="output folder, if the run used --output")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    models = commands.add_parser("models", help="list models and prices from the catalog")
    models.add_argument("--type", help="only this model type (image, text, ...)")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.add_argument("--refresh", action="store_true", help="ignore the day-old cache")
    models.add_argument("--base-url", help="API base URL (default $COMETAPI_BASE_URL or CometAPI)")
    models.add_argument("--offline", action="store_true", help="the built-in simulator's models")

    simulator = commands.add_parser("simulator", help="serve the CometAPI-compatible simulator")
    add_simulator_arguments(simulator)
    return parser


def _only(text: str | None) -> list[str] | None:
    if text is None:
        return None
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise UsageError("--only needs at least one job id")
    return ids


def _run(args: argparse.Namespace) -> int:
    # Imported where needed: asyncio, aiohttp and the runner cost 0.15 s that `status` and
    # dry runs do without.
    from .planning.dry_run import count_requests, plan_run, price_plan
    from .report import format_plan, format_summary, report_document

    provider = provider_identity(offline=args.offline, base_url=args.base_url, environ=os.environ)
    manifest = load_manifest(args.manifest, provider=provider)
    options = build_options(
        manifest,
        output=args.output,
        concurrency=args.concurrency,
        rpm=args.rpm,
        max_attempts=args.max_attempts,
        timeout=args.timeout,
        base_url=args.base_url,
        offline=args.offline,
        only=_only(args.only),
        retry_failed=args.retry_failed,
        force=args.force,
        fail_fast=args.fail_fast,
        report_path=args.report,
        require_key=not args.dry_run,
        max_cost=args.max_cost,
        check_models=not args.no_catalog,
        poll_interval=args.poll_interval,
        task_timeout=args.task_timeout,
        verify=args.verify,
        replace_foreign=args.replace_foreign,
    )
    if args.dry_run:
        with gc_paused():  # short-lived, and 100,000 plan entries are all long-lived
            preview = plan_run(manifest, options)
            print(f"batch_gen: {preview.plan.describe(options.output_dir)}", file=sys.stderr)
            requests = count_requests(preview)
            output_dir = str(options.output_dir)
            print(format_plan(preview.plan, requests=requests, output_dir=output_dir))
            if preview.refusal is not None:
                print(preview.refusal)
            if options.check_models and preview.plan.to_run:
                print(price_plan(preview, manifest, options))
        return EXIT_OK
    import asyncio

    from .endpoints import open_endpoint
    from .progress import choose_progress
    from .report import RunSummary
    from .runner import run_batch

    progress = choose_progress(enabled=not args.no_progress)

    async def run() -> RunSummary:
        async with open_endpoint(options) as endpoint:
            return await run_batch(
                manifest, options, endpoint=endpoint, progress=progress, handle_signals=True
            )

    summary = asyncio.run(run())
    print(format_summary(summary))
    if options.report_path is not None:
        options.report_path.parent.mkdir(parents=True, exist_ok=True)
        options.report_path.write_text(json.dumps(report_document(summary), indent=2) + "\n")
    if summary.images and summary.exit_status() == EXIT_OK:
        print(f"images are in {options.output_dir}/")
    return summary.exit_status()


def _status(args: argparse.Namespace) -> int:
    # Everything status builds lives until it exits: the cyclic collector would only rescan
    # it (a third of the time of a 100,000-job status, measured).
    with gc_paused():
        report, output_dir = _status_report(args.manifest, args.output)
        _print_status(report, output_dir, as_json=args.json)
    return EXIT_OK


def _print_status(report: StatusReport, output_dir: Path, *, as_json: bool) -> None:
    if as_json:
        # msgspec: 100,000 rows through the standard library's indenting encoder take 1.5 s.
        document = msgspec.json.encode(report.to_json())
        sys.stdout.buffer.write(msgspec.json.format(document, indent=2))
        sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
    else:
        print(format_status(report, output_dir=output_dir))


def _status_report(path: Path, output: Path | None) -> tuple[StatusReport, Path]:
    """The status of the manifest at ``path``, keyed for the provider of the last run.

    Reuses the ids and keys the last run recorded when the manifest is byte-for-byte the
    same (see state/jobindex.py), so that a 100,000-job status needs no validation pass.
    """
    default_provider = provider_identity(offline=False, base_url=None, environ=os.environ)
    known_dir = output or default_output_dir(path)
    if known_dir is not None:
        provider = read_run_info(known_dir).get("provider", default_provider)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = None  # load_manifest below reports it properly
        if digest is not None and isinstance(provider, str):
            pairs = read_job_index(known_dir, manifest_sha256=digest, provider=provider)
            if pairs is not None:
                return status_of(pairs, known_dir), known_dir
    manifest = load_manifest(path, provider=default_provider)
    output_dir = output or manifest.output.dir
    last_provider = read_run_info(output_dir).get("provider")
    if isinstance(last_provider, str) and last_provider != default_provider:
        manifest = with_provider(manifest, last_provider)  # e.g. the last run was --offline
    return read_status(manifest, output_dir), output_dir


def _models(args: argparse.Namespace) -> int:
    import asyncio

    from .planning.preflight import catalog_for
    from .pricing.catalog import format_models, models_to_json

    catalog = asyncio.run(
        catalog_for(offline=args.offline, base_url=args.base_url, refresh=args.refresh)
    )
    models = catalog.of_type(args.type)
    if args.json:
        print(json.dumps(models_to_json(models), indent=2))
    else:
        print(format_models(models))
        print(f"{len(models)} models; prices from {catalog.source}", file=sys.stderr)
    if catalog.warning:
        print(f"batch_gen: {catalog.warning}", file=sys.stderr)
    return EXIT_OK


def _simulator(args: argparse.Namespace) -> int:
    import asyncio

    from .simulator import serve
    from .simulator.cli_args import config_from_namespace

    try:
        asyncio.run(serve(config_from_namespace(args)))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m batch_gen`` and the ``batch-gen`` script."""
    args = build_parser().parse_args(argv)
    handlers = {"run": _run, "status": _status, "models": _models, "simulator": _simulator}
    try:
        return handlers[args.command](args)
    except ManifestError as error:
        print(f"batch_gen: {error}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as error:
        print(f"batch_gen: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigurationError as error:
        print(f"batch_gen: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except BatchGenError as error:
        print(f"batch_gen: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("batch_gen: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): say nothing more, and keep Python from
        # complaining about the unflushable stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
