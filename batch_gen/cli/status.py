"""``batch_gen status MANIFEST``: where each job stands, whether runs are in progress, and
an exit status a script can test ("is everything done?"). Reads only: every shard's state
together, as :func:`~batch_gen.state.loading.read_state` merges it."""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

from batch_gen.cli.exits import EXIT_FAILED, EXIT_OK, hold_until_exit
from batch_gen.config import provider_identity
from batch_gen.gcpause import gc_paused
from batch_gen.manifest import default_output_dir
from batch_gen.models import JobRecord
from batch_gen.planning.status import (
    LISTED,
    RecordSummary,
    StatusReport,
    format_status,
    manifest_as_last_run,
    read_summaries,
    runs_in_progress_line,
    status_of,
)
from batch_gen.state.folder import runs_in_progress
from batch_gen.state.jobindex import read_job_index
from batch_gen.state.runinfo import last_provider

# What status shows: rows of summaries read from the state, or of records adopted from
# metadata files.
Report = StatusReport[RecordSummary | JobRecord]


def status_command(args: argparse.Namespace) -> int:
    """Print the status (text, or ``--json`` in the documented shape; nothing with
    ``--quiet``); 0 when every job succeeded, else 1."""
    # Everything status builds lives until it exits: the cyclic collector would only rescan
    # it (a third of the time of a 100,000-job status, measured).
    with gc_paused():
        report, output_dir = _status_report(args.manifest, args.output)
        hold_until_exit(report)  # read-only: the process may end without freeing it
        in_progress = [run.describe() for run in runs_in_progress(output_dir)]
        if args.json:
            if in_progress and not args.quiet:
                print(f"batch_gen: {runs_in_progress_line(in_progress)}", file=sys.stderr)
            _print_json(report)
        elif not args.quiet:
            limit = None if args.all else LISTED
            print(
                format_status(report, output_dir=output_dir, in_progress=in_progress, limit=limit)
            )
    return EXIT_OK if report.all_done() else EXIT_FAILED


def _print_json(report: Report) -> None:
    out = sys.stdout.buffer
    for piece in report.json_pieces():
        out.write(piece)
    out.flush()


def _status_report(path: Path, output: Path | None) -> tuple[Report, Path]:
    """The status of the manifest at ``path``, keyed for the provider of the last run.

    Reuses the ids and keys the last run recorded when the manifest is byte-for-byte the
    same (see state/jobindex.py), so that a 100,000-job status needs no validation pass.
    Reads the state as summaries: the fields status shows, the rest skipped.
    """
    known_dir = output or default_output_dir(path)
    if known_dir is not None:
        default_provider = provider_identity(offline=False, base_url=None, environ=os.environ)
        provider = last_provider(known_dir) or default_provider
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = None  # load_manifest below reports it properly
        if digest is not None:
            pairs = read_job_index(known_dir, manifest_sha256=digest, provider=provider)
            if pairs is not None:
                return status_of(pairs, known_dir, read_summaries(known_dir)), known_dir
    manifest, output_dir = manifest_as_last_run(path, output)
    hold_until_exit(manifest)
    pairs = [(job.id, job.key) for job in manifest.jobs]
    return status_of(pairs, output_dir, read_summaries(output_dir)), output_dir
