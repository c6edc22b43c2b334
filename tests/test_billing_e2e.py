"""The money promise, end to end: every charge the server makes is a delivered image or a
possibly billed request named in the report.

The real CLI runs as a subprocess against the simulator on 127.0.0.1; the simulator is
the independent witness: it counts, per prompt, every charge it makes, including answers
it then loses and requests whose client went away while the work was under way.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import SimFactory, cli_env, run_cli, start_cli, wait_until

from batch_gen.simulator import Simulator

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
DALL_E_3_PRICE = 0.04  # USD per request in the simulator's catalog


@dataclass(frozen=True)
class Job:
    """One manifest job: its id, prompt and request fields, and its fault script."""

    id: str
    prompt: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    script: tuple[str, ...] = ()
    """The simulator's faults for this prompt's requests, in order (not in the manifest)."""


def write_jobs(folder: Path, jobs: Sequence[Job], *, model: str = "gpt-image-2") -> Path:
    """A YAML manifest of *jobs* writing into ``folder/out``."""
    lines = [
        "version: 1",
        "defaults:",
        f"  model: {model}",
        "  size: 256x256",
        "output:",
        "  dir: out",
        "jobs:",
    ]
    for job in jobs:
        lines.append(f"  - id: {job.id}")
        lines.append(f"    prompt: {json.dumps(job.prompt)}")
        lines.extend(f"    {name}: {json.dumps(value)}" for name, value in job.fields.items())
    path = folder / "jobs.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def delivered(folder: Path, job_id: str) -> int:
    """Images of *job_id* saved under *folder* (named ``<id>.<ext>`` or ``<id>-<k>.<ext>``)."""
    pattern = re.compile(rf"{re.escape(job_id)}(-\d+)?")
    return sum(
        1
        for path in folder.glob("*")
        if path.suffix in IMAGE_SUFFIXES and pattern.fullmatch(path.stem)
    )


def report_jobs(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The report's jobs by id."""
    return {job["id"]: job for job in report["jobs"]}


def assert_every_charge_accounted(
    sim: Simulator, jobs: Sequence[Job], report: Mapping[str, Any], out: Path
) -> None:
    """The billing truth: per job, the simulator's charges are the images delivered plus
    the requests the report calls possibly billed; the top level sums the jobs."""
    listed = report_jobs(report)
    assert set(listed) == {job.id for job in jobs}, "the report lists every manifest job"
    for job in jobs:
        charged = sim.stats.billed_for(job.prompt)
        images = delivered(out, job.id)
        assert charged == images + listed[job.id]["possibly_billed"], (
            f"{job.id}: the server charged {charged}, the run delivered {images} and reports "
            f"{listed[job.id]['possibly_billed']} possibly billed"
        )
    assert report["possibly_billed"] == sum(job["possibly_billed"] for job in listed.values())


def has_number(line: str, number: int) -> bool:
    """Whether *line* states *number* as a whole number (not part of 12, 0.2 or $2.50)."""
    return re.search(rf"(?<![\d.$]){number}(?![\d.])", line) is not None


def summary_line_naming(text: str, count: int, job_ids: Sequence[str]) -> str | None:
    """The first output line that states *count* and names every one of *job_ids*."""
    lines = text.splitlines()
    return next((x for x in lines if has_number(x, count) and all(i in x for i in job_ids)), None)


# --------------------------------------------------------------------------------------
# a. A fault mix whose server-side charges the report must match exactly

