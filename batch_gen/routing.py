"""Which provider route serves a job: a pure decision from the model and request fields.

The route is part of a job's key, so it is decided when the manifest is read. Today every
model goes to CometAPI's OpenAI-compatible generations route; the other image APIs
(edits, Gemini, Midjourney, Flux, Bria) plug in here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Route:
    """A provider route: ``api`` names the provider module, ``endpoint`` the HTTP path."""

    api: str
    endpoint: str


OPENAI_GENERATIONS = Route(api="openai.generations", endpoint="/v1/images/generations")


def route_for(model: str, request: Mapping[str, Any]) -> Route:
    """Return the route that serves ``model`` with these request fields."""
    del model, request  # one route for now; the signature is the seam for the others
    return OPENAI_GENERATIONS
