"""Every image API batch_gen speaks, in one list: adding an API is one line here.

Each entry is a provider module's provider (see :mod:`.base`); its ``spec`` says what the
API is. Routing reads the specs in this order: the first API that claims a model serves
it, and OpenAI-compatible generations, which claims every model, comes last.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import bria, flux, gemini, midjourney, openai_edits, openai_images
from .base import ApiSpec, Provider

PROVIDERS: tuple[Provider, ...] = (
    flux.Flux(),
    gemini.Gemini(),
    midjourney.Midjourney(),
    bria.BriaTextToImage(),
    bria.BriaEdit(),
    openai_edits.OpenAIEdits(),
    openai_images.OpenAIImages(),  # the fallback: claims every model
)

_BY_API: Mapping[str, Provider] = {provider.spec.api: provider for provider in PROVIDERS}

#: Every API's spec, in routing order.
SPECS: tuple[ApiSpec, ...] = tuple(provider.spec for provider in PROVIDERS)


def provider_for(api: str) -> Provider:
    """The provider serving route ``api`` (a job's ``api``). Raises ValueError if none."""
    try:
        return _BY_API[api]
    except KeyError:
        raise ValueError(f"no provider for API {api!r}") from None
