"""How a job's record changes, as pure functions of the record (table-tested).

The record is what the state store keeps of a job (:class:`~batch_gen.models.JobRecord`):
``pending`` → ``running`` → ``succeeded`` | ``failed``, with its attempts (the most tries
any one request needed: a job of three requests that each succeeded at once took one
attempt, not three), the images saved, the task ids paid for and the token totals. The
runner applies these and emits a ``Recorded`` event; the state store, listening, makes
each change durable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ProviderError
from ..models import ImageRecord, Job, JobRecord, JobStatus
from ..usage import add_usage, token_totals


def started(
    job: Job, base: JobRecord | None, *, kept: Iterable[ImageRecord], now: float
) -> JobRecord:
    """The running record of ``job``: it keeps the images of the same key still on disk
    (``kept``), and from ``base`` (the record of the same key, None for a fresh or forced
    start) its counts and the tasks an earlier run paid for, to be polled, not resubmitted.
    """
    # Requests an earlier run left in flight may have been billed: the one this run sends
    # again is a possibly billed retry.
    abandoned = base.in_flight if base else 0
    return JobRecord(
        id=job.id,
        key=job.key,
        status=JobStatus.RUNNING,
        attempts=base.attempts if base else 0,
        tries=base.tries if base else 0,
        images=tuple(sorted(kept, key=lambda image: image.number)),
        ambiguous_retries=(base.ambiguous_retries if base else 0) + abandoned,
        usage=base.usage if base else None,
        updated_at=now,
        tasks=base.tasks if base else None,
    )


def sending(record: JobRecord, *, now: float) -> JobRecord:
    """A paid request is about to go out: until its fate is known it is in flight."""
    return record.replace(in_flight=record.in_flight + 1, updated_at=now)


def attempt_failed(
    record: JobRecord, error: ProviderError, *, retrying: bool, now: float
) -> JobRecord:
    """One more try of the current request, which failed with ``error``; a retry after a
    possibly billed loss is counted as such."""
    tries = record.tries + 1
    return record.replace(
        attempts=max(record.attempts, tries),
        tries=tries,
        error=error.describe(),
        ambiguous_retries=record.ambiguous_retries + (1 if retrying and error.ambiguous else 0),
        in_flight=0,
        updated_at=now,
    )


def answered(record: JobRecord, usage: Mapping[str, Any] | None, *, now: float) -> JobRecord:
    """One more try of the current request, answered with images (the next request starts
    from its first try); its token totals added.

    The state keeps only token totals: nested usage details would double the size of every
    journal line, and the time to load a large state with them.
    """
    return record.replace(
        attempts=max(record.attempts, record.tries + 1),
        tries=0,
        usage=add_usage(record.usage, token_totals(usage)),
        in_flight=0,
        updated_at=now,
    )


def images_saved(record: JobRecord, images: Iterable[ImageRecord], *, now: float) -> JobRecord:
    """The images written to their temp files and about to be renamed into place."""
    return record.replace(images=(*record.images, *images), updated_at=now)


def task_recorded(record: JobRecord, step: str, task_id: str | None, *, now: float) -> JobRecord:
    """The task of ``step`` recorded, or forgotten with None (a retry submits anew)."""
    tasks = dict(record.tasks or {})
    if task_id is None:
        tasks.pop(step, None)
    else:
        tasks[step] = task_id
    return record.replace(tasks=tasks or None, updated_at=now)


def succeeded(record: JobRecord, *, now: float) -> JobRecord:
    """Every image saved: done."""
    return record.replace(status=JobStatus.SUCCEEDED, error=None, retryable=None, updated_at=now)


def failed(record: JobRecord, error: ProviderError, *, now: float) -> JobRecord:
    """Given up on ``error``; whether a later run may try again is the error's to say."""
    return record.replace(
        status=JobStatus.FAILED,
        error=error.describe(),
        retryable=error.retryable,
        updated_at=now,
    )