LOST = [
    Job("lost-504", "A brass compass on a map", script=("504",)),
    Job("lost-524", "A brass key on velvet", script=("524",)),
    Job("lost-drop", "A brass bell on a rope", script=("drop",)),
    Job("lost-trunc", "A brass lamp on a desk", script=("truncate",)),
    Job("lost-b64", "A brass clock on a shelf", script=("bad_b64",)),
    Job("lost-three", "A brass kettle on a stove", script=("504", "524", "drop")),
    Job("lost-always", "A brass anchor on sand", script=("drop",) * 5),
    Job(
        "gemini-lost",
        "A brass telescope on a tripod",
        {"model": "gemini-2.5-flash-image", "size": "1024x1024"},
        script=("truncate", "504"),
    ),
    Job(
        "flux-lost",
        "A brass weathervane on a roof",
        {"model": "flux-dev", "size": "512x512"},
        script=("drop",),
    ),
    Job(
        "dalle-lost",
        "A brass doorknob on oak",
        {"model": "dall-e-3", "size": "1024x1024"},
        script=("bad_b64",),
    ),
]
REFUSED = [
    Job("refused-429", "A tin robot on a shelf", script=("429", "429")),
    Job("refused-5xx", "A tin drum on a rug", script=("500", "503", "500")),
    Job("refused-always", "A tin soldier on a box", script=("503",) * 5),
    Job("refused-invalid", "A tin whistle on a chain", script=("500_invalid",)),
    Job("refused-policy", "A forbidden-fruit tin can"),
]
PLAIN = [Job(f"plain-{number}", f"A wooden spoon number {number}") for number in range(1, 6)]
# What the server charges per job as the scripts play (the client tries up to 5 times; a
# generated image whose URL serves no image fails the job without paying again).
EXPECTED_CHARGES = {
    **{"lost-504": 2, "lost-524": 2, "lost-drop": 2, "lost-trunc": 2, "lost-b64": 2},
    **{"lost-three": 4, "lost-always": 5, "gemini-lost": 3, "flux-lost": 2, "dalle-lost": 1},
    **{"refused-429": 1, "refused-5xx": 1},
    **{"refused-always": 0, "refused-invalid": 0, "refused-policy": 0},
    **{job.id: 1 for job in PLAIN},
}
FAILING_LOST = frozenset({"lost-always", "dalle-lost"})
"""Lost jobs that deliver no image; every other lost job delivers its one image."""


