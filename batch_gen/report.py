"""What a run did, for people (the summary, the plan) and for programs (``--report``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .models import JobRecord
from .planning.plan import Plan, Reason
from .pricing.catalog import Catalog
from .usage import Tokens


@dataclass(slots=True)
class RunSummary:
    """The outcome of one run. Mutable while the run goes; read once it ends."""

    total: int = 0
    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # id -> reason
    skipped: Counter[Reason] = field(default_factory=Counter)
    requests: int = 0
    retries: int = 0
    ambiguous_retries: int = 0
    ambiguous_jobs: set[str] = field(default_factory=set)
    images: int = 0
    bytes: int = 0
    tokens: Tokens = field(default_factory=Tokens)
    wall_seconds: float = 0.0
    interrupted: bool = False
    aborted: str | None = None  # the message of the error that stopped the run
    stopped_early: bool = False  # --fail-fast
    records: dict[str, JobRecord] = field(default_factory=dict)  # final record per job
    cost_usd: float = 0.0  # what the delivered images cost, where the catalog could price them
    unpriced_jobs: int = 0  # jobs that delivered images the catalog could not price
    # Requests sent that may have been charged but delivered no image, per job: lost
    # answers, tasks that ended without an image, requests abandoned in flight.
    possibly_billed: Counter[str] = field(default_factory=Counter)
    possibly_billed_usd: float | None = None  # those at catalog prices; None: not priced
    job_keys: dict[str, str] = field(default_factory=dict)  # every job of the manifest
    manifest: str = ""
    provider: str = ""
    started_at: str = ""
    budget_stop: str | None = None  # why --max-cost stopped dispatching
    notes: list[str] = field(default_factory=list)
    output_dir: str = ""
    shard: str | None = None  # ``3/4`` for a run of --shard 3/4: its counts are the shard's
    catalog: Catalog | None = None  # the model catalog the run loaded (its preflight), if any

    @property
    def already_done(self) -> int:
        return self.skipped[Reason.DONE]

    @property
    def not_run(self) -> int:
        """Jobs planned to run that never finished (interrupt, abort, fail-fast)."""
        planned = self.total - sum(self.skipped.values())
        return max(planned - len(self.succeeded) - len(self.failed), 0)

    def exit_status(self) -> int:
        """0 all done, 1 a job failed, 3 aborted by configuration/auth, 130 interrupted."""
        if self.aborted is not None:
            return 3
        if self.interrupted:
            return 130
        if self.failed or self.not_run or self.skipped[Reason.FAILED]:
            return 1
        return 0


def format_summary(summary: RunSummary) -> str:
    """The summary printed at the end of every run: a single line when the run had nothing
    to do, else the counts, then what needs attention. Counts agree in number with their
    words, and no bracket holds another."""
    if _nothing_ran(summary):
        return _nothing_to_do(summary)
    lines = [
        f"batch_gen: {_of_shard(summary)}{len(summary.succeeded)} succeeded,"
        f" {len(summary.failed)} failed, "
        f"{sum(summary.skipped.values())} skipped, of {plural(summary.total, 'job')} "
        f"in {summary.wall_seconds:.1f}s",
        _images_line(summary),
        f"  requests: {summary.requests}, retries: {summary.retries}",
    ]
    tokens = summary.tokens
    if tokens.total or tokens.input or tokens.output:
        lines.append(f"  tokens: {tokens.input} in, {tokens.output} out, {tokens.total} total")
    cost = cost_line(summary)
    if cost:
        lines.append(cost)
    if summary.skipped:
        lines.append(f"  skipped: {_skip_reasons(summary)}")
    if summary.failed:
        lines.append("  failed:")
        for job_id, why in list(summary.failed.items())[:20]:
            lines.append(f"    {job_id}: {why}")
        if len(summary.failed) > 20:
            lines.append(f"    ... and {len(summary.failed) - 20} more (see --report)")
    if summary.not_run:
        lines.append(f"  not run: {summary.not_run} (run the same command again to finish)")
    if summary.interrupted:
        lines.append("  interrupted: state saved; run the same command again to resume")
    if summary.aborted:
        lines.append(f"  aborted: {summary.aborted}")
    if summary.budget_stop:
        lines.append(f"  {summary.budget_stop}")
    lines.extend(f"  note: {note}" for note in summary.notes)
    if summary.stopped_early:
        lines.append("  stopped after the first failure (--fail-fast)")
    return "\n".join(lines)


def _of_shard(summary: RunSummary) -> str:
    """``shard 3/4: `` before the counts of a shard's run, whose jobs they count."""
    return f"shard {summary.shard}: " if summary.shard else ""


def _nothing_ran(summary: RunSummary) -> bool:
    """The plan had no job to run: every job was skipped, and the run did not stop."""
    return (
        sum(summary.skipped.values()) == summary.total
        and not (summary.succeeded or summary.failed or summary.requests)
        and not (summary.aborted or summary.interrupted or summary.budget_stop)
    )


def _nothing_to_do(summary: RunSummary) -> str:
    """The summary of a run that had nothing to do, e.g. ``nothing to do: all 12 jobs
    already done in output/catalog``; the reasons when not every job is done."""
    where = summary.output_dir
    total, done = summary.total, summary.already_done
    whose = f" of shard {summary.shard}" if summary.shard else ""
    if total == 0:
        line = "batch_gen: nothing to do: the manifest has no jobs"
        line += f" in shard {summary.shard}" if summary.shard else ""
    elif done == total:
        jobs = f"the job{whose} is" if total == 1 else f"all {total} jobs{whose}"
        line = f"batch_gen: nothing to do: {jobs} already done in {where}"
    else:
        line = f"batch_gen: nothing to do in {where}: of {plural(total, 'job')}{whose}, "
        line += _skip_reasons(summary)
    return "\n".join([line, *(f"  note: {note}" for note in summary.notes)])


