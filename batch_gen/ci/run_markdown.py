"""A run's outcome as the Markdown of a GitHub Actions step summary: the counts (made now,
already done, failed, not run), the cost and what may have been billed, and the failed
jobs in a collapsed block, within the room the step summary has left.

Pure: given the run's summary and report document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_gen.ci.markdown import Document, cell, code, details, row, table
from batch_gen.planning.plan import Reason
from batch_gen.report import RunSummary, plural

# What each exit status of a run means, in the summary's words.
_OUTCOMES = {
    0: "every job is done",
    1: "some jobs failed or were left undone",
    3: "the run was aborted",
    130: "the run was interrupted; the state is saved",
}


def run_markdown(
    summary: RunSummary,
    document: Mapping[str, Any],
    *,
    manifest: str,
    lines: Mapping[str, int | None],
    limit: int,
) -> str:
    """The step summary of a run of ``manifest`` (as the repository names it), within
    ``limit`` bytes; ``lines`` gives each job's line in the manifest. Empty when not even
    the counts fit."""
    failed = [job for job in document["jobs"] if job["status"] == "failed"]
    out = Document(limit)
    status = summary.exit_status()
    shard = f" (shard {summary.shard})" if summary.shard else ""
    if not out.add(
        f"### batch_gen: <code>{cell(manifest)}</code>{shard}",
        "",
        f"Exit status {status}: {_OUTCOMES.get(status, 'see the log')}.",
        "",
        *table(
            ["made now", "already done", "failed", "not run", "possibly billed", "cost"],
            "rrrrrr",
        ),
        row(
            [
                str(len(summary.succeeded)),
                str(summary.already_done),
                str(len(failed)),
                str(summary.not_run),
                _possibly_billed(summary),
                f"${summary.cost_usd:.4f}",
            ]
        ),
        "",
        *_facts(summary),
        "",
    ):
        return ""
    if failed:
        details(
            out,
            plural(len(failed), "failed job"),
            table(["job", "line", "attempts", "why"], "lrrl"),
            (
                row(
                    [
                        code(job["id"]),
                        str(lines.get(job["id"]) or ""),
                        str(job["attempts"]),
                        cell(job["error"] or "no reason recorded"),
                    ]
                )
                for job in failed
            ),
            total=len(failed),
            more="... and {count} more failed jobs not shown here (a step summary holds 1 MiB):"
            " the JUnit report (--junit) and --report list them all.",
        )
    return out.text()


def _possibly_billed(summary: RunSummary) -> str:
    """``2 requests, up to $0.0800`` (or ``price unknown``); ``0`` when none."""
    lost = sum(summary.possibly_billed.values())
    if not lost:
        return "0"
    usd = summary.possibly_billed_usd
    price = "price unknown" if usd is None else f"up to ${usd:.4f}"
    return f"{plural(lost, 'request')}, {price}"


def _facts(summary: RunSummary) -> list[str]:
    """One line each: requests and images, skip reasons, and why the run stopped."""
    facts = [
        f"{plural(summary.total, 'job')}, {plural(summary.requests, 'request')}"
        f" ({plural(summary.retries, 'retry', 'retries')}),"
        f" {plural(summary.images, 'image')} saved ({summary.bytes / 1e6:.1f} MB)"
        f" in <code>{cell(summary.output_dir)}</code>."
    ]
    skipped = {
        reason.text: count
        for reason, count in summary.skipped.items()
        if count and reason not in (Reason.DONE, Reason.FAILED)
    }
    if skipped:
        facts.append(
            "Skipped: " + ", ".join(f"{count} {cell(why)}" for why, count in skipped.items()) + "."
        )
    lost = [job for job, count in summary.possibly_billed.items() if count]
    if lost:
        shown = ", ".join(code(job) for job in sorted(lost)[:10])
        more = f" and {len(lost) - 10} more" if len(lost) > 10 else ""
        facts.append(f"Answers lost after sending (possibly billed): {shown}{more}.")
    for why in (summary.aborted, summary.budget_stop):
        if why:
            facts.append(cell(why))
    return [f"- {fact}" for fact in facts]
