"""Read a manifest (YAML or CSV) into validated jobs, reporting every problem at once.

:func:`load_manifest` reads the file once; everything after that is pure. A bad manifest
raises :class:`~batch_gen.errors.ManifestError` listing every problem in file order, each
with its file, 1-based line and field, so a user fixes them all in one pass. Nothing else
escapes for bad input: YAML syntax errors, unreadable bytes and odd YAML tags all become
problems.

Modules, from the file inward: :mod:`.load` (the file, the reader by suffix),
:mod:`.yaml_reader` / :mod:`.yaml_nodes` and :mod:`.csv_reader` (each format to one
:mod:`.document` shape), :mod:`.fields` and :mod:`.names` (value checks), :mod:`.jobs`
(defaults, ids, routes, keys), :mod:`.inputs` (input images and masks), :mod:`.problems`.
"""

from __future__ import annotations

from .jobs import DEFAULT_MODEL, DEFAULT_PROVIDER, key_for, with_provider
from .load import default_output_dir, load_manifest

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PROVIDER",
    "default_output_dir",
    "key_for",
    "load_manifest",
    "with_provider",
]
