"""The shape of ``make demo``: it installs only the package (no test tools), keeps pip's
output in a log unless the install fails, and then runs the offline demo.

A stand-in ``python`` in a temporary venv plays pip and the run, so the Makefile's own
behaviour is tested without installing anything."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")

# Prints as much noise as pip does behind a local index, records its arguments, and exits
# with $FAKE_PIP_STATUS; anything else is "the run".
FAKE_PYTHON = """#!/bin/sh
if [ "$2" = "pip" ]; then
    i=0
    while [ $i -lt 100 ]; do
        echo "WARNING: Location 'file:///simple/p$i/' is ignored: it is neither a file..."
        i=$((i + 1))
    done
    echo "$@" >> "$(dirname "$0")/pip-calls"
    exit "${FAKE_PIP_STATUS:-0}"
fi
echo "ran: $@"
"""


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return tmp_path / "venv"


def make_demo(venv: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # As if outside any make (`make test` runs this): no "Entering directory" lines, and
    # the Makefile's defaults rather than the caller's MANIFEST.
    skip = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MANIFEST")
    clean = {key: value for key, value in os.environ.items() if key not in skip}
    return subprocess.run(
        ["make", "--no-print-directory", "demo", f"VENV={venv}"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_first_demo_installs_the_package_alone_and_quietly(venv: Path) -> None:
    result = make_demo(venv)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"installing batch_gen into {venv} (first time only)...",
        f"{venv}/bin/python -m batch_gen run jobs/catalog.yaml --offline",
        "ran: -m batch_gen run jobs/catalog.yaml --offline",
    ]
    assert result.stderr == ""
    calls = (venv / "bin" / "pip-calls").read_text().splitlines()
    assert calls == ["-m pip install --quiet --disable-pip-version-check -e ."]
    assert "is ignored" in (venv / "pip-install.log").read_text()  # kept, not shown


def test_a_second_demo_only_runs(venv: Path) -> None:
    assert make_demo(venv).returncode == 0
    result = make_demo(venv)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{venv}/bin/python -m batch_gen run jobs/catalog.yaml --offline",
        "ran: -m batch_gen run jobs/catalog.yaml --offline",
    ]
    assert len((venv / "bin" / "pip-calls").read_text().splitlines()) == 1


def test_a_failed_install_shows_the_end_of_the_log_and_stops(venv: Path) -> None:
    result = make_demo(venv, FAKE_PIP_STATUS="1")
    assert result.returncode != 0
    assert "ran:" not in result.stdout
    assert "p99/" in result.stderr  # the log's last line
    assert "p0/" not in result.stderr  # only its tail
    assert f"installing batch_gen failed; the whole log is {venv}/pip-install.log" in result.stderr
    assert not (venv / ".runtime-installed").exists()  # the next demo tries again
