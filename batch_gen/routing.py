"""Which API serves a job: a pure decision over the APIs' declared specs.

The route is part of a job's key, so it is decided when the manifest is read, and shown by
``--dry-run``. A job names its API with ``api:`` or lets the model decide (the first API in
:mod:`batch_gen.providers.registry` that claims the model). A field an API ``switches`` on
sends the job to another route: input images turn OpenAI-compatible generations into
edits, an ``action`` turns Bria text-to-image into Bria's asynchronous edits.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from .checks import FieldRule
from .providers.base import ApiSpec
from .providers.registry import SPECS

#: Every route by its ``api`` (the name recorded on each job).
ROUTES: Mapping[str, ApiSpec] = {spec.api: spec for spec in SPECS}

#: The names a manifest may give in ``api:``.
API_NAMES: Mapping[str, ApiSpec] = {
    spec.manifest_name: spec for spec in SPECS if spec.manifest_name is not None
}

#: Every API-specific field's rule (a field two APIs share has one meaning).
API_FIELD_RULES: Mapping[str, FieldRule] = {
    name: rule for spec in SPECS for name, rule in spec.fields.items()
}

#: Every API-specific field, and the routes that take it.
API_FIELDS: Mapping[str, tuple[ApiSpec, ...]] = {
    name: tuple(spec for spec in SPECS if name in spec.fields)
    for name in sorted({name for spec in SPECS for name in spec.fields})
}


@functools.lru_cache(maxsize=1024)  # a manifest uses a few models, 100,000 times over
def model_route(model: str) -> ApiSpec:
    """The route a model id implies when the job names no ``api``."""
    for spec in SPECS:
        if spec.claims_model is not None and spec.claims_model(model):
            return spec
    raise LookupError(f"no API claims the model {model!r}")  # the registry ends with a catch-all


def route_for(model: str, request: Mapping[str, Any]) -> ApiSpec:
    """The route that serves ``model`` with these (already validated) request fields."""
    explicit = request.get("api")
    spec = API_NAMES[explicit] if isinstance(explicit, str) else model_route(model)
    for name, target in spec.switches.items():
        if request.get(name):
            return ROUTES[target]
    return spec


def images_for(route: ApiSpec, request: Mapping[str, Any]) -> int:
    """How many image files the job produces (Midjourney: its grid, then each upscale)."""
    return route.image_count(request)


def prompt_problem(
    request: Mapping[str, Any], prompt: str, *, limit: int | None
) -> tuple[str, str] | None:
    """("prompt", message) when ``prompt`` is longer than the model's documented ``limit``
    (``route.prompt_limit(request)``), else None. Pure."""
    if limit is None or len(prompt) <= limit:
        return None
    model = request.get("model", "")
    return "prompt", f"prompt is {len(prompt):,} characters; {model} takes at most {limit:,}"


def request_problems(
    route: ApiSpec, request: Mapping[str, Any], *, images: int
) -> list[tuple[str, str]]:
    """(field, message) for what this route cannot serve, whatever the prompt: request
    fields it does not take, input images beyond its count, its own rules and its model's
    documented limits on values (sizes). Jobs that differ only in their prompts share this
    answer (the manifest checks it once for all of them). Pure."""
    problems: list[tuple[str, str]] = []
    for name, takers in API_FIELDS.items():
        if request.get(name) and route not in takers:
            names = " or ".join(spec.title for spec in takers)
            problems.append(
                (name, f"only {names} jobs take {name!r} (this job goes to {route.api})")
            )
    has_mask = bool(request.get("mask"))
    if has_mask and not images:
        problems.append(("mask", "a mask needs an input image"))
    if has_mask and not route.takes_mask:
        problems.append(("mask", f"{route.api} takes no mask"))
    if images > route.max_inputs:
        limit = route.max_inputs
        what = f"at most {limit} input images" if limit else "no input images"
        problems.append(("image", f"{route.api} takes {what}, got {images}"))
    problems.extend(route.checks(request, images))
    problems.extend(route.limits(request))
    return problems