def _images_line(summary: RunSummary) -> str:
    if not summary.images:
        return "  images saved: none"
    rate = summary.images / summary.wall_seconds if summary.wall_seconds > 0 else 0.0
    return (
        f"  images saved: {summary.images} ({summary.bytes / 1e6:.1f} MB,"
        f" {rate:.2f} images/s) in {summary.output_dir}"
    )


def _skip_reasons(summary: RunSummary) -> str:
    """``5 already done, 2 failed permanently (use --retry-failed)``, in the plan's order."""
    return ", ".join(
        f"{summary.skipped[reason]} {reason.text}" for reason in Reason if summary.skipped[reason]
    )


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 request``, ``2 requests`` (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def named(ids: Iterable[str], *, most: int = 10) -> str:
    """Up to ``most`` job ids, then how many more."""
    listed = sorted(ids)
    shown = ", ".join(listed[:most])
    return shown + (f" and {len(listed) - most} more" if len(listed) > most else "")


def cost_line(summary: RunSummary) -> str | None:
    """One line: what the delivered images cost, and how much more may have been billed
    for how many lost answers, naming the jobs. None when there is nothing to say."""
    lost = sum(summary.possibly_billed.values())
    if not (summary.cost_usd or summary.unpriced_jobs or lost):
        return None
    line = f"  cost: ${summary.cost_usd:.4f} for the images delivered, at catalog prices"
    if summary.unpriced_jobs:
        line += f" ({plural(summary.unpriced_jobs, 'job')} not priced)"
    if lost:
        answers = plural(lost, "lost answer")
        jobs = named(job for job, count in summary.possibly_billed.items() if count)
        if summary.possibly_billed_usd is None:
            line += f"; {answers} may also have been billed, price unknown ({jobs})"
        else:
            more = f"${summary.possibly_billed_usd:.4f}"
            line += f"; up to {more} more may have been billed for {answers} ({jobs})"
    return line


def _job_entry(summary: RunSummary, job_id: str, key: str) -> dict[str, Any]:
    """One job of the report: its record if it has one, else ``not_run``."""
    record = summary.records.get(job_id)
    if record is None:
        return {
            "id": job_id,
            "key": key,
            "status": "not_run",
            "attempts": 0,
            "ambiguous_retries": 0,
            "possibly_billed": summary.possibly_billed.get(job_id, 0),
            "files": [],
            "error": None,
            "retryable": None,
            "usage": None,
        }
    return {
        "id": job_id,
        "key": record.key,
        "status": record.status.value,
        "attempts": record.attempts,
        "ambiguous_retries": record.ambiguous_retries,
        "possibly_billed": summary.possibly_billed.get(job_id, 0),
        "files": list(record.files),
        "error": record.error,
        "retryable": record.retryable,
        "usage": dict(record.usage) if record.usage else None,
    }


def report_document(summary: RunSummary) -> dict[str, Any]:
    """The ``--report FILE.json`` document: every job of the manifest (of a shard's run:
    of the shard, which ``shard`` names), not-run ones too."""
    keys = dict(summary.job_keys)
    for job_id, record in summary.records.items():
        keys.setdefault(job_id, record.key)
    jobs = [_job_entry(summary, job_id, key) for job_id, key in keys.items()]
    usd = summary.possibly_billed_usd
    return {
        "manifest": summary.manifest,
        "provider": summary.provider,
        "started_at": summary.started_at,
        "shard": summary.shard,
        "total": summary.total,
        "succeeded": len(summary.succeeded),
        "failed": len(summary.failed),
        "skipped": {reason.name.lower(): count for reason, count in summary.skipped.items()},
        "not_run": summary.not_run,
        "requests": summary.requests,
        "retries": summary.retries,
        "ambiguous_retries": summary.ambiguous_retries,
        "ambiguous_jobs": sorted(summary.ambiguous_jobs),
        "images": summary.images,
        "bytes": summary.bytes,
        "tokens": {
            "input": summary.tokens.input,
            "output": summary.tokens.output,
            "total": summary.tokens.total,
        },
        "cost_usd": round(summary.cost_usd, 6),
        "unpriced_jobs": summary.unpriced_jobs,
        "possibly_billed": sum(summary.possibly_billed.values()),
        "possibly_billed_usd": None if usd is None else round(usd, 6),
        "budget_stop": summary.budget_stop,
        "wall_seconds": round(summary.wall_seconds, 3),
        "interrupted": summary.interrupted,
        "aborted": summary.aborted,
        "exit_status": summary.exit_status(),
        "output_dir": summary.output_dir,
        "jobs": jobs,
    }


def format_plan(plan: Plan, *, requests: int, output_dir: str) -> str:
    """The ``--dry-run`` report: what would run and why, what would be skipped and why."""
    counts = plan.counts()
    running = sum(count for reason, count in counts.items() if reason.runs)
    lines = [
        f"dry run: {plural(len(plan.items), 'job')}; {running} would run"
        f" ({plural(requests, 'request')}), "
        f"{len(plan.items) - running} skipped; output in {output_dir}"
    ]
    for reason in Reason:
        if counts[reason]:
            verb = "run" if reason.runs else "skip"
            lines.append(f"  {verb:4} {counts[reason]:6}  {reason.text}")
    shown = [item for item in plan.items if item.runs][:50]
    if shown:
        lines.append("jobs that would run:")
        for item in shown:
            job = item.job
            lines.append(f"  {job.id}  [{item.reason.text}]  {job.model} n={job.n} via {job.api}")
        if running > len(shown):
            lines.append(f"  ... and {running - len(shown)} more")
    return "\n".join(lines)
