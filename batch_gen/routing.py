"""Which API serves a job: a pure decision from the model and the request fields.

The route is part of a job's key, so it is decided when the manifest is read, and shown by
``--dry-run``. A job names its API with ``api:`` or lets the model decide: ``flux-*`` →
Flux, ``gemini-*image*`` → Gemini, Midjourney ids (``mj*``, ``midjourney*``, ``niji*``)
→ Midjourney, ``bria*`` → Bria, anything else → the OpenAI-compatible generations route.
Input images switch an OpenAI-compatible job to the edits route, and an ``action`` a Bria
job to Bria's asynchronous edit API.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Route:
    """A provider route: ``api`` names the provider module, ``endpoint`` the HTTP path."""

    api: str
    endpoint: str
    tasks: bool = False  # submitted, then polled: a task id is money already spent


OPENAI_GENERATIONS = Route("openai.generations", "/v1/images/generations")
OPENAI_EDITS = Route("openai.edits", "/v1/images/edits")
GEMINI = Route("gemini", "/v1beta/models/{model}:generateContent")
MIDJOURNEY = Route("midjourney", "/mj/submit/imagine", tasks=True)
FLUX = Route("flux", "/flux/v1/{model}", tasks=True)
BRIA = Route("bria", "/bria/text-to-image")
BRIA_EDIT = Route("bria.edit", "/bria/image/edit/{action}", tasks=True)

#: The names a manifest may give in ``api:``.
API_NAMES: Mapping[str, Route] = {
    "openai": OPENAI_GENERATIONS,
    "openai-edits": OPENAI_EDITS,
    "gemini": GEMINI,
    "midjourney": MIDJOURNEY,
    "flux": FLUX,
    "bria": BRIA,
}

#: Every route by its ``api`` (the name recorded on each job).
ROUTES: Mapping[str, Route] = {
    route.api: route
    for route in (OPENAI_GENERATIONS, OPENAI_EDITS, GEMINI, MIDJOURNEY, FLUX, BRIA, BRIA_EDIT)
}

BRIA_ACTIONS = (
    "erase",
    "gen_fill",
    "expand",
    "enhance",
    "increase_resolution",
    "replace_background",
)
_BRIA_NEEDS_MASK = frozenset({"erase", "gen_fill", "expand"})
_BRIA_NEEDS_PROMPT = frozenset({"gen_fill", "replace_background"})
# How many input images each route takes (PROTOCOLS.md: OpenAI 16, Gemini 14).
_MAX_INPUTS = {
    "openai.edits": 16,
    "gemini": 14,
    "midjourney": 5,
    "flux": 1,
    "bria.edit": 1,
}


@functools.lru_cache(maxsize=1024)  # a manifest uses a few models, 100,000 times over
def model_route(model: str) -> Route:
    """The route a model id implies when the job names no ``api``."""
    name = model.lower()
    if name.startswith("flux"):
        return FLUX
    if name.startswith("gemini") and "image" in name:
        return GEMINI
    if name.startswith(("mj", "midjourney", "niji")):
        return MIDJOURNEY
    if name.startswith("bria"):
        return BRIA
    return OPENAI_GENERATIONS


def route_for(model: str, request: Mapping[str, Any]) -> Route:
    """The route that serves ``model`` with these (already validated) request fields."""
    explicit = request.get("api")
    route = API_NAMES[explicit] if isinstance(explicit, str) else model_route(model)
    if route is OPENAI_GENERATIONS and request.get("image"):
        return OPENAI_EDITS
    if route is BRIA and request.get("action"):
        return BRIA_EDIT
    return route


def images_for(route: Route, request: Mapping[str, Any]) -> int:
    """How many image files the job produces: Midjourney saves its grid, then one image
    per upscale; every other route makes ``n``."""
    if route is MIDJOURNEY:
        upscale = request.get("upscale") or ()
        return 1 + len(upscale)
    n = request.get("n", 1)
    return n if isinstance(n, int) else 1


def route_problems(
    route: Route, request: Mapping[str, Any], *, images: int
) -> list[tuple[str, str]]:
    """(field, message) for request fields this route cannot serve. Pure."""
    problems: list[tuple[str, str]] = []
    has_mask = bool(request.get("mask"))
    if request.get("upscale") and route is not MIDJOURNEY:
        problems.append(("upscale", f"only Midjourney jobs upscale (this job goes to {route.api})"))
    if request.get("action") and route is not BRIA_EDIT:
        problems.append(
            ("action", f"only Bria edits take an action (this job goes to {route.api})")
        )
    if has_mask and not images:
        problems.append(("mask", "a mask needs an input image"))
    if has_mask and route not in (OPENAI_EDITS, BRIA_EDIT):
        problems.append(("mask", f"{route.api} takes no mask"))
    limit = _MAX_INPUTS.get(route.api, 0)
    if images > limit:
        what = f"at most {limit} input images" if limit else "no input images"
        problems.append(("image", f"{route.api} takes {what}, got {images}"))
    if route is BRIA_EDIT:
        action = request.get("action")
        if not images:
            problems.append(("image", f"the Bria action {action!r} needs an input image"))
        if action in _BRIA_NEEDS_MASK and not has_mask:
            problems.append(("mask", f"the Bria action {action!r} needs a mask"))
    if route is MIDJOURNEY and request.get("n", 1) != 1:
        problems.append(("n", "Midjourney makes one grid per job; use upscale: [1, 2, ...]"))
    return problems
