"""``batch_gen run MANIFEST``: the run's options, the checks made before anything is sent
(the output folder, ``--report``, ``--junit`` and ``--plan-md`` can be written), then the
dry run or the run (of one shard's jobs, with ``--shard``), and what is printed and written
at its end (for CI: :mod:`.ci`).

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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from batch_gen.cli.ci import CiOutputs
from batch_gen.cli.exits import EXIT_OK, hold_until_exit
from batch_gen.cli.failures import in_output_folder, os_error_message, silence_stdout
from batch_gen.config import RunOptions, build_options, provider_identity
from batch_gen.errors import UsageError
from batch_gen.files.destinations import (
    check_output_file,
    check_output_folder,
    write_output_file,
)
from batch_gen.gcpause import gc_paused
from batch_gen.interrupts import interrupt_on_signals
from batch_gen.manifest import load_manifest
from batch_gen.models import Manifest
from batch_gen.planning.rejections import Rejections, read_rejections
from batch_gen.planning.shards import shard_manifest
from batch_gen.state.jobindex import write_job_index

if TYPE_CHECKING:
    from batch_gen.report import RunSummary


def run_command(args: argparse.Namespace) -> int:
    """``run``: the exit status of the dry run or the run (see the README's table)."""
    interrupt_on_signals()  # a pod evicted while it reads its manifest says so: exit 130
    _check_flags(args)
    provider = provider_identity(offline=args.offline, base_url=args.base_url, environ=os.environ)
    whole = load_manifest(args.manifest, provider=provider)
    rejections = read_rejections(args.reject) if args.reject is not None else None
    manifest = whole if args.shard is None else shard_manifest(whole, args.shard)
    ci = CiOutputs.of(whole, junit=args.junit, plan_md=args.plan_md, environ=os.environ)
    options = _options(args, manifest)
    check_destinations(
        options,
        output_given=args.output is not None,
        create=not args.dry_run,
        files=((ci.junit, "--junit"),),
    )
    if ci.plan_md is not None:  # a dry run writes it: its folder may be made
        check_output_file(ci.plan_md, setting="--plan-md", create=True)
    if args.shard is not None and not args.quiet:
        count, label = len(whole.jobs), args.shard.label
        _say(f"shard {label}: {len(manifest.jobs)} of the manifest's {count} jobs")
    if args.dry_run:
        shown = Shown(listing=args.list, as_json=args.json, quiet=args.quiet)
        return _dry_run(manifest, options, shown=shown, ci=ci, rejections=rejections)
    after = After(
        ci=ci,
        quiet=args.quiet,
        progress=not args.no_progress,
        gallery=whole if args.gallery else None,
        rejections=rejections,
    )
    status = _run(manifest, options, after=after)
    if args.shard is not None:
        _index_whole(whole, options)
    return status


def _options(args: argparse.Namespace, manifest: Manifest) -> RunOptions:
    """The run's options: the command line over the manifest's ``run:`` section."""
    return build_options(
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
        shard=args.shard,
    )


def check_destinations(
    options: RunOptions,
    *,
    output_given: bool,
    create: bool,
    files: Iterable[tuple[Path | None, str]] = (),
) -> None:
    """Check, before anything is sent, that the run can write its output folder, its
    report and the other ``files`` it writes at its end (path, the option that names it;
    see :mod:`batch_gen.files.destinations`); ``create`` for a real run."""
    setting = "--output" if output_given else "the manifest's output folder"
    check_output_folder(options.output_dir, setting=setting, create=create)
    for path, option in ((options.report_path, "--report"), *files):
        if path is not None:
            check_output_file(path, setting=option, create=create)


def _check_flags(args: argparse.Namespace) -> None:
    if (args.list or args.json) and not args.dry_run:
        raise UsageError("--list and --json show a dry run's plan: add --dry-run")
    if args.list and args.json:
        raise UsageError("--list and --json are two forms of the plan: choose one")
    if args.plan_md is not None and not args.dry_run:
        raise UsageError("--plan-md writes a dry run's plan: add --dry-run")
    if args.junit is not None and args.dry_run:
        raise UsageError(
            "--junit reports a run's outcome, and a dry run runs nothing: drop --dry-run,"
            " or write the plan with --plan-md"
        )
    if args.gallery and args.dry_run:
        raise UsageError(
            "--gallery writes the page at the end of a run, and a dry run runs nothing:"
            " drop --dry-run, or write it with 'batch_gen gallery'"
        )
    if args.shard is not None and args.only is not None:
        raise UsageError("--only and --shard both choose the jobs to run: use one of them")


def _index_whole(manifest: Manifest, options: RunOptions) -> None:
    """After a shard's run, the index of the whole manifest's job keys (a shard's run
    records only its own jobs' state), so that ``status`` stays quick. Only a cache:
    a failure to write it changes nothing."""
    with contextlib.suppress(OSError):
        write_job_index(
            options.output_dir,
            manifest_sha256=manifest.sha256,
            provider=options.provider,
            jobs=manifest.jobs,
        )


def _say(message: str) -> None:
    print(f"batch_gen: {message}", file=sys.stderr)


def _only(text: str | None) -> list[str] | None:
    if text is None:
        return None
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise UsageError("--only needs at least one job id")
    return ids


@dataclass(frozen=True, slots=True)
class Shown:
    """How a dry run shows its plan: in columns (``listing``), as JSON, or not at all."""

    listing: bool = False
    as_json: bool = False
    quiet: bool = False


@dataclass(frozen=True, slots=True)
class After:
    """How a run is shown and what it writes at its end: CI's files, the summary (or
    nothing but errors, ``quiet``), ``gallery`` (``--gallery``: the page of that manifest,
    the whole one for a shard's run); ``rejections`` (``--reject``) steer the run itself."""

    ci: CiOutputs
    quiet: bool = False
    progress: bool = True
    gallery: Manifest | None = None
    rejections: Rejections | None = None


def _dry_run(
    manifest: Manifest,
    options: RunOptions,
    *,
    shown: Shown,
    ci: CiOutputs,
    rejections: Rejections | None,
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
        preview = plan_run(manifest, options, rejections=rejections)
        hold_until_exit(manifest, preview)  # read-only: the process may end without freeing
        text = not (shown.quiet or shown.as_json)
        if text:
            print(f"batch_gen: {preview.plan.describe(options.output_dir)}", file=sys.stderr)
            for line in preview.remake.lines() if preview.remake is not None else ():
                print(f"batch_gen: {line}", file=sys.stderr)
            if shown.listing:
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
        if shown.as_json:
            document = plan_document(preview, output_dir=options.output_dir, estimate=estimate)
            _print_json(document)
        elif text and estimate is not None:
            print(estimate.line())
        ci.after_dry_run(preview, estimate, options.output_dir)
    return EXIT_OK


def _print_json(document: dict[str, Any]) -> None:
    # msgspec: a 100,000-job plan through the standard library's indenting encoder is slow.
    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(document), indent=2))
    sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()


