"""The runners batch_gen is compared with, each run by ``bench.py`` as its own child process:

    python bench/runners.py baseline|openai|litellm --url URL --key KEY \\
        --manifest FILE.csv --out DIR --concurrency 32

Each one requests every prompt of the manifest once, decodes the base64 image and writes
``<id>.png`` into ``--out``. None of them keeps state or retries: they do the same work as
batch_gen minus everything that makes a batch resumable, which is the point of comparing.
On stdout each prints ``{"work_seconds": S}``: its own wall time from setting up its first
request to writing its last file, start-up excluded (what batch_gen's report calls
``wall_seconds``).

Exit status: 0 every image written; 1 a request failed (the traceback says which);
3 the runner's library is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
from workload import MODEL, Prompt, read_manifest

EXIT_NOT_INSTALLED = 3

Job = tuple[Prompt, str]  # a prompt and its size
Runner = Callable[..., Coroutine[Any, Any, None]]


def _save(path: Path, data: bytes) -> None:
    # A plain blocking write, as most hand-written scripts do: it lands in the page cache
    # in well under a millisecond, so a worker thread would cost more than it saves.
    path.write_bytes(data)


async def run_baseline(jobs: list[Job], *, url: str, key: str, out: Path, concurrency: int) -> None:
    """The least code that does the work: one aiohttp session, a semaphore, ``json``,
    ``base64.b64decode``, write the file. What a careful person writes by hand."""
    semaphore = asyncio.Semaphore(concurrency)
    endpoint = f"{url}/v1/images/generations"
    headers = {"Authorization": f"Bearer {key}"}

    # aiohttp pools at most 100 connections unless told otherwise; let the semaphore decide.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def generate(prompt: Prompt, size: str) -> None:
            async with semaphore:
                body = {"model": MODEL, "prompt": prompt.prompt, "size": size}
                async with session.post(endpoint, json=body) as response:
                    response.raise_for_status()
                    raw = await response.read()
            answer = json.loads(raw)
            _save(out / f"{prompt.id}.png", base64.b64decode(answer["data"][0]["b64_json"]))

        async with asyncio.TaskGroup() as group:
            for prompt, size in jobs:
                group.create_task(generate(prompt, size))


async def run_openai(jobs: list[Job], *, url: str, key: str, out: Path, concurrency: int) -> None:
    """The official SDK as its README shows it: ``AsyncOpenAI.images.generate`` under a
    semaphore, pointed at the simulator, with its own retries switched off."""
    from openai import AsyncOpenAI

    semaphore = asyncio.Semaphore(concurrency)
    async with AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0) as client:

        async def generate(prompt: Prompt, size: str) -> None:
            async with semaphore:
                # size is typed as a Literal of OpenAI's sizes; the simulator accepts more.
                result = await client.images.generate(
                    model=MODEL, prompt=prompt.prompt, size=_any(size)
                )
            if not result.data or not result.data[0].b64_json:
                raise RuntimeError(f"{prompt.id}: no image in the answer")
            _save(out / f"{prompt.id}.png", base64.b64decode(result.data[0].b64_json))

        async with asyncio.TaskGroup() as group:
            for prompt, size in jobs:
                group.create_task(generate(prompt, size))


async def run_litellm(jobs: list[Job], *, url: str, key: str, out: Path, concurrency: int) -> None:
    """LiteLLM's ``aimage_generation`` routed to the simulator's generations route through
    its OpenAI provider (model ``openai/<model>``, ``api_base`` = the simulator's /v1)."""
    # Use the bundled model cost map instead of downloading it at import time.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    semaphore = asyncio.Semaphore(concurrency)

    async def generate(prompt: Prompt, size: str) -> None:
        async with semaphore:
            # litellm reads max_retries=0 as "unset" (its default is 2); no retries happen
            # here anyway, which bench.py checks against the simulator's request count.
            result = await litellm.aimage_generation(
                model=f"openai/{MODEL}",
                prompt=prompt.prompt,
                size=size,
                api_base=f"{url}/v1",
                api_key=key,
                max_retries=0,
            )
        b64 = result.data[0].b64_json if result.data else None
        if not b64:
            raise RuntimeError(f"{prompt.id}: no image in the answer")
        _save(out / f"{prompt.id}.png", base64.b64decode(b64))

    async with asyncio.TaskGroup() as group:
        for prompt, size in jobs:
            group.create_task(generate(prompt, size))


def _any(value: str) -> Any:
    return value


RUNNERS: dict[str, tuple[str | None, Runner]] = {
    # name: (the module that must be importable, the runner)
    "baseline": (None, run_baseline),
    "openai": ("openai", run_openai),
    "litellm": ("litellm", run_litellm),
}


def installed(name: str) -> bool:
    """Whether the library runner *name* needs can be imported in this interpreter."""
    module, _ = RUNNERS[name]
    return module is None or importlib.util.find_spec(module) is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runner", choices=sorted(RUNNERS))
    parser.add_argument("--url", required=True, help="the simulator's root URL")
    parser.add_argument("--key", required=True, help="the simulator's API key")
    parser.add_argument("--manifest", type=Path, required=True, help="CSV from workload.py")
    parser.add_argument("--out", type=Path, required=True, help="folder for the images")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)

    if not installed(args.runner):
        print(f"{args.runner}: not installed", file=sys.stderr)
        return EXIT_NOT_INSTALLED
    jobs = list(read_manifest(args.manifest))
    args.out.mkdir(parents=True, exist_ok=True)
    _, runner = RUNNERS[args.runner]
    started = time.perf_counter()
    asyncio.run(
        runner(jobs, url=args.url, key=args.key, out=args.out, concurrency=args.concurrency)
    )
    print(json.dumps({"work_seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
