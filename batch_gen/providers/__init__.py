"""Image APIs: one module per API, each declaring what it is (an ``ApiSpec``) and what it
does (pure request building and answer reading); :mod:`.registry` lists them.

No aiohttp exception escapes this package: :mod:`.http` translates every transport
failure, and :mod:`.answers` every unsuccessful status, into a
:class:`batch_gen.errors.ProviderError`. aiohttp itself is imported only when sending.
"""

from __future__ import annotations

from .base import ApiRequest, ApiSpec, Generation, Provider, ReturnedImage
from .registry import SPECS, provider_for

__all__ = [
    "SPECS",
    "ApiRequest",
    "ApiSpec",
    "Generation",
    "Provider",
    "ReturnedImage",
    "provider_for",
]
