"""The resume rules of the spec, as a table over (recorded state, options) -> decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_gen.errors import UsageError
from batch_gen.models import ImageRecord, Job, JobRecord, JobStatus
from batch_gen.planning.plan import (
    REMADE,
    Plan,
    PlannedJob,
    Reason,
    decide,
    make_plan,
    replaces_version,
)

JOB = Job(id="a", index=1, prompt="p", request={"model": "m", "n": 1}, api="x", key="k1")
IMAGE = ImageRecord(number=1, file="a.png", sha256="0" * 64, bytes=1, format="png")


def _record(status: JobStatus, *, key: str = "k1", retryable: bool | None = None) -> JobRecord:
    return JobRecord(id="a", key=key, status=status, images=(IMAGE,), retryable=retryable)


@pytest.mark.parametrize(
    ("record", "files", "options", "expected"),
    [
        (None, True, {}, Reason.NEW),
        (_record(JobStatus.SUCCEEDED), True, {}, Reason.DONE),
        (_record(JobStatus.SUCCEEDED), False, {}, Reason.FILES_MISSING),
        (_record(JobStatus.SUCCEEDED, key="old"), True, {}, Reason.CHANGED),
        (
            _record(JobStatus.SUCCEEDED, key="old"),
            True,
            {"made_elsewhere": True},
            Reason.OTHER_PROVIDER,
        ),
        (_record(JobStatus.SUCCEEDED), True, {"made_elsewhere": True}, Reason.DONE),
        (_record(JobStatus.FAILED, key="old"), True, {}, Reason.CHANGED),
        (_record(JobStatus.PENDING), True, {}, Reason.PENDING),
        (_record(JobStatus.RUNNING), True, {}, Reason.INTERRUPTED),
        (_record(JobStatus.FAILED, retryable=True), True, {}, Reason.RETRYABLE),
        (_record(JobStatus.FAILED, retryable=False), True, {}, Reason.FAILED),
        (
            _record(JobStatus.FAILED, retryable=False),
            True,
            {"retry_failed": True},
            Reason.RETRY_FAILED,
        ),
        (_record(JobStatus.SUCCEEDED), True, {"force": True}, Reason.FORCED),
        (_record(JobStatus.FAILED, retryable=False), True, {"force": True}, Reason.FORCED),
        (_record(JobStatus.SUCCEEDED), True, {"rejected": True}, Reason.REJECTED),
        (_record(JobStatus.SUCCEEDED), True, {"rejected": True, "force": True}, Reason.REJECTED),
    ],
)
def test_resume_rules(
    record: JobRecord | None, files: bool, options: dict[str, bool], expected: Reason
) -> None:
    """Each recorded state leads to the decision the resume rules give it."""
    assert decide(JOB, record, files_present=lambda _: files, **options) is expected


def test_only_restricts_and_unknown_ids_are_named() -> None:
    """--only runs just the named jobs; an unknown id is a usage error with a suggestion."""
    other = Job(id="bee", index=2, prompt="q", request={}, api="x", key="k2")
    plan = make_plan([JOB, other], {}, files_present=lambda _: True, only={"bee"})
    assert [(item.job.id, item.reason) for item in plan.items] == [
        ("a", Reason.NOT_SELECTED),
        ("bee", Reason.NEW),
    ]
    with pytest.raises(UsageError, match=r"'be'.*did you mean 'bee'"):
        make_plan([JOB, other], {}, files_present=lambda _: True, only={"be"})


def test_record_with_another_key_is_not_carried_over() -> None:
    """Images saved for an earlier version of a job are never reused for the new one."""
    plan = make_plan(
        [JOB], {"a": _record(JobStatus.RUNNING, key="old")}, files_present=lambda _: True
    )
    assert plan.items[0].record is None
    assert plan.items[0].reason is Reason.CHANGED


def test_the_start_line_states_the_absolute_folder_and_what_it_holds() -> None:
    """One line: the absolute output folder, the jobs already done, those to run, and any
    skipped for another reason."""
    jobs = [
        Job(id=f"j{n}", index=n, prompt="p", request={}, api="x", key=f"k{n}") for n in range(4)
    ]
    records = {
        "j0": JobRecord(id="j0", key="k0", status=JobStatus.SUCCEEDED, images=(IMAGE,)),
        "j1": JobRecord(id="j1", key="k1", status=JobStatus.FAILED, retryable=False),
    }
    plan = make_plan(jobs, records, files_present=lambda _: True)
    line = plan.describe(Path("out"))
    assert line == f"output {Path.cwd() / 'out'}: 1 of 4 jobs already done; 2 to run; 1 skipped"


@pytest.mark.parametrize(
    ("reason", "previous", "expected"),
    [
        (Reason.NEW, None, False),
        (Reason.CHANGED, _record(JobStatus.SUCCEEDED, key="old"), True),
        (Reason.CHANGED, _record(JobStatus.FAILED, key="old"), True),
        (Reason.FORCED, _record(JobStatus.SUCCEEDED), True),
        (Reason.REJECTED, _record(JobStatus.SUCCEEDED), True),
        (Reason.FILES_MISSING, _record(JobStatus.SUCCEEDED), False),
        (Reason.RETRYABLE, _record(JobStatus.FAILED, retryable=True), False),
        # Left running: the run that started it kept what was there before.
        (Reason.INTERRUPTED, _record(JobStatus.RUNNING, key="old"), False),
        (Reason.FORCED, _record(JobStatus.RUNNING), False),
    ],
)
def test_which_runs_replace_an_earlier_version(
    reason: Reason, previous: JobRecord | None, expected: bool
) -> None:
    assert replaces_version(PlannedJob(JOB, reason, None), previous) is expected


def test_rejected_jobs_run_made_anew_and_the_others_as_usual() -> None:
    other = Job(id="bee", index=2, prompt="q", request={}, api="x", key="k2")
    records = {"a": _record(JobStatus.SUCCEEDED), "bee": _record(JobStatus.SUCCEEDED, key="k2")}
    plan = make_plan([JOB, other], records, files_present=lambda _: True, rejected={"a"})
    assert [item.reason for item in plan.items] == [Reason.REJECTED, Reason.DONE]


def test_remade_reasons_and_counts_in_first_seen_order() -> None:
    """``reason.remade`` is membership of REMADE (forced, rejected); a plan's counts are
    by reason in the order the reasons first occur, and a copy each time."""
    assert {reason for reason in Reason if reason.remade} == REMADE
    assert {Reason.FORCED, Reason.REJECTED} == REMADE
    reasons = [Reason.DONE, Reason.NEW, Reason.DONE, Reason.FAILED, Reason.NEW, Reason.DONE]
    plan = Plan(tuple(PlannedJob(JOB, reason, None) for reason in reasons))
    counts = plan.counts()
    assert list(counts.items()) == [(Reason.DONE, 3), (Reason.NEW, 2), (Reason.FAILED, 1)]
    counts[Reason.DONE] = 0
    assert plan.counts()[Reason.DONE] == 3
    assert [item.reason for item in plan.to_run] == [Reason.NEW, Reason.NEW]
    assert len(plan.skipped) == 4


def test_made_elsewhere_is_asked_only_of_jobs_recorded_under_another_key() -> None:
    """The plan asks whether another provider made a job's images only when the state has
    the job under another key; its answer tells "made by another provider" from an edit."""
    jobs = [
        Job(id=name, index=n, prompt="p", request={"model": "m"}, api="x", key="k1")
        for n, name in enumerate(["same", "other", "edited", "new", "forced"], start=1)
    ]
    records = {
        "same": JobRecord(id="same", key="k1", status=JobStatus.SUCCEEDED, images=(IMAGE,)),
        "other": JobRecord(id="other", key="k0", status=JobStatus.SUCCEEDED, images=(IMAGE,)),
        "edited": JobRecord(id="edited", key="k0", status=JobStatus.FAILED),
        "forced": JobRecord(id="forced", key="k0", status=JobStatus.SUCCEEDED),
    }
    asked: list[str] = []

    def elsewhere(job: Job, record: JobRecord) -> bool:
        asked.append(job.id)
        assert record is records[job.id]
        return job.id == "other"

    plan = make_plan(
        jobs,
        records,
        files_present=lambda record: True,
        made_elsewhere=elsewhere,
        rejected={"forced"},
    )
    assert [item.reason for item in plan.items] == [
        Reason.DONE,
        Reason.OTHER_PROVIDER,
        Reason.CHANGED,
        Reason.NEW,
        Reason.REJECTED,
    ]
    assert {"edited", "other"} <= set(asked) <= {"edited", "other", "forced"}
