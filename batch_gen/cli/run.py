"""``batch_gen run MANIFEST``: the run's options, the checks made before anything is sent
(the output folder and ``--report`` can be written), then the dry run or the run, and what
is printed and written at its end.

``--quiet`` prints only errors: nothing for a run that ends with exit status 0, else the
summary's first line (and why the run was aborted, if it was) on stderr. ``--json`` output
is printed whatever ``--quiet`` says: it was asked for.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from batch_gen.cli.exits import EXIT_OK
from batch_gen.cli.failures import in_output_folder, os_error_message, silence_stdout
from batch_gen.config import RunOptions, build_options, provider_identity
from batch_gen.errors import UsageError
from batch_gen.files.destinations import (
    check_output_file,
    check_output_folder,
    write_output_file,
)
from batch_gen.gcpause import gc_paused
from batch_gen.manifest import load_manifest
from batch_gen.models import Manifest

if TYPE_CHECKING:
    from batch_gen.report import RunSummary


def run_command(args: argparse.Namespace) -> int:
    """``run``: the exit status of the dry run or the run (see the README's table)."""
    _check_flags(args)
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
    check_destinations(options, output_given=args.output is not None, create=not args.dry_run)
    if args.dry_run:
        return _dry_run(manifest, options, listing=args.list, as_json=args.json, quiet=args.quiet)
    return _run(manifest, options, progress=not args.no_progress, quiet=args.quiet)


def check_destinations(options: RunOptions, *, output_given: bool, create: bool) -> None:
    """Check, before anything is sent, that the run can write its output folder and its
    report (see :mod:`batch_gen.files.destinations`); ``create`` for a real run."""
    setting = "--output" if output_given else "the manifest's output folder"
    check_output_folder(options.output_dir, setting=setting, create=create)
    if options.report_path is not None:
        check_output_file(options.report_path, setting="--report", create=create)


def _check_flags(args: argparse.Namespace) -> None:
    if (args.list or args.json) and not args.dry_run:
        raise UsageError("--list and --json show a dry run's plan: add --dry-run")
    if args.list and args.json:
        raise UsageError("--list and --json are two forms of the plan: choose one")


def _only(text: str | None) -> list[str] | None:
    if text is None:
        return None
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise UsageError("--only needs at least one job id")
    return ids


def _dry_run(
    manifest: Manifest, options: RunOptions, *, listing: bool, as_json: bool, quiet: bool
) -> int:
    from batch_gen.planning.dry_run import (
        count_requests,
        estimate_cost,
        format_listing,
        plan_document,
        plan_run,
    )
    from batch_gen.report import format_plan

    with gc_paused():  # short-lived, and 100,000 plan entries are all long-lived
        preview = plan_run(manifest, options)
        text = not (quiet or as_json)
        if text:
            print(f"batch_gen: {preview.plan.describe(options.output_dir)}", file=sys.stderr)
            if listing:
                print(format_listing(preview))
            else:
                requests = count_requests(preview)
                output_dir = str(options.output_dir)
                print(format_plan(preview.plan, requests=requests, output_dir=output_dir))
            if preview.refusal is not None:
                print(preview.refusal)
        estimate = None
        if options.check_models and preview.plan.to_run:  # checks the models too
            estimate = estimate_cost(preview, manifest, options)
        if as_json:
            document = plan_document(preview, output_dir=options.output_dir, estimate=estimate)
            _print_json(document)
        elif text and estimate is not None:
            print(estimate.line())
    return EXIT_OK


def _print_json(document: dict[str, Any]) -> None:
    # msgspec: a 100,000-job plan through the standard library's indenting encoder is slow.
    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(document), indent=2))
    sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()


def _run(manifest: Manifest, options: RunOptions, *, progress: bool, quiet: bool) -> int:
    # Imported here: asyncio, aiohttp and the runner cost 0.15 s that `status` and dry runs
    # do without.
    import asyncio

    from batch_gen.endpoints import open_endpoint
    from batch_gen.progress import choose_progress
    from batch_gen.runner import run_batch

    display = choose_progress(enabled=progress and not quiet)

    async def run() -> RunSummary:
        async with open_endpoint(options) as endpoint:
            return await run_batch(
                manifest, options, endpoint=endpoint, progress=display, handle_signals=True
            )

    try:
        with _stderr_silenced(quiet):
            summary = asyncio.run(run())
    except OSError as error:
        translated = in_output_folder(error, options.output_dir)
        if translated is error:
            raise
        raise translated from error
    status = summary.exit_status()
    # The report first: after a hangup (SIGHUP) the terminal is gone and printing fails.
    if options.report_path is not None:
        _write_report(options.report_path, summary, status=status)
    _print_outcome(summary, status, output_dir=options.output_dir, quiet=quiet)
    return status


@contextlib.contextmanager
def _stderr_silenced(quiet: bool) -> Iterator[None]:
    """With ``quiet``, what the run says on stderr as it goes (its opening line, notes,
    progress) is dropped. Errors are not: they propagate, and are printed after this."""
    if not quiet:
        yield
        return
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
        yield


def _print_outcome(summary: RunSummary, status: int, *, output_dir: Path, quiet: bool) -> None:
    """The summary (stdout), or with ``quiet`` its first line (stderr) when the run did not
    end with exit status 0. A reader that went away (``| head``, a closed terminal)
    changes nothing: the exit status stays the run's."""
    from batch_gen.report import format_summary

    text = format_summary(summary)
    try:
        if not quiet:
            print(text)
            if summary.images and status == EXIT_OK:
                print(f"images are in {output_dir}/")
            sys.stdout.flush()
        elif status != EXIT_OK:
            print(text.splitlines()[0], file=sys.stderr)
            if summary.aborted:
                print(f"batch_gen: aborted: {summary.aborted}", file=sys.stderr)
    except BrokenPipeError:
        silence_stdout()
    except OSError:
        pass  # the terminal went away (EIO after a hangup): the state and report are saved


def _write_report(path: Path, summary: RunSummary, *, status: int) -> None:
    """Write ``--report``. Its path was checked before the run; should writing fail even
    so, say so in one line: the exit status stays the run's, which is what it describes."""
    from batch_gen.report import report_document

    try:
        write_output_file(path, json.dumps(report_document(summary), indent=2) + "\n")
    except OSError as error:
        print(
            f"batch_gen: the report was not written: {os_error_message(error)};"
            f" the exit status ({status}) is the run's",
            file=sys.stderr,
        )
