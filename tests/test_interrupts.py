"""Before a run takes the signals over, SIGTERM and SIGHUP stop batch_gen as Ctrl-C does."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

WAITER = """
import signal, sys, time
from batch_gen.interrupts import interrupt_on_signals
if sys.argv[1] == "nohup":
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
interrupt_on_signals()
try:
    print("ready", flush=True)  # inside: a signal may come as soon as this is read
    time.sleep(30)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def _started(mode: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", WAITER, mode], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    return process


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_before_the_run_is_an_interrupt(sig: signal.Signals) -> None:
    """SIGTERM or SIGHUP raise KeyboardInterrupt, which the CLI reports as "interrupted"
    with exit 130, rather than ending the process by the signal."""
    with _started("plain") as process:
        process.send_signal(sig)
        assert process.wait(timeout=30) == 130
        assert process.stdout is not None
        assert process.stdout.read() == "interrupted\n"


def test_a_hangup_under_nohup_is_still_ignored() -> None:
    """A process started ignoring SIGHUP (nohup) keeps ignoring it."""
    with _started("nohup") as process:
        process.send_signal(signal.SIGHUP)
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1)
        process.kill()
