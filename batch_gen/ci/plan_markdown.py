"""A dry run's plan as Markdown, for a pull request: what merging would generate (new,
changed and redone jobs), what it would leave behind (jobs removed from the manifest),
how many requests and what they would cost. Made without a key, and sending nothing.

Pure: given the dry run's preview, its cost estimate and what ``prune`` would remove.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from batch_gen.ci.markdown import Document, cell, code, details, row, table
from batch_gen.planning.dry_run import CostEstimate, Preview, count_requests
from batch_gen.planning.plan import PlannedJob, Reason
from batch_gen.planning.prune import Prune
from batch_gen.report import plural

_NEW = (Reason.NEW,)
_CHANGED = (Reason.CHANGED, Reason.OTHER_PROVIDER)
_MORE = (
    "... and {count} more not shown here (a step summary holds 1 MiB):"
    " --dry-run --json lists them all."
)


def plan_markdown(
    preview: Preview,
    *,
    estimate: CostEstimate | None,
    prune: Prune,
    manifest: str,
    lines: Mapping[str, int | None],
    limit: int,
) -> str:
    """The plan of a run of ``manifest`` (as the repository names it) in at most ``limit``
    bytes; ``lines`` gives each job's line in the manifest. Empty when not even the counts
    fit."""
    items = preview.plan.items
    requests = {job.id: count for job, count, _ in preview.work}
    new = [item for item in items if item.reason in _NEW]
    changed = [item for item in items if item.reason in _CHANGED]
    redo = [item for item in items if item.runs and item.reason not in (*_NEW, *_CHANGED)]
    counts = preview.plan.counts()
    running = len(new) + len(changed) + len(redo)
    total = count_requests(preview)
    out = Document(limit)
    if not out.add(
        f"### batch_gen plan: <code>{cell(manifest)}</code>",
        "",
        _headline(running, total, estimate, len(items)),
        "",
        *table(
            ["new", "changed", "to redo", "already done", "removed", "requests", "cost"],
            "rrrrrrr",
        ),
        row(
            [
                str(len(new)),
                str(len(changed)),
                str(len(redo)),
                str(counts[Reason.DONE]),
                str(len(prune.removed)),
                str(total),
                _cost(estimate),
            ]
        ),
        "",
        *_notes(preview, counts, prune),
    ):
        return ""
    head = table(["job", "line", "model", "images", "requests", "why"], "lrlrrl")
    for group, word in ((new, "new job"), (changed, "changed job"), (redo, "job to redo")):
        if group:
            rows = (_job_row(item, lines, requests) for item in group)
            details(out, plural(len(group), word), head, rows, total=len(group), more=_MORE)
    if prune.removed:
        rows = (row([code(job.job_id), cell(", ".join(job.files))]) for job in prune.removed)
        summary = plural(len(prune.removed), "job") + " removed from the manifest"
        details(
            out, summary, table(["job", "files"], "ll"), rows, total=len(prune.removed), more=_MORE
        )
    return out.text()


def _headline(running: int, requests: int, estimate: CostEstimate | None, jobs: int) -> str:
    if not running:
        return f"Merging would generate nothing: of {plural(jobs, 'job')}, none would run."
    return (
        f"Merging would run **{plural(running, 'job')}** ({plural(requests, 'request')}),"
        f" estimated **{_cost(estimate)}**. This plan sent nothing."
    )


def _cost(estimate: CostEstimate | None) -> str:
    """``$0.2100``, ``at least $0.2100`` (some jobs unpriced), ``unknown`` or ``-``."""
    if estimate is None:
        return "-"
    if estimate.total_usd is None:
        return "unknown"
    at_least = any(value.usd is None for _, value in estimate.per_model.values())
    return ("at least " if at_least else "") + f"${estimate.total_usd:.4f}"


def _notes(preview: Preview, counts: Mapping[Reason, int], prune: Prune) -> list[str]:
    notes = []
    if counts[Reason.FAILED]:
        notes.append(
            f"{plural(counts[Reason.FAILED], 'job')} failed for good before and would be"
            " skipped (run with --retry-failed to try again)."
        )
    if counts[Reason.NOT_SELECTED]:
        notes.append(f"{counts[Reason.NOT_SELECTED]} not selected by --only.")
    if prune.removed:
        notes.append(
            f"The files of {plural(len(prune.removed), 'removed job')}"
            f" ({prune.files} files) stay until <code>batch_gen prune --delete</code>."
        )
    if preview.refusal is not None:
        notes.append(f"**{cell(preview.refusal)}**")
    return [*(f"- {note}" for note in notes), *([""] if notes else [])]


def _job_row(item: PlannedJob, lines: Mapping[str, int | None], requests: Mapping[str, int]) -> str:
    job = item.job
    cells: Sequence[str] = (
        code(job.id),
        str(lines.get(job.id) or ""),
        cell(job.model),
        str(job.n),
        str(requests.get(job.id, 0)),
        cell(item.reason.text),
    )
    return row(cells)
