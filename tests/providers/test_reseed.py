"""A job rejected in review is asked for with a new seed where its API documents one: in
the body (Flux, Bria text-to-image, Gemini's generationConfig) or as Midjourney's
``--seed`` flag in the prompt; never in its key. OpenAI's image models take none."""

from __future__ import annotations

from typing import Any

import pytest

from batch_gen.models import Job
from batch_gen.providers import provider_for
from batch_gen.providers.registry import PROVIDERS


def _job(api: str, model: str, prompt: str = "A lantern", **request: Any) -> Job:
    return Job(
        id="a", index=1, prompt=prompt, request={"model": model, **request}, api=api, key="k"
    )


def _body(job: Job, seed: int) -> dict[str, Any]:
    spec = provider_for(job.api).spec
    assert spec.reseed is not None
    seeded = spec.reseed(job, seed)
    assert (seeded.key, seeded.id) == (job.key, job.id)
    (request, *_) = provider_for(job.api).requests_for(seeded, 1)
    return dict(request.body)


def test_which_apis_take_a_seed() -> None:
    seeded = {provider.spec.api for provider in PROVIDERS if provider.spec.reseed is not None}
    assert seeded == {"flux", "bria", "gemini", "midjourney"}


@pytest.mark.parametrize(("model", "given"), [("flux-dev", {}), ("flux-dev", {"seed": 7})])
def test_flux_sends_the_new_seed_over_the_manifests(model: str, given: dict[str, Any]) -> None:
    assert _body(_job("flux", model, **given), 1234)["seed"] == 1234


def test_bria_text_to_image_sends_the_seed() -> None:
    assert _body(_job("bria", "bria-3.2"), 99)["seed"] == 99


def test_gemini_sends_the_seed_in_generation_config_over_the_manifests() -> None:
    job = _job("gemini", "gemini-2.5-flash-image", generationConfig={"seed": 1, "temperature": 1})
    config = _body(job, 42)["generationConfig"]
    assert (config["seed"], config["temperature"]) == (42, 1)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("A castle", "A castle --seed 5 --ar 1:1"),
        ("A castle --seed 3 --v 6", "A castle --v 6 --seed 5 --ar 1:1"),
    ],
)
def test_midjourney_gets_the_seed_flag_in_its_prompt(prompt: str, expected: str) -> None:
    job = _job("midjourney", "mj_fast_imagine", prompt=prompt, size="1024x1024")
    assert _body(job, 5)["prompt"] == expected
