"""``batch_gen gallery MANIFEST``: write the review page of a manifest's output folder
(``<output>/gallery.html``, see :mod:`batch_gen.gallery`), and what ``run --gallery``
calls at the end of a run. Reads the folder without taking its lock: a run may be
writing it meanwhile."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from batch_gen.cli.exits import EXIT_OK
from batch_gen.errors import ConfigurationError
from batch_gen.gallery import manifest_as_last_run, write_gallery
from batch_gen.models import Manifest
from batch_gen.planning.preflight import catalog_for
from batch_gen.pricing.catalog import Catalog
from batch_gen.state.runinfo import last_provider


def gallery_command(args: argparse.Namespace) -> int:
    """Write the page for the manifest's jobs as the folder's last run keyed them, priced
    from the catalog of the provider that run used; print its path (unless ``--quiet``)."""
    manifest, output_dir = manifest_as_last_run(args.manifest, args.output)
    provider = last_provider(output_dir)
    offline = provider == "simulator"
    # A custom base URL is its own provider identity: its catalog is that gateway's.
    base_url = provider if provider is not None and "://" in provider else None
    path = write_page(manifest, output_dir, catalog=catalog_or_none(offline, base_url))
    if not args.quiet:
        print(path)
    return EXIT_OK


def write_page(manifest: Manifest, output_dir: Path, *, catalog: Catalog | None) -> Path:
    """Write ``<output_dir>/gallery.html`` (the folder made if need be: a manifest never
    run still has a page, every job pending) and return its path.

    Raises:
        OSError: the page cannot be written.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    return write_gallery(manifest, output_dir, catalog=catalog)


def catalog_or_none(offline: bool, base_url: str | None) -> Catalog | None:
    """The model catalog (cached for a day), or None when it cannot be had: the page then
    says costs are not known."""
    try:
        return asyncio.run(catalog_for(offline=offline, base_url=base_url))
    except ConfigurationError:
        return None
