"""Helpers for end-to-end tests: the real CLI as a subprocess, manifests on disk."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from batch_gen.config import RunOptions
from batch_gen.errors import ManifestError, Problem
from batch_gen.manifest import load_manifest
from batch_gen.providers.base import Endpoint
from batch_gen.report import RunSummary
from batch_gen.runner import run_batch
from batch_gen.simulator import Simulator

SimFactory = Callable[..., AbstractAsyncContextManager[Simulator]]

# The smallest valid PNG (1x1), for tests that need image bytes but not the simulator.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

SIM_KEY = "sk-sim-test-key-0123456789abcdef"


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def cli_env(base_url: str | None, *, key: str | None = SIM_KEY, **extra: str) -> dict[str, str]:
    """A clean environment for the CLI: the simulator's URL and key, no real secrets."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("COMETAPI_", "BATCH_GEN_"))
    }
    env["CI"] = "1"  # plain progress lines, never a tqdm bar
    env["BATCH_GEN_RETRY_SCALE"] = "0.01"  # retries without real sleeping
    # Never the user's model-catalog cache: conftest points this at a per-session folder.
    env["BATCH_GEN_CACHE_DIR"] = os.environ["BATCH_GEN_CACHE_DIR"]
    if base_url is not None:
        env["COMETAPI_BASE_URL"] = base_url
    if key is not None:
        env["COMETAPI_KEY"] = key
    env.update(extra)
    return env


async def start_cli(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str]
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "batch_gen",
        *args,
        cwd=cwd,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_cli(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str], limit: float = 120
) -> CliResult:
    """Run ``python -m batch_gen ARGS`` without blocking the loop the simulator serves on."""
    process = await start_cli(args, cwd=cwd, env=env)
    out, err = await asyncio.wait_for(process.communicate(), limit)
    assert process.returncode is not None
    return CliResult(process.returncode, out.decode(), err.decode())


def write_manifest(
    folder: Path, prompts: Sequence[str], *, extra: str = "", **job_fields: Any
) -> Path:
    """A YAML manifest with one job per prompt (ids job-01, job-02, ...)."""
    lines = [
        "version: 1",
        "defaults:",
        "  model: gpt-image-2",
        "  size: 256x256",
        "  quality: low",
        "output:",
        "  dir: out",
    ]
    if extra:
        lines.append(extra)
    lines.append("jobs:")
    for number, prompt in enumerate(prompts, 1):
        lines.append(f"  - id: job-{number:02d}")
        lines.append(f"    prompt: {prompt!r}")
        for name, value in job_fields.items():
            lines.append(f"    {name}: {value}")
    path = folder / "jobs.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_text(folder: Path, text: str, name: str = "jobs.yaml") -> Path:
    """Write ``text`` (dedented, leading newline dropped) to ``folder/name``."""
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def manifest_problems(path: Path) -> tuple[Problem, ...]:
    """The problems :func:`load_manifest` reports for ``path``; fails the test if it loads."""
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    return caught.value.problems


def problem_places(path: Path) -> list[tuple[int | None, str | None]]:
    """(line, field) of each problem the manifest at ``path`` has, in the reported order."""
    return [(problem.line, problem.field) for problem in manifest_problems(path)]


# A fake API for request-shape tests (aioresponses) of the providers.
API_BASE = "http://api.test"
API_KEY = "sk-test-0123456789abcdefghijklmnop"


def sent(mock: Any) -> list[Any]:
    """Every request an ``aioresponses`` mock received, in order of URL."""
    return [call for calls in mock.requests.values() for call in calls]


async def run_over_http(
    manifest_path: Path, base_url: str, *, api_key: str, **options: Any
) -> RunSummary:
    """run_batch for the manifest at ``manifest_path`` (into its own output folder, with its
    file names) against the API at ``base_url``; ``options`` are further RunOptions."""
    manifest = load_manifest(manifest_path)
    settings: dict[str, Any] = {
        "output_dir": manifest.output.dir,
        "filename": manifest.output.filename,
        "base_url": base_url,
        "api_key": api_key,
        **options,
    }
    endpoint = Endpoint(base_url, api_key)
    return await run_batch(manifest, RunOptions(**settings), endpoint=endpoint)


async def wait_until(condition: Callable[[], bool], *, within: float, step: float = 0.01) -> bool:
    """Check *condition* every *step* seconds until it holds or *within* seconds have
    passed; whether it held (tests assert on it, so a timeout fails where it happened)."""
    for _ in range(max(1, round(within / step))):
        if condition():
            return True
        await asyncio.sleep(step)
    return condition()


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder that exists and refuses new files: for a user, one without write
    permission; for the superuser, whom permissions do not stop, a sysfs folder (the kernel
    refuses new entries there with EPERM). Skips the test when there is neither."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir(mode=0o555)
        return folder
    folder = Path("/sys/kernel")
    try:
        (folder / "batch_gen-probe").mkdir()
    except OSError:
        return folder
    (folder / "batch_gen-probe").rmdir()
    pytest.skip("no folder refuses writes here")
