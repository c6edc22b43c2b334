"""Provider adapters: one module per API family, each translating its own errors once.

No aiohttp exception escapes this package: everything becomes a
:class:`batch_gen.errors.ProviderError`.
"""

from __future__ import annotations

from .base import ApiRequest, Generation, Provider, ReturnedImage
from .openai_images import OpenAIImages

__all__ = ["ApiRequest", "Generation", "OpenAIImages", "Provider", "ReturnedImage", "provider_for"]

_PROVIDERS: dict[str, Provider] = {OpenAIImages.api: OpenAIImages()}


def provider_for(api: str) -> Provider:
    """The provider serving route ``api`` (see :mod:`batch_gen.routing`)."""
    try:
        return _PROVIDERS[api]
    except KeyError:
        raise ValueError(f"no provider for API {api!r}") from None