async def test_fault_mix_charges_match_delivered_plus_possibly_billed(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """504, 524, dropped connections, truncated bodies and bad base64 (on generations,
    Gemini, a Flux submit and a dall-e-3 URL) are charged by the server: each such request
    is counted as possibly billed, on the job, including a loss on the last attempt;
    refusals (429, 500, 503, a 500 invalid_request, a policy refusal) never are."""
    jobs = [*LOST, *REFUSED, *PLAIN]
    manifest = write_jobs(tmp_path, jobs)
    scripts = {job.prompt: job.script for job in jobs if job.script}
    knobs = {"scripts": scripts, "retry_after_seconds": 0.0, "flux_task_seconds": 0.2}
    async with simulator(**knobs) as sim:
        args = ["run", str(manifest), "--concurrency", "4", "--max-attempts", "5"]
        args += ["--poll-interval", "0.05", "--report", "report.json"]
        result = await run_cli(args, cwd=tmp_path, env=cli_env(sim.base_url), limit=60)
        charges = {job.id: sim.stats.billed_for(job.prompt) for job in jobs}
        assert charges == EXPECTED_CHARGES, "the scripts did not play as this test expects"
        assert result.code == 1, result.text  # two lost jobs and three refusals fail
        report = json.loads((tmp_path / "report.json").read_text())
        assert_every_charge_accounted(sim, jobs, report, tmp_path / "out")
    listed = report_jobs(report)
    assert all(listed[job.id]["possibly_billed"] == 0 for job in [*REFUSED, *PLAIN])
    assert listed["lost-always"]["possibly_billed"] == 5  # the last loss counts too
    assert listed["dalle-lost"]["possibly_billed"] == 1  # so does a loss that fails the job
    lost_total = sum(EXPECTED_CHARGES[job.id] for job in LOST) - len(LOST) + len(FAILING_LOST)
    assert report["possibly_billed"] == lost_total
    assert "possibly_billed_usd" in report
    line = summary_line_naming(result.out, lost_total, [job.id for job in LOST])
    assert line is not None, (
        f"no summary line states {lost_total} and names the jobs:\n{result.out}"
    )


# --------------------------------------------------------------------------------------
# b. A budget under lost answers


async def test_max_cost_holds_against_what_the_server_charged(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """dall-e-3 at $0.04 a request, every job losing its first four answers: --max-cost
    counts those charges, so the server never charges more than the budget plus what was
    in flight (concurrency x price); the run stops on the budget with exit 1."""
    budget, concurrency = 0.2, 2
    jobs = [
        Job(f"coin-{n:02d}", f"A gold coin with a lion, minted in {1900 + n}") for n in range(10)
    ]
    lost = ["drop", "504", "524", "truncate"]
    manifest = write_jobs(tmp_path, jobs, model="dall-e-3")
    manifest.write_text(manifest.read_text().replace("256x256", "1024x1024"))
    async with simulator(scripts={"gold coin": lost}) as sim:
        args = ["run", str(manifest), "--concurrency", str(concurrency), "--max-attempts", "5"]
        args += ["--max-cost", str(budget), "--report", "report.json"]
        result = await run_cli(args, cwd=tmp_path, env=cli_env(sim.base_url), limit=60)
        charged = sim.stats.total_billed * DALL_E_3_PRICE
        report = json.loads((tmp_path / "report.json").read_text())
        assert_every_charge_accounted(sim, jobs, report, tmp_path / "out")
    assert charged <= budget + concurrency * DALL_E_3_PRICE + 1e-9, (
        f"the server charged ${charged:.2f} against a ${budget:.2f} budget\n{result.out}"
    )
    assert result.code == 1, result.text
    assert report["budget_stop"]
    assert report["possibly_billed"] >= 1
    assert abs(report["possibly_billed_usd"] - report["possibly_billed"] * DALL_E_3_PRICE) < 1e-6


# --------------------------------------------------------------------------------------
# c. Ctrl-C with slow requests in flight


class Lines:
    """Collects the lines of a process's stdout and stderr as they come, with the time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        assert process.stderr is not None
        self.seen: list[tuple[float, str]] = []
        self._readers = [
            asyncio.ensure_future(self._read(stream)) for stream in (process.stdout, process.stderr)
        ]

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            self.seen.append((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))

    def first(self, wanted: Callable[[str], bool], *, after: float) -> str | None:
        """The first line seen at or after *after* that is *wanted*."""
        return next((text for at, text in self.seen if at >= after and wanted(text)), None)

    async def finish(self) -> str:
        """Every line, once both streams are closed."""
        await asyncio.gather(*self._readers)
        return "\n".join(text for _, text in self.seen)


async def test_ctrl_c_abandons_requests_in_flight_as_possibly_billed_then_resumes(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """A first Ctrl-C at once says how many requests are in flight; a second abandons them
    (exit 130). The server still charges them: the report counts each as possibly billed,
    on its job, and lists the job never started too. The next run finishes every job and
    counts the request it sends again for an abandoned one as possibly billed."""
    concurrency = 2
    jobs = [Job(f"vase-{n}", f"A slow clay vase, glaze number {n}") for n in range(1, 4)]
    manifest = write_jobs(tmp_path, jobs)
    async with simulator(latency=1.6) as sim:
        env = cli_env(sim.base_url)
        args = ["run", str(manifest), "--concurrency", str(concurrency), "--report", "r1.json"]
        process = await start_cli(args, cwd=tmp_path, env=env)
        lines = Lines(process)
        assert await wait_until(lambda: sim.stats.in_flight == concurrency, within=20)
        first_signal = time.monotonic()

        def in_flight(line: str) -> bool:
            """Names the requests in flight, and what a second Ctrl-C does."""
            return has_number(line, concurrency) and bool(re.search(r"(?i)ctrl|\^c", line))

        process.send_signal(signal.SIGINT)
        await wait_until(lambda: lines.first(in_flight, after=first_signal) is not None, within=0.8)
        announced = lines.first(in_flight, after=first_signal)
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 15)
        text = await lines.finish()
        assert process.returncode == 130, text
        # The abandoned handlers run on until their latency is over, then are charged.
        assert await wait_until(lambda: sim.stats.in_flight == 0, within=5)
        abandoned = [job for job in jobs if sim.stats.requests_for(job.prompt)]
        assert len(abandoned) == concurrency
        assert all(sim.stats.billed_for(job.prompt) == 1 for job in abandoned)
        first = json.loads((tmp_path / "r1.json").read_text())
        assert_every_charge_accounted(sim, jobs, first, tmp_path / "out")
        assert first["possibly_billed"] == concurrency
        assert announced is not None, f"no line after the first Ctrl-C names {concurrency}:\n{text}"

        args = ["run", str(manifest), "--concurrency", "4", "--report", "r2.json"]
        resumed = await run_cli(args, cwd=tmp_path, env=env)
        assert resumed.code == 0, resumed.text
        assert all(sim.stats.billed_for(job.prompt) == 1 + (job in abandoned) for job in jobs)
    second = report_jobs(json.loads((tmp_path / "r2.json").read_text()))
    assert all(second[job.id]["status"] == "succeeded" for job in jobs)
    for job in abandoned:
        assert second[job.id]["possibly_billed"] >= 1, job.id


# --------------------------------------------------------------------------------------
# d. A Flux task that answers "Task not found" while young


async def test_flux_task_not_found_while_young_is_polled_again_not_paid_again(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """A gateway that has not caught up with the submit answers "Task not found" to the
    first two polls: the job keeps polling and succeeds with its one paid task."""
    jobs = [Job("flux-young", "A flux paper crane on a windowsill", {"size": "512x512"})]
    manifest = write_jobs(tmp_path, jobs, model="flux-dev")
    async with simulator(flux_not_found_polls=2, flux_task_seconds=0.2) as sim:
        args = ["run", str(manifest), "--poll-interval", "0.05", "--report", "report.json"]
        result = await run_cli(args, cwd=tmp_path, env=cli_env(sim.base_url), limit=30)
        submits = sim.stats.submits_for(jobs[0].prompt)
        polls = sim.stats.polls_for(jobs[0].prompt)
        report = json.loads((tmp_path / "report.json").read_text())
        assert_every_charge_accounted(sim, jobs, report, tmp_path / "out")
    assert (result.code, submits) == (0, 1), result.text
    assert polls >= 3
    assert report_jobs(report)["flux-young"]["possibly_billed"] == 0


async def test_flux_task_never_found_pays_for_at_most_one_replacement(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """A task that is never found again is given up after a while; the job pays for one
    replacement task at most in the run, and what it paid without an image is counted as
    possibly billed."""
    jobs = [Job("flux-lost", "A flux paper boat lost at sea", {"size": "512x512"})]
    manifest = write_jobs(tmp_path, jobs, model="flux-dev")
    async with simulator(flux_not_found_polls=1_000_000, flux_task_seconds=0.2) as sim:
        args = ["run", str(manifest), "--poll-interval", "0.05", "--task-timeout", "3"]
        args += ["--report", "report.json"]
        result = await run_cli(args, cwd=tmp_path, env=cli_env(sim.base_url), limit=60)
        submits = sim.stats.submits_for(jobs[0].prompt)
        report = json.loads((tmp_path / "report.json").read_text())
        assert_every_charge_accounted(sim, jobs, report, tmp_path / "out")
    assert result.code == 1, result.text
    assert 1 <= submits <= 2, f"{submits} paid tasks for one image"
    assert report_jobs(report)["flux-lost"]["possibly_billed"] >= 1
