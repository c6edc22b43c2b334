"""How the benchmark measures: child processes timed from outside, and the simulator run as a
child process of its own.

Every runner (batch_gen's CLI, the baseline, the peers) is a separate process measured the
same way with :func:`os.wait4`: wall clock around it, ``ru_utime + ru_stime`` for CPU and
``ru_maxrss`` for peak RSS, process start-up included. The simulator runs in yet another
process, so its CPU is never charged to a runner.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from workload import MODEL, Prompt

# Variables of the user's shell that would change what batch_gen does; children get only
# what the benchmark sets. PYTHONDONTWRITEBYTECODE too: an installed package has its
# bytecode compiled, and a child that compiled every module at each start would time that.
_SCRUBBED = (
    "COMETAPI_KEY",
    "COMETAPI_BASE_URL",
    "BATCH_GEN_RETRY_SCALE",
    "BATCH_GEN_OFFLINE_LATENCY",
    "PYTHONDONTWRITEBYTECODE",
)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One child process, measured from outside."""

    argv: tuple[str, ...]
    exit_code: int
    wall_seconds: float
    cpu_seconds: float
    """User plus system CPU time of the child (not of the simulator it talks to)."""
    peak_rss_kb: int
    """``ru_maxrss`` (kilobytes on Linux)."""
    log: Path
    timed_out: bool = False

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_kb / 1024

    def log_tail(self, lines: int = 15) -> str:
        """The end of the child's stderr/stdout log, for failure messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def child_env(**overrides: str) -> dict[str, str]:
    """This process's environment without batch_gen's variables, plus *overrides*."""
    env = {name: value for name, value in os.environ.items() if name not in _SCRUBBED}
    env.update(overrides)
    return env


def measure(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log: Path,
    stdout: Path | None = None,
    timeout: float = 240.0,
) -> Measurement:
    """Run *argv* to completion and measure it with ``os.wait4``.

    stderr goes to *log*; stdout too unless *stdout* names its own file. A child still
    running after *timeout* seconds is killed (and the measurement says so), so a hung
    runner cannot hold the whole benchmark.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as files:
        err = files.enter_context(log.open("wb"))
        out = files.enter_context(stdout.open("wb")) if stdout is not None else err
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), env=dict(env), stdout=out, stderr=err)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            process.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - started
    exit_code = os.waitstatus_to_exitcode(status)
    process.returncode = exit_code  # reaped here; keep Popen from waiting again
    return Measurement(
        argv=tuple(argv),
        exit_code=exit_code,
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_kb=usage.ru_maxrss,
        log=log,
        timed_out=killed.is_set(),
    )


@dataclass(frozen=True, slots=True)
class ServedRun:
    """A client process measured against the simulator, and what the simulator saw."""

    measurement: Measurement
    stats: dict[str, Any]
    """``/_sim/stats`` right after the run."""
    server_cpu_seconds: float
    """CPU the simulator used while the client ran."""

    @property
    def requests(self) -> int:
        return int(self.stats.get("total_requests", 0))


class SimulatorProcess:
    """``python -m batch_gen simulator`` on a free loopback port, for a ``with`` block.

    *options* are extra simulator flags (``--latency``, ``--image-mode``...). The URL is
    read from the line the simulator prints once it listens.
    """

    def __init__(self, *options: str, key: str, log: Path) -> None:
        self.options = options
        self.key = key
        self._log = log
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> Self:
        argv = [sys.executable, "-m", "batch_gen", "simulator", "--host", "127.0.0.1"]
        # Unlabelled pictures: a few cached encodings serve every prompt, so the server's
        # CPU stays small and :meth:`warm` can render everything before the clock starts.
        argv += ["--port", "0", "--key", self.key, "--no-image-labels", *self.options]
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with self._log.open("w") as err:
            self._process = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=err, text=True, env=child_env()
            )
        assert self._process.stdout is not None
        for line in self._process.stdout:
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                return self
        self._stop()
        raise RuntimeError(f"the simulator did not start: {self._log.read_text()[-2000:]}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGINT)  # its CLI exits cleanly on Ctrl-C
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def cpu_seconds(self) -> float:
        """User plus system CPU the simulator has used so far (Linux ``/proc``; 0.0 where
        that is not available). The difference across a run shows whether the server, which
        shares the machine's cores with the client, was the bottleneck."""
        if self._process is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        # utime and stime, fields 14 and 15 of proc(5): indexes 11 and 12 after the name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def measure(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Path,
        stdout: Path | None = None,
    ) -> ServedRun:
        """Measure a client run against this simulator (see :func:`measure`), with the
        server's CPU over the same span and its stats, which are then reset."""
        before = self.cpu_seconds()
        measurement = measure(argv, env=env, log=log, stdout=stdout)
        server_cpu = self.cpu_seconds() - before
        stats = self.stats()
        self.reset()
        return ServedRun(measurement=measurement, stats=stats, server_cpu_seconds=server_cpu)

    def stats(self) -> dict[str, Any]:
        """``GET /_sim/stats``: counters since the last reset."""
        with urllib.request.urlopen(f"{self.url}/_sim/stats", timeout=30) as response:
            stats: dict[str, Any] = json.load(response)
        return stats

    def reset(self) -> None:
        """``POST /_sim/reset``: zero the counters and the rpm window (the image cache stays)."""
        request = urllib.request.Request(f"{self.url}/_sim/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def warm(self, prompts: Iterable[Prompt], *, size: str) -> int:
        """Render every image the workload will be served before anything is timed.

        The simulator maps each prompt to one of a few cached picture variants; one request
        per variant (chosen with the simulator's own mapping) fills the cache. Returns the
        number of requests sent; the stats are reset afterwards.
        """
        from batch_gen.simulator.config import SimulatorConfig
        from batch_gen.simulator.images import variant_for

        variants = SimulatorConfig().image_variants
        firsts: dict[int, Prompt] = {}
        for prompt in prompts:
            firsts.setdefault(variant_for(prompt.prompt, variants), prompt)
        for prompt in firsts.values():
            self._generate(prompt.prompt, size)
        self.reset()
        return len(firsts)

    def _generate(self, prompt: str, size: str) -> None:
        body = json.dumps({"model": MODEL, "prompt": prompt, "size": size}).encode()
        request = urllib.request.Request(
            f"{self.url}/v1/images/generations",
            data=body,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()


def rejected(stats: Mapping[str, Any]) -> int:
    """429 answers in *stats*: those of the rpm window plus any injected ones."""
    by_status: Mapping[str, int] = stats.get("by_status", {})
    return max(int(stats.get("rate_limited", 0)), int(by_status.get("429", 0)))
