"""What a run did, for people (the summary, the plan) and for programs (``--report``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .models import JobRecord
from .planning.plan import Plan, Reason
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
    cost_usd: float = 0.0  # what this run's jobs cost, where the catalog could price them
    unpriced_jobs: int = 0
    budget_stop: str | None = None  # why --max-cost stopped dispatching
    notes: list[str] = field(default_factory=list)
    output_dir: str = ""

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
    """The summary printed at the end of every run."""
    rate = summary.images / summary.wall_seconds if summary.wall_seconds > 0 else 0.0
    lines = [
        f"batch_gen: {len(summary.succeeded)} succeeded, {len(summary.failed)} failed, "
        f"{sum(summary.skipped.values())} skipped, of {summary.total} jobs "
        f"in {summary.wall_seconds:.1f}s",
        f"  images saved: {summary.images} ({summary.bytes / 1e6:.1f} MB, {rate:.2f} images/s)"
        f" in {summary.output_dir}",
        f"  requests: {summary.requests}, retries: {summary.retries}, "
        f"ambiguous retries: {summary.ambiguous_retries}"
        + (
            f" (may have been billed twice: {', '.join(sorted(summary.ambiguous_jobs)[:10])})"
            if summary.ambiguous_retries
            else ""
        ),
        f"  tokens: {summary.tokens.input} in, {summary.tokens.output} out, "
        f"{summary.tokens.total} total",
    ]
    if summary.cost_usd or summary.unpriced_jobs:
        unpriced = f" ({summary.unpriced_jobs} jobs not priced)" if summary.unpriced_jobs else ""
        lines.append(f"  cost: ${summary.cost_usd:.4f} at catalog prices{unpriced}")
    for reason, count in sorted(summary.skipped.items(), key=lambda kv: kv[0].text):
        lines.append(f"  skipped ({reason.text}): {count}")
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
    for note in summary.notes:
        lines.append(f"  note: {note}")
    if summary.stopped_early:
        lines.append("  stopped after the first failure (--fail-fast)")
    return "\n".join(lines)


def report_document(summary: RunSummary) -> dict[str, Any]:
    """The ``--report FILE.json`` document."""
    jobs = []
    for job_id, record in summary.records.items():
        jobs.append(
            {
                "id": job_id,
                "key": record.key,
                "status": record.status.value,
                "attempts": record.attempts,
                "ambiguous_retries": record.ambiguous_retries,
                "files": list(record.files),
                "error": record.error,
                "retryable": record.retryable,
                "usage": dict(record.usage) if record.usage else None,
            }
        )
    return {
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
        f"dry run: {len(plan.items)} jobs; {running} would run ({requests} requests), "
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
