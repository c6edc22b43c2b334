"""What each image of a job is, for its sidecar: Midjourney's grid and each upscale of it
are named by the request step that made them; other APIs' images need no role. And where
images are staged: small ones on the event loop, large ones on the file threads, alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_provider import FakeApi, image
from support import PNG

from batch_gen.config import RunOptions
from batch_gen.manifest import load_manifest
from batch_gen.models import JobStatus
from batch_gen.providers.base import ApiRequest, Endpoint, ReturnedImage
from batch_gen.retry import RetryPolicy
from batch_gen.runner import run_batch
from batch_gen.runner.staging import SMALL_FILES, image_roles, inline_bytes_at_most
from batch_gen.state.journal import read_state


def _requests(*steps: tuple[str, int]) -> list[ApiRequest]:
    return [ApiRequest("/x", {}, images, step=step) for step, images in steps]


@pytest.mark.parametrize(
    ("requests", "roles"),
    [
        (
            _requests(("imagine", 1), ("upscale:2", 1), ("upscale:4", 1)),
            {1: "grid", 2: "upscale U2", 3: "upscale U4"},
        ),
        (_requests(("imagine", 1)), {1: "grid"}),
        (_requests(("submit", 4)), {}),  # one request, four images: nothing more to say
        (_requests(("submit", 1), ("submit", 1)), {}),  # dall-e-3 asked twice
        (_requests(("edit:1", 1), ("edit:2", 1)), {}),
    ],
)
def test_image_roles(requests: list[ApiRequest], roles: dict[int, str]) -> None:
    assert image_roles(requests) == roles


def test_what_is_small_enough_for_the_event_loop() -> None:
    """Base64 counts as the bytes it decodes to; a URL counts as nothing."""
    limit = SMALL_FILES
    assert inline_bytes_at_most([ReturnedImage(data=b"x" * limit)], limit)
    assert not inline_bytes_at_most([ReturnedImage(data=b"x" * (limit + 1))], limit)
    assert inline_bytes_at_most([ReturnedImage(b64="QUJD" * (limit // 3))], limit)
    assert not inline_bytes_at_most([ReturnedImage(b64="QUJD" * (limit // 3 + 1))], limit)
    assert inline_bytes_at_most([ReturnedImage(url="https://x/1.png")] * 9, limit)


@pytest.mark.parametrize("extra", [0, 2 * SMALL_FILES])
async def test_small_and_large_images_are_saved_alike(tmp_path: Path, extra: int) -> None:
    """Small images are staged and placed on the event loop, large ones on the file
    threads: the same files, sidecars and records either way."""
    data = PNG + b"\0" * extra  # bytes after IEND: still a PNG of the same size
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        f"output: {{dir: {tmp_path / 'out'}}}\njobs:\n  - {{id: a, prompt: p, n: 2}}\n"
    )
    loaded = load_manifest(manifest)
    api = FakeApi().enqueue(image(data), image(data))
    options = RunOptions(
        output_dir=loaded.output.dir,
        filename=loaded.output.filename,
        api_key="sk-test",
        retry=RetryPolicy(max_attempts=1, scale=0.0),
        check_models=False,
    )
    summary = await run_batch(
        loaded,
        options,
        endpoint=Endpoint("http://fake.invalid", "sk-test"),
        providers=api.provider_for,
        transport=api.transport,
    )
    assert summary.exit_status() == 0
    out = tmp_path / "out"
    assert [(out / name).read_bytes() == data for name in ("a-1.png", "a-2.png")] == [True, True]
    record = read_state(out)["a"]
    assert (record.status, [image.bytes for image in record.images]) == (
        JobStatus.SUCCEEDED,
        [len(data), len(data)],
    )
    assert json.loads((out / "a.json").read_text())["images"][1]["bytes"] == len(data)
    assert not [path for path in out.iterdir() if path.name.endswith(".part")]
