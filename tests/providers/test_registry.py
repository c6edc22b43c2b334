"""The registry's contract: an API is wired end to end or the suite fails (httpx's
"every exception is mapped" test, for APIs). Adding an API means one provider module, one
simulator module and one line in each registry; this test names what is missing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from batch_gen import routing
from batch_gen.models import Job
from batch_gen.providers.base import ApiSpec
from batch_gen.providers.registry import PROVIDERS, SPECS, provider_for
from batch_gen.simulator.apis import served_apis

# One job's request fields per API, enough for its requests to be built.
SAMPLE_REQUESTS: dict[str, dict[str, Any]] = {
    "openai.generations": {"model": "gpt-image-2", "n": 3},
    "openai.edits": {"model": "gpt-image-2", "n": 3},
    "gemini": {"model": "gemini-2.5-flash-image", "n": 3},
    "midjourney": {"model": "mj_fast_imagine", "upscale": [1, 3]},
    "flux": {"model": "flux-pro-1.1", "n": 3},
    "bria": {"model": "bria-text-to-image", "n": 6},
    "bria.edit": {"model": "bria-erase", "action": "erase", "n": 2},
}


def _job(spec: ApiSpec) -> Job:
    request = SAMPLE_REQUESTS[spec.api]
    return Job(
        id="j",
        index=1,
        prompt="a prompt",
        request=request,
        api=spec.api,
        key="k",
        images=spec.image_count(request),
    )


def _pattern(template: str) -> re.Pattern[str]:
    """A path template (``/flux/v1/{model}``, ``{model:[^/:]+}``) as a regex."""
    parts = re.split(r"\{[^}]*\}", template)
    return re.compile("[^/]+".join(re.escape(part) for part in parts))


def test_every_api_has_a_sample_here() -> None:
    assert {spec.api for spec in SPECS} == set(SAMPLE_REQUESTS)


def test_names_are_unique_and_the_last_api_claims_every_model() -> None:
    apis = [spec.api for spec in SPECS]
    names = [spec.manifest_name for spec in SPECS if spec.manifest_name is not None]
    assert len(set(apis)) == len(apis)
    assert len(set(names)) == len(names)
    last = SPECS[-1].claims_model
    assert last is not None
    assert last("any-model-at-all")
    assert [provider.spec for provider in PROVIDERS] == list(SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.api)
def test_every_api_is_reachable_from_a_manifest(spec: ApiSpec) -> None:
    """By its name in ``api:``, or by a field another API switches on."""
    switched_to = {target for other in SPECS for target in other.switches.values()}
    assert spec.manifest_name is not None or spec.api in switched_to
    for target in spec.switches.values():
        assert target in routing.ROUTES, f"{spec.api} switches to unknown {target}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.api)
def test_the_simulator_serves_every_api_and_lists_its_models(spec: ApiSpec) -> None:
    served = served_apis()
    assert spec.api in served, f"the simulator does not serve {spec.api}"
    pattern = _pattern(spec.endpoint)
    paths = [_pattern(path).pattern for path in served[spec.api].paths]
    concrete = [path for path in served[spec.api].paths if "{" not in path]
    assert any(pattern.pattern == path for path in paths) or any(
        pattern.fullmatch(path) for path in concrete
    ), f"the simulator serves no path like {spec.endpoint} for {spec.api}"
    models = served[spec.api].models
    assert models, f"the simulator's catalog lists no model for {spec.api}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.api)
def test_some_catalog_model_routes_to_every_api(spec: ApiSpec) -> None:
    """A model of the API's catalog routes to it, directly or through a switch field."""
    request = {
        name: "x"
        for other in SPECS
        for name, target in other.switches.items()
        if target == spec.api
    }
    routed = {routing.route_for(model, request).api for model in served_apis()[spec.api].models}
    assert spec.api in routed, f"no model of {spec.api}'s catalog routes to it: {routed}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.api)
@pytest.mark.parametrize("images", [0, 1, 2, 3])
def test_request_counts_agree_with_the_requests_built(spec: ApiSpec, images: int) -> None:
    job = _job(spec)
    wanted = min(images, job.n)
    built = provider_for(spec.api).requests_for(job, wanted)
    assert spec.request_count(job, wanted) == len(built)
    assert sum(request.images for request in built) == wanted


def test_unknown_api_is_refused() -> None:
    with pytest.raises(ValueError, match="no provider"):
        provider_for("nope")
