"""A run as a JUnit XML report: one test case per job, for the test reports of GitLab,
Jenkins and GitHub (e.g. ``dorny/test-reporter``, ``mikepenz/action-junit-report``).

A job that succeeded (now or before) passes; one that failed is a ``<failure>`` whose
message is the provider's reason; one that did not run (interrupted, ``--max-cost``,
``--fail-fast``, ``--only``) is ``<skipped>``. Each test case's ``classname`` is the
manifest and its ``name`` the job id, with ``file`` and ``line`` for reporters that
annotate them.

Pure. Text is escaped by the XML writer; characters XML 1.0 cannot carry at all (control
characters, lone surrogates) are replaced by U+FFFD first, so the document always parses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

# Everything XML 1.0 allows: tab, newline, carriage return and the ranges below.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_NOT_RUN = {
    "not_run": "not run: the run stopped first (interrupted, aborted, --max-cost or"
    " --fail-fast); run the same command again to finish",
    "pending": "not run in this run",
    "running": "not finished: interrupted while running",
}


def xml_text(text: object) -> str:
    """``text`` with every character XML 1.0 cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(text))


def junit_xml(
    document: Mapping[str, Any],
    *,
    manifest: str,
    lines: Mapping[str, int | None],
) -> str:
    """The JUnit XML of a run whose report document (see
    :func:`batch_gen.report.report_document`) is ``document``; ``manifest`` as the
    repository names it, ``lines`` each job's line in it."""
    jobs = document["jobs"]
    failures = sum(1 for job in jobs if job["status"] == "failed")
    skipped = sum(1 for job in jobs if job["status"] not in ("succeeded", "failed"))
    counts = {
        "tests": str(len(jobs)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{document.get('wall_seconds', 0.0):.3f}",
    }
    shard = document.get("shard")
    name = f"{manifest} (shard {shard})" if shard else manifest
    root = ET.Element("testsuites", {"name": "batch_gen", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": xml_text(name), **counts})
    started = str(document.get("started_at") or "")
    if started:
        suite.set("timestamp", started.removesuffix("+00:00"))
    for job in jobs:
        _testcase(suite, job, manifest=manifest, line=lines.get(job["id"]))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _testcase(
    suite: ET.Element, job: Mapping[str, Any], *, manifest: str, line: int | None
) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        {"classname": xml_text(manifest), "name": xml_text(job["id"]), "time": "0"},
    )
    case.set("file", xml_text(manifest))
    if line is not None:
        case.set("line", str(line))
    status = job["status"]
    if status == "failed":
        reason = xml_text(job["error"] or "failed; no reason recorded")
        kind = "retryable" if job.get("retryable") else "permanent"
        failure = ET.SubElement(case, "failure", {"message": reason, "type": kind})
        failure.text = xml_text(
            f"{reason}\nattempts: {job['attempts']}; possibly billed requests:"
            f" {job['possibly_billed']}; key: {job['key']}"
        )
    elif status != "succeeded":
        ET.SubElement(case, "skipped", {"message": _NOT_RUN.get(status, f"not run: {status}")})
