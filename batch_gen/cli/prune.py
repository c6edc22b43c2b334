"""``batch_gen prune MANIFEST``: list, and with ``--delete`` remove, the images and
metadata files of jobs no longer in the manifest (see :mod:`batch_gen.planning.prune` for
which files those are). Removing holds the output folder as a run does, so it never
races a run; listing only reads."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from batch_gen.cli.exits import EXIT_OK
from batch_gen.config import provider_identity
from batch_gen.errors import OutputLockedError
from batch_gen.files.naming import resolve_inside
from batch_gen.manifest import load_manifest
from batch_gen.planning.prune import Prune, format_prune, plan_prune
from batch_gen.state.folder import hold_folder, runs_in_progress
from batch_gen.state.layout import STATE_DIR_NAME
from batch_gen.state.lock import release_lock


def prune_command(args: argparse.Namespace) -> int:
    """List (``--delete``: remove) what ``prune`` finds; print it unless ``--quiet``."""
    provider = provider_identity(offline=False, base_url=None, environ=os.environ)
    manifest = load_manifest(args.manifest, provider=provider)
    output_dir: Path = args.output or manifest.output.dir
    name = str(args.manifest)
    if not args.delete or not output_dir.is_dir():
        found = plan_prune(manifest, output_dir)
        if not args.quiet:
            print(format_prune(found, manifest=name, deleted=False))
        return EXIT_OK
    running = runs_in_progress(output_dir)
    if running:
        raise OutputLockedError(
            f"the output folder {os.path.abspath(output_dir)} is in use by"
            f" {'; '.join(run.describe() for run in running)}: prune --delete removes"
            " nothing while a run holds the folder; run it again when that run has finished"
        )
    (output_dir / STATE_DIR_NAME).mkdir(exist_ok=True)
    lock_fd, _ = hold_folder(output_dir, None)  # a run that started since is refused too
    try:
        found = plan_prune(manifest, output_dir)
        remove(found)
    finally:
        release_lock(lock_fd)
    if not args.quiet:
        print(format_prune(found, manifest=name, deleted=True))
    return EXIT_OK


def remove(found: Prune) -> None:
    """Remove every file ``found`` lists (each job's images, then its metadata file, so
    that an interrupted prune finds the rest next time), then the folders that leaves
    empty, up to the output folder.

    Raises:
        OSError: a file could not be removed; those before it are gone.
    """
    root = found.root
    folders: set[Path] = set()
    for job in found.removed:
        for file in job.files:
            path = resolve_inside(root, file)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            folders.add(path.parent)
    for folder in sorted(folders, key=lambda path: len(path.parts), reverse=True):
        while folder != root and root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                break  # not empty (or not ours to remove): so are the folders above it
            folder = folder.parent
