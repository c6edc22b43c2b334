"""Provider adapters: one module per API family, each translating its own errors once.

No aiohttp exception escapes this package: everything becomes a
:class:`batch_gen.errors.ProviderError`. Modules are imported when a job first needs them.
"""

from __future__ import annotations

import importlib

from .base import ApiRequest, Generation, Provider, ReturnedImage
from .openai_images import OpenAIImages

__all__ = ["ApiRequest", "Generation", "OpenAIImages", "Provider", "ReturnedImage", "provider_for"]

# route api (see routing.py) -> "module:class" in this package
_REGISTRY = {
    "openai.generations": "openai_images:OpenAIImages",
    "openai.edits": "openai_edits:OpenAIEdits",
    "gemini": "gemini:Gemini",
    "midjourney": "midjourney:Midjourney",
    "flux": "flux:Flux",
    "bria": "bria:BriaTextToImage",
    "bria.edit": "bria:BriaEdit",
}
_LOADED: dict[str, Provider] = {}


def provider_for(api: str) -> Provider:
    """The provider serving route ``api`` (see :mod:`batch_gen.routing`)."""
    provider = _LOADED.get(api)
    if provider is None:
        try:
            module_name, class_name = _REGISTRY[api].split(":")
        except KeyError:
            raise ValueError(f"no provider for API {api!r}") from None
        module = importlib.import_module(f".{module_name}", __name__)
        provider = _LOADED[api] = getattr(module, class_name)()
    return provider
