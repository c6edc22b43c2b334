"""The files a run writes into its output folder: images and their metadata sidecars.

:mod:`~batch_gen.files.naming` turns a file-name template into a safe relative path,
:mod:`~batch_gen.files.formats` reads an image's format and size from its bytes,
:mod:`~batch_gen.files.atomic` writes images so that a crash never leaves a partial file
under a final name, and :mod:`~batch_gen.files.sidecar` writes each job's metadata file.
"""

from __future__ import annotations

from batch_gen.files.naming import UnsafePathError

__all__ = ["UnsafePathError"]
