"""The model catalogs: public ``GET /api/models`` and authenticated ``GET /v1/models``.

``GET /api/models`` needs no key and is not counted in the stats. It answers
``{"success":true,"page":0,"page_size":0,"total":N,"data":[record, ...]}`` (page 0 is the
whole list), one record per model the simulator serves::

    {"id","provider","model_type","features","pricing","api_doc_url"}

``pricing`` is ``{"currency","input","output","per_request","per_second"}`` with nulls for
what does not apply: token-priced models (the GPT image models, Gemini, the text models)
fill ``input``/``output`` in USD per 1M tokens (``currency: "USD / M Tokens"``); per-call
models (dall-e, qwen, Seedream, Flux, Midjourney, Bria) fill ``per_request`` in USD
(``currency: "USD / Request"``); ``per_second`` is always null. The prices are the
simulator's own round figures, close to the public ones, not a quote.

Model ids, beyond those of the routes' own modules: Midjourney is billed per action and
speed, as ``mj_{fast,turbo,relax}_{imagine,upscale,variation,reroll}``; Bria as
``bria-text-to-image`` and ``bria-{erase,gen-fill,expand,enhance,increase-resolution,
replace-background}``; two text models, ``gpt-4o-mini`` and ``gemini-2.5-flash``
(``model_type: "text"``, served by no route here) show that the catalog is not images only.

``GET /v1/models`` (auth, counted) answers new-api's ``{"object":"list","success":true,
"data":[{"id","object":"model","created","owned_by","supported_endpoint_types"}]}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from batch_gen.simulator import bria, bria_edit, flux, gemini, midjourney_tasks, openai_plans
from batch_gen.simulator.errors import json_response
from batch_gen.simulator.gateway import PUBLIC, Admission, Call, endpoint
from batch_gen.simulator.routing import Route

_DOC: Final = "https://apidoc.cometapi.com"
_CREATED: Final = 1_626_777_600


@dataclass(frozen=True, slots=True)
class _Price:
    input: float | None = None
    output: float | None = None
    per_request: float | None = None

    def to_json(self) -> dict[str, Any]:
        tokens = self.per_request is None
        return {
            "currency": "USD / M Tokens" if tokens else "USD / Request",
            "input": self.input,
            "output": self.output,
            "per_request": self.per_request,
            "per_second": None,
        }


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """One catalog entry."""

    id: str
    provider: str
    model_type: str
    features: tuple[str, ...]
    price: _Price
    doc: str
    endpoints: tuple[str, ...]
    """new-api's ``supported_endpoint_types``."""
    apis: tuple[str, ...]
    """The simulator APIs (registry names in :mod:`.apis`) that serve this model; empty
    for the text models, which no route here serves."""

    def to_json(self) -> dict[str, Any]:
        """The ``/api/models`` record."""
        return {
            "id": self.id,
            "provider": self.provider,
            "model_type": self.model_type,
            "features": list(self.features),
            "pricing": self.price.to_json(),
            "api_doc_url": f"{_DOC}{self.doc}",
        }


_OPENAI_PRICES: Final[Mapping[str, _Price]] = {
    "gpt-image-1": _Price(5, 40),
    "gpt-image-1-mini": _Price(2, 8),
    "gpt-image-1.5": _Price(5, 32),
    "gpt-image-2": _Price(4, 24),
    "gpt-image-2-2026-04-21": _Price(4, 24),
    "chatgpt-image-latest": _Price(5, 40),
    "dall-e-2": _Price(per_request=0.016),
    "dall-e-3": _Price(per_request=0.04),
    "qwen-image": _Price(per_request=0.03),
    "qwen-image-edit": _Price(per_request=0.03),
    "doubao-seedream-4-5-251128": _Price(per_request=0.04),
    "doubao-seedream-5-0-260128": _Price(per_request=0.035),
}
_OPENAI_PROVIDERS: Final[Mapping[str, str]] = {
    "qwen": "Alibaba",
    "doubao": "ByteDance",
}
_GEMINI_PRICES: Final[Mapping[str, _Price]] = {
    "gemini-3.1-flash-image-preview": _Price(0.5, 60),
    "gemini-3-pro-image-preview": _Price(2, 120),
    "gemini-2.5-flash-image": _Price(0.3, 30),
}
_FLUX_PRICES: Final[Mapping[str, float]] = {
    "flux-pro-1.1-ultra": 0.06,
    "flux-pro-1.1": 0.04,
    "flux-pro": 0.05,
    "flux-dev": 0.025,
    "flux-pro-1.0-fill": 0.05,
    "flux-pro-1.0-canny": 0.05,
    "flux-pro-1.0-depth": 0.05,
    "flux-kontext-pro": 0.04,
    "flux-kontext-max": 0.08,
    "flux-2-pro": 0.03,
    "flux-2-flex": 0.06,
    "flux-2-max": 0.07,
}
# Per-request USD of a fast-mode action; turbo costs twice, relax half.
_MJ_FAST_PRICES: Final[Mapping[str, float]] = {
    "imagine": 0.084,
    "upscale": 0.042,
    "variation": 0.084,
    "reroll": 0.084,
}
_MJ_SPEED_FACTORS: Final[Mapping[str, float]] = {"fast": 1.0, "turbo": 2.0, "relax": 0.5}
_BRIA_PRICE: Final = 0.04


