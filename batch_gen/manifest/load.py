"""The manifest file itself: read it once, pick the reader by suffix, build the jobs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from batch_gen.errors import ManifestError
from batch_gen.gcpause import gc_paused
from batch_gen.models import Manifest, OutputSpec

from .collisions import report_collisions
from .csv_reader import read_csv
from .jobs import DEFAULT_PROVIDER, build_jobs
from .problems import Report


def load_manifest(path: Path, *, provider: str = DEFAULT_PROVIDER) -> Manifest:
    """Read and validate the manifest at ``path``: YAML (.yaml/.yml) or CSV (.csv).

    Returns the jobs in manifest order, each with its request merged from the defaults
    (job fields win; ``model`` defaults to :data:`DEFAULT_MODEL`, ``n`` to 1) and its key
    for ``provider``. The output folder is :func:`output_dir`. Jobs whose files would land
    on one path are problems too (:mod:`.collisions`).

    Raises :class:`ManifestError` listing every problem (file, 1-based line, field), in
    file order, when the file is missing, unreadable, of another type, or invalid.
    """
    report = Report(str(path))
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        report.add(
            None, None, f"unsupported manifest type {suffix or '(none)'!r}: use .yaml, .yml or .csv"
        )
        raise ManifestError(report.problems)
    data = _read_bytes(path, report)
    text = None if data is None else _decode(data, report)
    if data is None or text is None:
        raise ManifestError(report.problems)
    sha256 = hashlib.sha256(data).hexdigest()
    del data  # the text holds it now: a million-row CSV need not be in memory twice

    with gc_paused():  # 100,000 jobs are millions of long-lived objects without cycles
        if suffix == ".csv":
            document = read_csv(text, report)
        else:
            from .yaml_reader import read_yaml  # PyYAML costs a CSV manifest ~10 ms to import

            document = read_yaml(text, report)
        jobs = build_jobs(
            document.jobs,
            document.defaults,
            provider=provider,
            base_dir=path.parent,
            report=report,
        )
        if not report.problems:
            report_collisions(jobs, document.filename, report)
    if report.problems:
        raise ManifestError(report.in_file_order())
    return Manifest(
        path=path,
        jobs=tuple(jobs),
        output=OutputSpec(dir=output_dir(path, document.output_dir), filename=document.filename),
        run=document.run,
        sha256=sha256,
    )


def output_dir(path: Path, written: str | None) -> Path:
    """The output folder of the manifest at ``path``: ``written`` (its ``output.dir``) is
    relative to the manifest's own folder, ``~`` expanded, so the same manifest finds the
    same output wherever it is run from; without it, ``output/<stem>`` under the working
    directory."""
    if not written:
        return Path("output", path.stem)
    return Path(os.path.normpath(path.parent / Path(written).expanduser()))


def default_output_dir(path: Path) -> Path | None:
    """The output folder of the manifest at ``path`` if it can be known without reading it:
    a CSV manifest has no ``output`` section, so it is always ``output/<stem>``."""
    return Path("output", path.stem) if path.suffix.lower() == ".csv" else None


def _read_bytes(path: Path, report: Report) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        report.add(None, None, f"cannot read the manifest: {exc.strerror or exc}")
        return None


def _decode(data: bytes, report: Report) -> str | None:
    try:
        return data.decode("utf-8-sig")  # -sig: spreadsheets often start a CSV with a BOM
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        report.add(line, None, f"not valid UTF-8 (byte {data[exc.start]:#04x}); save as UTF-8")
        return None
