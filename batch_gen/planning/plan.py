"""What a run will do with each job, decided from the manifest and the recorded state.

Pure: the file system is consulted only through the ``files_present`` callback (and the
jobs another provider made are given), so the resume rules are a table test (see
``tests/planning/test_plan.py``).
"""

from __future__ import annotations

import difflib
import operator
import os
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from batch_gen.errors import UsageError
from batch_gen.models import Job, JobRecord, JobStatus

_REMADE_NAMES = ("FORCED", "REJECTED")  # see REMADE


class Reason(Enum):
    """Why a job runs or is skipped; ``value`` is the (action, text) shown to users."""

    NEW = ("run", "new")
    PENDING = ("run", "pending")
    INTERRUPTED = ("run", "interrupted while running")
    RETRYABLE = ("run", "failed with a retryable error")
    CHANGED = ("run", "prompt or fields changed")
    OTHER_PROVIDER = ("run", "made by another provider")
    FILES_MISSING = ("run", "files missing or damaged")
    FORCED = ("run", "--force")
    REJECTED = ("run", "rejected in review")
    RETRY_FAILED = ("run", "--retry-failed")
    DONE = ("skip", "already done")
    FAILED = ("skip", "failed permanently (use --retry-failed)")
    NOT_SELECTED = ("skip", "not selected by --only")

    # Plain attributes, not properties: read for every job of a 100,000-job plan, often
    # (and a member's hash is Python code: an attribute beats a set lookup).
    runs: bool
    text: str
    remade: bool  # one of REMADE

    def __init__(self, action: str, text: str) -> None:
        self.runs = action == "run"
        self.text = text
        self.remade = self._name_ in _REMADE_NAMES


#: The reasons that make a job anew, keeping none of its images: a forced job, and one a
#: person rejected in review (named in ``_REMADE_NAMES``).
REMADE = frozenset(reason for reason in Reason if reason.remade)


class PlannedJob(NamedTuple):  # one per job, 100,000 for a large manifest: a fast tuple
    job: Job
    reason: Reason
    record: JobRecord | None  # the recorded state, only if it belongs to the same key

    @property
    def runs(self) -> bool:
        return self.reason.runs


def replaces_version(item: PlannedJob, previous: JobRecord | None) -> bool:
    """Whether running ``item`` makes anew the images an earlier version of the job left
    (its key changed, or it is forced or rejected): the run keeps those first (see
    :mod:`batch_gen.gallery.versions`). ``previous`` is the job's record before the run.
    Not over a record left running: the run that started it kept what was there before."""
    if previous is None or previous.status is JobStatus.RUNNING:
        return False
    return item.reason in REMADE or previous.key != item.job.key


@dataclass(frozen=True, slots=True)
class Plan:
    items: tuple[PlannedJob, ...]
    # Counted once: the run's opening line, the dry run's report and its JSON all ask.
    _counts: Counter[Reason] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_counts", Counter(map(_reason_of, self.items)))

    @property
    def to_run(self) -> list[PlannedJob]:
        return [item for item in self.items if item.reason.runs]  # no property call per job

    @property
    def skipped(self) -> list[PlannedJob]:
        return [item for item in self.items if not item.reason.runs]

    def counts(self) -> Counter[Reason]:
        """How many jobs each reason has, in the order the reasons first occur (a copy)."""
        return self._counts.copy()

    def describe(self, output_dir: Path) -> str:
        """One line for the start of a run: the absolute output folder, and how many of the
        manifest's jobs it already holds."""
        counts = self.counts()
        running = sum(count for reason, count in counts.items() if reason.runs)
        line = (
            f"output {os.path.abspath(output_dir)}: {counts[Reason.DONE]} of "
            f"{len(self.items)} jobs already done; {running} to run"
        )
        others = len(self.items) - running - counts[Reason.DONE]
        return line + (f"; {others} skipped" if others else "")


_reason_of = operator.attrgetter("reason")


def check_only(only: Collection[str], jobs: Sequence[Job]) -> None:
    """Raise UsageError naming every ``--only`` id the manifest lacks, with suggestions."""
    known = [job.id for job in jobs]
    known_set = set(known)
    unknown = [job_id for job_id in only if job_id not in known_set]
    if not unknown:
        return
    parts = []
    for job_id in unknown:
        close = difflib.get_close_matches(job_id, known, n=1)
        parts.append(f"{job_id!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise UsageError(f"--only names jobs not in the manifest: {', '.join(parts)}")


def decide(
    job: Job,
    record: JobRecord | None,
    *,
    files_present: Callable[[JobRecord], bool],
    force: bool = False,
    retry_failed: bool = False,
    made_elsewhere: bool = False,
    rejected: bool = False,
) -> Reason:
    """The resume rule for one job: ``rejected`` (its images rejected in review, see
    :mod:`.rejections`) and ``force`` run it, made anew; a job never recorded, or recorded
    under another key (``made_elsewhere``: by another provider), runs; a succeeded job is
    skipped while its files are present; an interrupted or pending one runs; a failed one
    runs when its error was retryable or with ``retry_failed``, else it is skipped."""
    if rejected:
        return Reason.REJECTED
    if force:
        return Reason.FORCED
    if record is None:
        return Reason.NEW
    if record.key != job.key:
        return Reason.OTHER_PROVIDER if made_elsewhere else Reason.CHANGED
    if record.status is JobStatus.SUCCEEDED:
        return Reason.DONE if files_present(record) else Reason.FILES_MISSING
    if record.status is JobStatus.RUNNING:
        return Reason.INTERRUPTED
    if record.status is JobStatus.FAILED:
        if record.retryable:
            return Reason.RETRYABLE
        return Reason.RETRY_FAILED if retry_failed else Reason.FAILED
    return Reason.PENDING


def make_plan(
    jobs: Sequence[Job],
    records: Mapping[str, JobRecord],
    *,
    files_present: Callable[[JobRecord], bool],
    only: Collection[str] | None = None,
    force: bool = False,
    retry_failed: bool = False,
    made_elsewhere: Callable[[Job, JobRecord], bool] | None = None,
    rejected: Collection[str] = frozenset(),
) -> Plan:
    """Decide every job; ``only`` (ids) restricts the run to those jobs; ``made_elsewhere``
    tells whether another provider made the images a job has recorded under another key
    (asked only of such jobs, as the plan meets them: no pass of its own over 100,000),
    ``rejected`` names the jobs to make again because a person rejected their images."""
    if only:
        check_only(only, jobs)
    selected = set(only) if only else None
    items: list[PlannedJob] = []
    append, get = items.append, records.get  # bound once: the loop runs once per job
    for job in jobs:
        job_id = job.id
        record = get(job_id)
        same_key = record if record is not None and record.key == job.key else None
        if selected is not None and job_id not in selected:
            reason = Reason.NOT_SELECTED
        else:
            elsewhere = False
            if made_elsewhere is not None and record is not None and same_key is None:
                elsewhere = made_elsewhere(job, record)
            reason = decide(
                job,
                record,
                files_present=files_present,
                force=force,
                retry_failed=retry_failed,
                made_elsewhere=elsewhere,
                rejected=job_id in rejected,
            )
        append(PlannedJob(job, reason, same_key))
    return Plan(tuple(items))