def _run(manifest: Manifest, options: RunOptions, *, after: After) -> int:
    # Imported here: asyncio, aiohttp and the runner cost 0.15 s that `status` and dry runs
    # do without.
    import asyncio

    from batch_gen.endpoints import open_endpoint
    from batch_gen.progress import choose_progress
    from batch_gen.runner import run_batch

    quiet = after.quiet
    display = choose_progress(enabled=after.progress and not quiet)

    async def run() -> RunSummary:
        async with open_endpoint(options) as endpoint:
            return await run_batch(
                manifest,
                options,
                endpoint=endpoint,
                progress=display,
                handle_signals=True,
                rejections=after.rejections,
            )

    try:
        with _stderr_silenced(quiet):
            summary = asyncio.run(run())
    except OSError as error:
        translated = in_output_folder(error, options.output_dir)
        if translated is error:
            raise
        raise translated from error
    summary.shard = options.shard.label if options.shard is not None else None
    status = summary.exit_status()
    # The reports first: after a hangup (SIGHUP) the terminal is gone and printing fails.
    if options.report_path is not None:
        _write_report(options.report_path, summary, status=status)
    after.ci.after_run(summary)
    page = None
    if after.gallery is not None:
        page = _write_gallery(after.gallery, options, summary, status=status)
    _print_outcome(summary, status, output_dir=options.output_dir, quiet=quiet)
    if page is not None and not quiet:
        with contextlib.suppress(OSError):
            print(f"gallery: {page}")
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


def _write_gallery(
    manifest: Manifest, options: RunOptions, summary: RunSummary, *, status: int
) -> Path | None:
    """``--gallery``: the page, priced from the catalog the run loaded, else from the one a
    run would load (none with ``--no-catalog``). Written whatever the run's outcome; should
    writing fail, say so in one line: the exit status stays the run's."""
    from batch_gen.cli.gallery import catalog_or_none, write_page

    catalog = summary.catalog
    if catalog is None and options.check_models:
        catalog = catalog_or_none(options.offline, options.base_url)
    try:
        return write_page(manifest, options.output_dir, catalog=catalog)
    except OSError as error:
        print(
            f"batch_gen: the gallery was not written: {os_error_message(error)};"
            f" the exit status ({status}) is the run's",
            file=sys.stderr,
        )
        return None


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
