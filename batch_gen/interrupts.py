"""Which signals interrupt batch_gen, and what they do before a run takes them over.

A run routes them to its stopping (``runner/gate.py``: a grace period, then abandoning
the requests in flight); before that, while the manifest is read and the run planned,
they stop the process as Ctrl-C does. Kept apart from the runner so that a dry run, which
never imports aiohttp, can take them too.
"""

from __future__ import annotations

import signal


def interrupting_signals() -> list[signal.Signals]:
    """SIGINT, SIGTERM, and SIGHUP (a closed terminal, a dropped SSH session) unless the
    process was started ignoring it: ``nohup`` asks for a run that outlives its terminal."""
    found = [signal.SIGINT, signal.SIGTERM]
    hangup = getattr(signal, "SIGHUP", None)  # not on Windows
    if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:
        found.append(hangup)
    return found


def interrupt_on_signals() -> None:
    """Make SIGTERM and SIGHUP stop the process as Ctrl-C does (``KeyboardInterrupt``:
    "interrupted", exit 130) instead of ending it without a word: until a run takes them
    over, nothing has been sent, so nothing is lost. SIGHUP stays ignored under nohup."""
    for sig in interrupting_signals():
        if sig is not signal.SIGINT:  # Python raises KeyboardInterrupt for it already
            signal.signal(sig, _raise_interrupt)


def _raise_interrupt(signum: int, frame: object) -> None:
    del signum, frame
    raise KeyboardInterrupt
