"""Jobs whose files would land on one path: a manifest error, found before anything is sent.

Two jobs writing one file lose a paid image and both count as succeeded. Names are compared
as macOS and Windows disks compare them (ignoring case), and without their extension,
which only the returned bytes decide: ``a-1.png`` (image 1 of a job ``a`` with ``n: 2``)
and ``a-1.jpg`` (a job ``a-1``) may well end up one file. Each job's metadata file
(``<id>.json``) takes part too, so an image can never overwrite a sidecar.
"""

from __future__ import annotations

from collections.abc import Sequence

from batch_gen.files.naming import EXT_MARK, UnsuffixedNames
from batch_gen.models import DEFAULT_FILENAME, Job

from .problems import Report


def report_collisions(jobs: Sequence[Job], template: str, report: Report) -> None:
    """Report, at the later job's line, every file name that an earlier job (or the job's
    own metadata file) already takes, naming the earlier job and its line."""
    if template == DEFAULT_FILENAME and all(job.n == 1 for job in jobs):
        return  # each file is named by its job's id alone, and ids differ ignoring case
    taken: dict[str, Job] = {}  # folded name -> the job that writes it first
    names_of = UnsuffixedNames(template)
    for job in jobs:
        names = names_of(job)
        names.append(f"{job.id}.json")
        # A job's own images never share a name (see render_filename), so any name already
        # taken, even by the same job (an image named like its metadata), is a collision.
        for name in names:
            folded = name.casefold()
            first = taken.get(folded)
            if first is None:
                taken[folded] = job
            else:
                report.add(job.line, "id", _message(job, name, first, template))


def _message(job: Job, name: str, other: Job, template: str) -> str:
    mine = ("its metadata file " if name == f"{job.id}.json" else "") + _shown(name)
    theirs = UnsuffixedNames(template)(other)
    if name.casefold() in (item.casefold() for item in theirs):
        what = "the file"
        shown = next(_shown(item) for item in theirs if item.casefold() == name.casefold())
    else:
        what, shown = "the metadata file", f"{other.id}.json"
    if not mine.endswith(shown):
        what += f" {shown}"
    hint = "give one of them another id" if "{id}" in template else "put {id} in output.filename"
    return (
        f"job {job.id!r} would write {mine}, {what} of job {other.id!r} at line {other.line} "
        f"(names are compared ignoring case and extension): {hint}"
    )


def _shown(name: str) -> str:
    return name.replace(EXT_MARK, "{ext}")
