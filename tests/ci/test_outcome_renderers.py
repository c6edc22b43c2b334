"""A run for CI: the step summary's Markdown (always under GitHub's 1 MiB, however many
jobs) and the JUnit XML (valid, one test case per job), from one report document."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from batch_gen.ci.github import SUMMARY_LIMIT
from batch_gen.ci.junit import junit_xml, xml_text
from batch_gen.ci.markdown import Document, cell, code, details, row
from batch_gen.ci.run_markdown import run_markdown
from batch_gen.models import JobRecord, JobStatus
from batch_gen.planning.plan import Reason
from batch_gen.report import RunSummary, report_document

NASTY = 'refused: <b>"bold"</b> & | pipes | \x01\x1f ]]> \ud800 *stars* `ticks` %0A\nnext line'


def summary_of(failed: int, *, done: int = 0, made: int = 0, not_run: int = 0) -> RunSummary:
    """A run of ``failed + done + made + not_run`` jobs ``j0..``, in that order."""
    total = failed + done + made + not_run
    ids = [f"j{n}" for n in range(total)]
    summary = RunSummary(total=total, output_dir="out", wall_seconds=2.5)
    summary.job_keys = {job_id: f"key-{job_id}" for job_id in ids}
    summary.started_at = "2026-05-01T10:00:00+00:00"
    for job_id in ids[:failed]:
        summary.failed[job_id] = NASTY
        summary.records[job_id] = JobRecord(
            id=job_id, key=f"key-{job_id}", status=JobStatus.FAILED, error=NASTY, attempts=2
        )
    for job_id in ids[failed : failed + done]:
        summary.records[job_id] = JobRecord(
            id=job_id, key=f"key-{job_id}", status=JobStatus.SUCCEEDED
        )
    summary.skipped = Counter({Reason.DONE: done})
    for job_id in ids[failed + done : failed + done + made]:
        summary.succeeded.append(job_id)
        summary.records[job_id] = JobRecord(
            id=job_id, key=f"key-{job_id}", status=JobStatus.SUCCEEDED
        )
    return summary


def test_cells_cannot_break_a_table_or_inject_markup() -> None:
    assert cell("a|b\nc") == "a&#124;b c"
    assert cell("<script>") == "&lt;script&gt;"
    assert cell("*x* _y_") == "\\*x\\* \\_y\\_"
    assert code("a|<b>") == "<code>a&#124;&lt;b&gt;</code>"


def test_a_document_never_grows_past_its_limit() -> None:
    document = Document(2000)
    rows = (row([str(n), "x" * 50]) for n in range(1000))
    details(document, "many", ["| a | b |", "| - | - |"], rows, total=1000, more="{count} more")
    text = document.text()
    assert len(text.encode()) <= 2000
    assert text.rstrip().endswith("</details>")
    assert "more" in text
    assert document.cut


def test_the_step_summary_counts_and_lists_the_failures() -> None:
    summary = summary_of(2, done=3, made=4, not_run=1)
    summary.possibly_billed = Counter({"j5": 2})
    summary.possibly_billed_usd = 0.08
    summary.cost_usd = 0.42
    text = run_markdown(
        summary,
        report_document(summary),
        manifest="jobs/a.yaml",
        lines={"j0": 7},
        limit=SUMMARY_LIMIT,
    )
    assert "Exit status 1" in text
    assert "| 4 | 3 | 2 | 1 | 2 requests, up to $0.0800 | $0.4200 |" in text
    assert "<summary>2 failed jobs</summary>" in text
    assert "| <code>j0</code> | 7 | 2 |" in text
    assert "<b>" not in text
    assert "\x01" not in text
    assert "<code>j5</code>" in text  # named as possibly billed


@pytest.mark.parametrize("room", [SUMMARY_LIMIT - 1, 300_000, 5_000])
def test_a_hundred_thousand_failures_stay_under_the_room_left(room: int) -> None:
    summary = summary_of(100_000)
    text = run_markdown(summary, report_document(summary), manifest="m.yaml", lines={}, limit=room)
    size = len(text.encode("utf-8"))
    assert 0 < size <= room < SUMMARY_LIMIT
    assert "more failed jobs not shown here" in text
    assert text.count("<details>") == text.count("</details>") == 1


def test_no_room_at_all_writes_nothing() -> None:
    summary = summary_of(3)
    assert run_markdown(summary, report_document(summary), manifest="m", lines={}, limit=200) == ""


def test_junit_has_one_testcase_per_job_and_parses() -> None:
    summary = summary_of(2, done=1, made=1, not_run=1)
    summary.shard = "2/4"
    xml = junit_xml(report_document(summary), manifest="jobs/a.yaml", lines={"j0": 12})
    root = ET.fromstring(xml.encode("utf-8"))
    assert root.tag == "testsuites"
    (suite,) = root
    assert suite.get("name") == "jobs/a.yaml (shard 2/4)"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "2", "1")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == ["j0", "j1", "j2", "j3", "j4"]
    assert {case.get("classname") for case in cases} == {"jobs/a.yaml"}
    assert cases[0].get("line") == "12"
    assert cases[1].get("line") is None
    failure = cases[0].find("failure")
    assert failure is not None
    assert failure.get("message") == xml_text(NASTY)  # the provider's reason, as it was
    assert failure.get("type") == "permanent"
    assert cases[2].find("failure") is None
    assert cases[2].find("skipped") is None
    skipped = cases[4].find("skipped")
    assert skipped is not None
    assert "not run" in (skipped.get("message") or "")


def test_characters_xml_cannot_carry_are_replaced() -> None:
    assert xml_text("a\x00b\x0bc\ud800d\tok\n") == "a\ufffdb\ufffdc\ufffdd\tok\n"
    assert xml_text("emoji 🎨 é") == "emoji 🎨 é"
