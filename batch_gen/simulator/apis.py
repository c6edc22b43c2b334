"""The simulator's API registry: for each client API (by the route name the client side
uses), the module serving it. ``server.create_app`` registers routes by walking it, so
adding an API means one module plus one line here (and its models in :mod:`.catalog`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from batch_gen.simulator import (
    bria,
    bria_edit,
    catalog,
    flux,
    gemini,
    midjourney,
    openai_edits,
    openai_generations,
)
from batch_gen.simulator.routing import SimApi

REGISTRY: Final[Mapping[str, SimApi]] = MappingProxyType(
    {
        "openai.generations": openai_generations.API,
        "openai.edits": openai_edits.API,
        "gemini": gemini.API,
        "midjourney": midjourney.API,
        "flux": flux.API,
        "bria": bria.API,
        "bria.edit": bria_edit.API,
    }
)
"""Route name → what the simulator serves for it, in route registration order."""


@dataclass(frozen=True, slots=True)
class ServedApi:
    """What the simulator serves for one client API."""

    paths: tuple[str, ...]
    """aiohttp path patterns of its routes (downloads included)."""
    models: tuple[str, ...]
    """Catalog ids (``GET /api/models``) of the models it serves."""


def served_apis() -> Mapping[str, ServedApi]:
    """Each registered API's paths and catalog models, by route name."""
    return {
        name: ServedApi(paths=api.paths, models=catalog.models_for(name))
        for name, api in REGISTRY.items()
    }
