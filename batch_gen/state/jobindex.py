"""A cache of a manifest's job ids and keys, kept in the output folder's state.

Validating a 100,000-job manifest takes about a second; ``status`` wants to answer in less.
Each run records the ids and keys of the exact manifest it ran (identified by the sha256 of
its bytes), and ``status`` reuses them while the manifest file is byte-for-byte the same,
for the same provider and the same batch_gen version. Any difference means a miss, and the
manifest is read and validated as usual: the cache can make status faster, never different.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from batch_gen import __version__
from batch_gen.keys import KEY_FORMAT_VERSION
from batch_gen.models import Job
from batch_gen.state.layout import INDEX_NAME, STATE_DIR_NAME, replace_with


def _identity(manifest_sha256: str, provider: str) -> dict[str, object]:
    return {
        "version": __version__,
        "key_format": KEY_FORMAT_VERSION,
        "manifest_sha256": manifest_sha256,
        "provider": provider,
    }


def write_job_index(
    output_dir: Path, *, manifest_sha256: str, provider: str, jobs: Sequence[Job]
) -> None:
    """Record ``[id, key]`` of every job, atomically (temp file, then rename).

    Not for a manifest with input files: their contents are part of the keys and may
    change while the manifest stays the same, so such a manifest is always re-read (and
    any index left by an earlier version of it is removed). Nor for jobs that are not a
    manifest file's whole contents (one shard's: ``manifest_sha256`` is empty): nothing is
    written, and the index of the whole file stays.
    """
    if not manifest_sha256:
        return
    path = output_dir / STATE_DIR_NAME / INDEX_NAME
    if any(job.inputs for job in jobs):
        path.unlink(missing_ok=True)
        return
    document = {
        **_identity(manifest_sha256, provider),
        "jobs": [[job.id, job.key] for job in jobs],
    }
    replace_with(path, msgspec.json.encode(document))


def read_job_index(
    output_dir: Path, *, manifest_sha256: str, provider: str
) -> list[tuple[str, str]] | None:
    """The recorded ``(id, key)`` pairs if they belong to this exact manifest, else None
    (also when the file is missing, unreadable or not of the form written here)."""
    try:
        index = _DECODER.decode((output_dir / STATE_DIR_NAME / INDEX_NAME).read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    expected = _identity(manifest_sha256, provider)
    if {name: getattr(index, name) for name in expected} != expected:
        return None
    return index.jobs


class _Index(msgspec.Struct):
    """The index as read: decoded straight into ``(id, key)`` tuples (a million pairs in
    half the time of lists converted afterwards)."""

    version: str
    key_format: int
    manifest_sha256: str
    provider: str
    jobs: list[tuple[str, str]]


_DECODER = msgspec.json.Decoder(_Index)