def _openai_records() -> list[ModelRecord]:
    records = []
    for model in openai_plans.MODELS:
        features = ["text-to-image"] if openai_plans.serves_generations(model) else []
        endpoints = ["image-generation"] if features else []
        apis = ["openai.generations"] if features else []
        if openai_plans.is_edit_model(model):
            features.append("image-to-image")
            endpoints.append("image-edit")
            apis.append("openai.edits")
        provider = next(
            (name for prefix, name in _OPENAI_PROVIDERS.items() if model.startswith(prefix)),
            "OpenAI",
        )
        images_doc = "/api/image/openai/images"
        doc = images_doc if "text-to-image" in features else "/api/image/openai/image-editing"
        records.append(
            ModelRecord(
                id=model,
                provider=provider,
                model_type="image",
                features=tuple(features),
                price=_OPENAI_PRICES[model],
                doc=doc,
                endpoints=tuple(endpoints),
                apis=tuple(apis),
            )
        )
    return records


def _gemini_records() -> list[ModelRecord]:
    return [
        ModelRecord(
            id=model,
            provider="Google",
            model_type="image",
            features=("text-to-image", "image-to-image"),
            price=_GEMINI_PRICES[model],
            doc="/api/image/gemini/gemini-generates-image",
            endpoints=("gemini",),
            apis=("gemini",),
        )
        for model in gemini.MODELS
    ]


def _flux_records() -> list[ModelRecord]:
    return [
        ModelRecord(
            id=model,
            provider="Black Forest Labs",
            model_type="image",
            features=("text-to-image",),
            price=_Price(per_request=_FLUX_PRICES[model]),
            doc="/api/image/flux/flux-generate-image",
            endpoints=("flux",),
            apis=("flux",),
        )
        for model in flux.MODELS
    ]


def _midjourney_records() -> list[ModelRecord]:
    return [
        ModelRecord(
            id=f"mj_{mode}_{action}",
            provider="Midjourney",
            model_type="image",
            features=("text-to-image",),
            price=_Price(per_request=round(price * _MJ_SPEED_FACTORS[mode], 4)),
            doc="/api/image/midjourney/imagine",
            endpoints=("midjourney",),
            apis=("midjourney",),
        )
        for mode in midjourney_tasks.MODES
        for action, price in _MJ_FAST_PRICES.items()
    ]


def _bria_records() -> list[ModelRecord]:
    text_to_image = ModelRecord(
        id=bria.TEXT_TO_IMAGE_MODEL,
        provider="Bria",
        model_type="image",
        features=("text-to-image",),
        price=_Price(per_request=_BRIA_PRICE),
        doc="/api/image/bria/generate-image",
        endpoints=("bria",),
        apis=("bria",),
    )
    return [text_to_image] + [
        ModelRecord(
            id=f"bria-{action.replace('_', '-')}",
            provider="Bria",
            model_type="image",
            features=("image-to-image",),
            price=_Price(per_request=_BRIA_PRICE),
            doc="/api/image/bria/image-editing",
            endpoints=("bria",),
            apis=("bria.edit",),
        )
        for action in bria_edit.ACTIONS
    ]


_TEXT_RECORDS: Final = (
    ModelRecord(
        id="gpt-4o-mini",
        provider="OpenAI",
        model_type="text",
        features=("text-to-text",),
        price=_Price(0.15, 0.6),
        doc="/api/text/chat",
        endpoints=("openai",),
        apis=(),
    ),
    ModelRecord(
        id="gemini-2.5-flash",
        provider="Google",
        model_type="text",
        features=("text-to-text",),
        price=_Price(0.3, 2.5),
        doc="/api/text/chat",
        endpoints=("openai", "gemini"),
        apis=(),
    ),
)


def build_catalog() -> tuple[ModelRecord, ...]:
    """Every model the simulator lists, in a stable order."""
    return (
        *_openai_records(),
        *_gemini_records(),
        *_flux_records(),
        *_midjourney_records(),
        *_bria_records(),
        *_TEXT_RECORDS,
    )


CATALOG: Final[Sequence[ModelRecord]] = build_catalog()
"""The catalog (immutable, so a module constant holds no state)."""


def models_for(api: str) -> tuple[str, ...]:
    """The catalog ids of the models simulator API *api* serves, in catalog order."""
    return tuple(record.id for record in CATALOG if api in record.apis)


async def _public_models(call: Call) -> web.StreamResponse:
    """``GET /api/models``: the public catalog, no key needed, not counted."""
    data = [record.to_json() for record in CATALOG]
    return json_response(
        {"success": True, "page": 0, "page_size": 0, "total": len(data), "data": data}
    )


async def _v1_models(call: Call) -> web.StreamResponse:
    data = [
        {
            "id": record.id,
            "object": "model",
            "created": _CREATED,
            "owned_by": record.provider.lower().replace(" ", "-"),
            "supported_endpoint_types": list(record.endpoints),
        }
        for record in CATALOG
    ]
    return await call.reply({"object": "list", "success": True, "data": data})


ROUTES: Final = (
    Route("GET", "/api/models", endpoint(PUBLIC, _public_models)),
    Route("GET", "/v1/models", endpoint(Admission(), _v1_models)),
)
"""Both catalog routes (they serve no one client API, so they are not in the registry)."""
