"""The review gallery: one HTML page of a manifest's jobs, their images and earlier
versions, where a person marks images rejected and exports the choice.

- :func:`~batch_gen.gallery.build.write_gallery` writes ``<output>/gallery.html``;
- :func:`~batch_gen.gallery.versions.keep_version` keeps a job's images and metadata file
  before a run replaces them;
- :func:`~batch_gen.planning.rejections.read_rejections` reads the file the page exports,
  and :func:`~batch_gen.planning.rejections.to_remake` says which jobs it makes again.

The page, the kept versions' layout and the rejection file are described in
``docs/gallery.md``.
"""

from __future__ import annotations

from batch_gen.gallery.build import GALLERY_NAME, manifest_as_last_run, write_gallery
from batch_gen.gallery.versions import keep_version
from batch_gen.planning.rejections import Remake, read_rejections, to_remake

__all__ = [
    "GALLERY_NAME",
    "Remake",
    "keep_version",
    "manifest_as_last_run",
    "read_rejections",
    "to_remake",
    "write_gallery",
]
