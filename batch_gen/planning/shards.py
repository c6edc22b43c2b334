"""A shard's part of a manifest: what a run of ``--shard K/N`` plans, runs and reports.

Which jobs a shard holds is decided by :mod:`batch_gen.shards` (by id alone); this is the
manifest a shard's run is given.
"""

from __future__ import annotations

import dataclasses

from batch_gen.models import Manifest
from batch_gen.shards import Shard


def shard_manifest(manifest: Manifest, shard: Shard) -> Manifest:
    """``manifest`` with only ``shard``'s jobs, in their order, each keeping its index
    (for ``{index}``) and line. Its ``sha256`` is empty: these jobs are not the manifest
    file's whole contents, so nothing keyed by the file's digest (the index of its job
    keys, see :mod:`batch_gen.state.jobindex`) is written from them. Pure."""
    jobs = tuple(job for job in manifest.jobs if shard.holds(job.id))
    return dataclasses.replace(manifest, jobs=jobs, sha256="")
