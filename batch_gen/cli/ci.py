"""What ``run`` writes for CI besides its summary: ``--junit``, and under GitHub Actions
the step summary and annotations; for a dry run, the plan as Markdown (``--plan-md``, and
the step summary). Without GitHub Actions, nothing is printed or appended for it.

These are written after the report. One that cannot be written is said in one line and
changes no exit status: the run's status is what it describes.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from batch_gen.ci.github import (
    SUMMARY_VARIABLE,
    Annotation,
    annotation_lines,
    append_summary,
    in_github_actions,
    repository_path,
    summary_room,
)
from batch_gen.cli.failures import os_error_message, silence_stdout
from batch_gen.files.destinations import write_output_file
from batch_gen.models import Manifest
from batch_gen.planning.dry_run import CostEstimate, Preview
from batch_gen.report import RunSummary, plural, report_document

# A --plan-md file stays within what one pull request comment takes (65,536 characters).
PLAN_FILE_LIMIT = 60_000
_REST = (
    "{count} more {kind} of batch_gen are not shown as annotations (GitHub shows 10 of each"
    " kind per step): the step summary and --junit list every job"
)


@dataclass(frozen=True, slots=True)
class CiOutputs:
    """Where a run's CI outputs go. ``manifest`` is the whole manifest, a shard's run's
    too: its path and its jobs' lines."""

    manifest: Manifest
    junit: Path | None = None
    plan_md: Path | None = None
    step_summary: Path | None = None  # $GITHUB_STEP_SUMMARY, under GitHub Actions
    annotate: bool = False  # under GitHub Actions
    environ: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        manifest: Manifest,
        *,
        junit: Path | None,
        plan_md: Path | None,
        environ: Mapping[str, str],
    ) -> CiOutputs:
        github = in_github_actions(environ)
        summary = environ.get(SUMMARY_VARIABLE) if github else None
        return cls(manifest, junit, plan_md, Path(summary) if summary else None, github, environ)

    @property
    def label(self) -> str:
        """The manifest as the repository names it (annotations point there)."""
        return repository_path(self.manifest.path, self.environ)

    def lines(self) -> dict[str, int | None]:
        return {job.id: job.line for job in self.manifest.jobs}

    def after_run(self, summary: RunSummary) -> None:
        """``--junit``, the step summary and the annotations of a finished run."""
        if not (self.junit or self.step_summary or self.annotate):
            return
        from batch_gen.ci.junit import junit_xml
        from batch_gen.ci.run_markdown import run_markdown

        document = report_document(summary)
        label, lines = self.label, self.lines()
        if self.junit is not None:
            xml = junit_xml(document, manifest=label, lines=lines)
            _write(self.junit, xml, what="the JUnit report (--junit)")
        if self.step_summary is not None:
            _append(
                self.step_summary,
                lambda room: run_markdown(
                    summary, document, manifest=label, lines=lines, limit=room
                ),
            )
        if self.annotate:
            _print_lines(
                annotation_lines(run_annotations(summary, document, label, lines), rest=_REST)
            )

    def after_dry_run(self, preview: Preview, estimate: CostEstimate | None, output: Path) -> None:
        """The plan as Markdown: to ``--plan-md`` and to the step summary."""
        if not (self.plan_md or self.step_summary):
            return
        from batch_gen.ci.plan_markdown import plan_markdown
        from batch_gen.planning.prune import plan_prune

        prune = plan_prune(self.manifest, output, records=preview.records)
        label, lines = self.label, self.lines()

        def render(limit: int) -> str:
            return plan_markdown(
                preview, estimate=estimate, prune=prune, manifest=label, lines=lines, limit=limit
            )

        if self.plan_md is not None:
            _write(self.plan_md, render(PLAN_FILE_LIMIT), what="the plan (--plan-md)")
        if self.step_summary is not None:
            _append(self.step_summary, render)


def run_annotations(
    summary: RunSummary,
    document: Mapping[str, object],
    manifest: str,
    lines: Mapping[str, int | None],
) -> list[Annotation]:
    """An error for an aborted run and for each failed job (at its line), a warning for
    a ``--max-cost`` stop and for each job with requests possibly billed. Pure."""
    found = []
    if summary.aborted:
        found.append(Annotation("error", summary.aborted, "batch_gen: run aborted", manifest))
    jobs = document["jobs"]
    assert isinstance(jobs, list)
    for job in jobs:
        if job["status"] == "failed":
            title = f"batch_gen: job {job['id']} failed"
            reason = job["error"] or "no reason recorded"
            found.append(Annotation("error", reason, title, manifest, lines.get(job["id"])))
    if summary.budget_stop:
        found.append(Annotation("warning", summary.budget_stop, "batch_gen: --max-cost", manifest))
    for job_id, count in summary.possibly_billed.items():
        if count:
            message = (
                f"{plural(count, 'request')} of {job_id} sent and then lost: possibly billed"
                " without an image"
            )
            title = f"batch_gen: {job_id} possibly billed"
            found.append(Annotation("warning", message, title, manifest, lines.get(job_id)))
    return found


def _write(path: Path, text: str, *, what: str) -> None:
    try:
        write_output_file(path, text)
    except OSError as error:
        _say(f"{what} was not written: {os_error_message(error)}")


def _append(path: Path, render: Callable[[int], str]) -> None:
    """Append to the step summary what fits in the room it has left."""
    text = render(summary_room(path))
    if not text:
        _say(f"the step summary {path} is full (GitHub takes 1 MiB a step): nothing added")
        return
    try:
        append_summary(path, text)
    except OSError as error:
        _say(f"the step summary was not written: {os_error_message(error)}")


def _print_lines(lines: list[str]) -> None:
    """Workflow commands go to stdout, where the runner reads them."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
    except OSError:
        pass  # the terminal went away (a hangup): the files are written


def _say(message: str) -> None:
    with contextlib.suppress(OSError):
        print(f"batch_gen: {message}", file=sys.stderr)
