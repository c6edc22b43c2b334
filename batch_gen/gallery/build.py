"""``write_gallery``: collect the jobs, make or reuse their thumbnails, write the page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from batch_gen.files.atomic import write_atomic
from batch_gen.models import Manifest
from batch_gen.planning.status import manifest_as_last_run
from batch_gen.pricing.catalog import Catalog

from .collect import collect
from .render import render_page
from .thumbs import thumbnails

GALLERY_NAME = "gallery.html"

__all__ = ["GALLERY_NAME", "manifest_as_last_run", "write_gallery"]


def write_gallery(manifest: Manifest, output_dir: Path, *, catalog: Catalog | None = None) -> Path:
    """Write ``<output_dir>/gallery.html`` for every job of ``manifest`` and return its
    path.

    Read-only towards the run's files and state (safe while a run writes them): it reads
    the state of every shard, the metadata files and the kept versions, and writes only
    the page and the thumbnail cache under the state folder. ``catalog`` prices what each
    job delivered (the run's catalog, or :func:`batch_gen.planning.preflight.catalog_for`);
    without it the page says costs are not known. Blocking.

    Raises:
        OSError: the page cannot be written.
    """
    gallery = collect(manifest, output_dir, catalog=catalog)
    images = [image for job in gallery.jobs for image in job.images]
    images += [image for job in gallery.jobs if job.previous for image in job.previous.images]
    page = render_page(gallery, thumbnails(output_dir, images), built=datetime.now(UTC))
    path = output_dir / GALLERY_NAME
    write_atomic(path, page.encode("utf-8"))
    return path
