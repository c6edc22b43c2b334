"""The listeners that keep the run's books from its events (see :mod:`.events`): the
summary, the progress display and the state store. Each count has one keeper.
"""

from __future__ import annotations

from ..progress import Progress
from ..report import RunSummary
from ..state.journal import StateStore
from .events import (
    Abandoned,
    Answered,
    Event,
    Finished,
    Lost,
    Recorded,
    Resumed,
    Retrying,
    Sent,
    Skipped,
    Staged,
)


class SummaryBook:
    """Keeps :class:`~batch_gen.report.RunSummary`'s counts: requests, retries, tokens,
    images, requests possibly billed (per job), and each job's outcome."""

    wants = frozenset({Sent, Answered, Lost, Abandoned, Staged, Retrying, Finished, Skipped})

    def __init__(self, summary: RunSummary) -> None:
        self.summary = summary

    def __call__(self, event: Event) -> None:
        summary = self.summary
        if isinstance(event, Sent):
            summary.requests += 1
        elif isinstance(event, Answered):
            summary.tokens.add(event.usage)
        elif isinstance(event, Lost | Abandoned):
            summary.possibly_billed[event.job.id] += 1
        elif isinstance(event, Staged):
            summary.images += len(event.images)
            summary.bytes += sum(image.bytes for image in event.images)
        elif isinstance(event, Retrying) and event.what == "request":
            summary.retries += 1
            if event.error.ambiguous:
                summary.ambiguous_retries += 1
                summary.ambiguous_jobs.add(event.job.id)
        elif isinstance(event, Finished):
            if event.error is None:
                summary.succeeded.append(event.job.id)
            else:
                summary.failed[event.job.id] = event.error.describe()
            summary.records[event.job.id] = event.record
        elif isinstance(event, Skipped):
            summary.skipped[event.item.reason] += 1
            if event.record is not None:
                summary.records[event.item.job.id] = event.record


class ProgressBook:
    """Moves the progress display: jobs finished, and retries waiting."""

    wants = frozenset({Finished, Retrying, Resumed})

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def __call__(self, event: Event) -> None:
        if isinstance(event, Finished):
            self.progress.finished(ok=event.error is None)
        elif isinstance(event, Retrying):
            self.progress.retrying(+1)
        elif isinstance(event, Resumed):
            self.progress.retrying(-1)


class StateBook:
    """Makes every change of a job's record durable in the state store (one journal line
    each, constant cost)."""

    wants = frozenset({Recorded})

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def __call__(self, event: Event) -> None:
        if isinstance(event, Recorded):
            self.store.put(event.record)
