"""The model catalog: which models CometAPI offers, of what type, at what price.

CometAPI publishes it without authentication at ``GET {base_url}/api/models`` (see
``docs/protocols/common.md``) as
``{"success": true, "page": 0, "page_size": 0, "total": N, "data": [record, ...]}``,
one record per model::

    {"id": "gpt-image-2", "provider": "OpenAI", "model_type": "image",
     "features": ["text-to-image"],
     "pricing": {"currency": "USD / M Tokens", "input": 4, "output": 24,
                 "per_request": null, "per_second": null},
     "api_doc_url": "https://apidoc.cometapi.com/api/image/openai/images"}

Pure: the :class:`Catalog` value, parsing a decoded document (:func:`parse_catalog`),
checking model ids against it (:func:`check_models`) and presenting it
(:func:`format_models`, :func:`format_usd`). Getting a document, from the network or the
cache, is :mod:`batch_gen.pricing.catalog_source`'s job.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batch_gen.errors import ConfigurationError

_MAX_MESSAGE = 300


@dataclass(frozen=True, slots=True)
class Pricing:
    """A model's prices as the catalog states them; ``None`` means "not priced this way".

    ``currency`` is the catalog's unit label (e.g. ``"USD / M Tokens"``), not an ISO code.
    Token prices are per million tokens.
    """

    currency: str
    input_per_million: float | None
    output_per_million: float | None
    per_request: float | None
    per_second: float | None

    @property
    def is_usd(self) -> bool:
        """Whether the prices are in US dollars (an empty label is taken to mean so)."""
        return not self.currency or "usd" in self.currency.lower()

    @property
    def has_token_prices(self) -> bool:
        return self.input_per_million is not None or self.output_per_million is not None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model of the catalog."""

    id: str
    provider: str
    model_type: str
    features: tuple[str, ...]
    pricing: Pricing | None
    api_doc_url: str | None


@dataclass(frozen=True, slots=True)
class Catalog:
    """The models a base URL offers, keyed by id, and where this copy came from.

    ``source`` is for people: the URL it was fetched from, or ``"cache (2 hours old)"``, or
    ``"cache (stale, 3 days old)"`` when a refresh failed; ``warning`` then says why.
    """

    models: Mapping[str, ModelInfo]
    fetched_at: float
    source: str
    warning: str | None = None

    def get(self, model_id: str) -> ModelInfo | None:
        """The model with exactly this id, or ``None``."""
        return self.models.get(model_id)

    def suggest(self, model_id: str) -> str | None:
        """The catalog id closest to ``model_id`` (ignoring case), or ``None`` if none is close."""
        by_lower = {known.lower(): known for known in self.models}
        matches = difflib.get_close_matches(model_id.lower(), list(by_lower), n=1)
        return by_lower[matches[0]] if matches else None

    def of_type(self, model_type: str | None) -> list[ModelInfo]:
        """The models of ``model_type`` (ignoring case; ``None``: all), sorted by id."""
        wanted = model_type.lower() if model_type is not None else None
        chosen = [
            info
            for info in self.models.values()
            if wanted is None or info.model_type.lower() == wanted
        ]
        return sorted(chosen, key=lambda info: info.id)


# --- parsing (pure) ---------------------------------------------------------------------


def parse_catalog(document: object, *, fetched_at: float, source: str) -> Catalog:
    """The catalog in a decoded ``/api/models`` answer.

    Tolerant of what a live gateway may send: unknown fields, missing optional fields,
    ``null`` prices, prices as numeric strings. Records without a string ``id`` are skipped;
    of duplicate ids the first wins. Raises ConfigurationError (naming ``source``) when the
    envelope itself is wrong: not an object, ``success`` false, or ``data`` not a list.
    """
    if not isinstance(document, dict):
        raise ConfigurationError(
            f"the model catalog from {source} is not a JSON object "
            f"(got {type(document).__name__}); is the base URL right?"
        )
    if document.get("success") is False:
        why = short_text(document.get("message")) or "no reason given"
        raise ConfigurationError(f"the model catalog from {source} reported failure: {why}")
    records = document.get("data")
    if not isinstance(records, list):
        raise ConfigurationError(
            f"the model catalog from {source} has no 'data' list; is the base URL right?"
        )
    models: dict[str, ModelInfo] = {}
    for record in records:
        info = _parse_model(record)
        if info is not None and info.id not in models:
            models[info.id] = info
    return Catalog(models=models, fetched_at=fetched_at, source=source)


def _parse_model(record: object) -> ModelInfo | None:
    if not isinstance(record, dict):
        return None
    model_id = record.get("id")
    if not isinstance(model_id, str) or not model_id.strip():
        return None
    features = record.get("features")
    doc_url = record.get("api_doc_url")
    return ModelInfo(
        id=model_id.strip(),
        provider=_text(record.get("provider")),
        model_type=_text(record.get("model_type")),
        features=tuple(f for f in features if isinstance(f, str))
        if isinstance(features, list)
        else (),
        pricing=_parse_pricing(record.get("pricing")),
        api_doc_url=doc_url if isinstance(doc_url, str) and doc_url else None,
    )


def _parse_pricing(value: object) -> Pricing | None:
    if not isinstance(value, dict):
        return None
    return Pricing(
        currency=_text(value.get("currency")),
        input_per_million=_price(value.get("input")),
        output_per_million=_price(value.get("output")),
        per_request=_price(value.get("per_request")),
        per_second=_price(value.get("per_second")),
    )


def _price(value: object) -> float | None:
    """A price from a number or a numeric string; ``None`` for anything else or negative."""
    if isinstance(value, bool):  # JSON true is not a price, though Python calls it 1
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().lstrip("$"))
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def short_text(value: object) -> str:
    """``value`` as one line of at most a few hundred characters; ``""`` for empty values."""
    return " ".join(str(value).split())[:_MAX_MESSAGE] if value else ""


# --- checking model ids (pure) ----------------------------------------------------------


def unknown_models(model_ids: Iterable[str], catalog: Catalog) -> list[tuple[str, str | None]]:
    """``(model_id, suggestion)`` for each distinct id not in ``catalog``, in first-seen order.

    Empty ids are left to the manifest's own validation (a missing model is its problem).
    """
    seen: set[str] = set()
    unknown: list[tuple[str, str | None]] = []
    for model_id in model_ids:
        if not model_id or model_id in seen:
            continue
        seen.add(model_id)
        if catalog.get(model_id) is None:
            unknown.append((model_id, catalog.suggest(model_id)))
    return unknown


def unknown_model_message(model_id: str, suggestion: str | None) -> str:
    """The message for one unknown model id, with a "did you mean" when there is one."""
    message = f"unknown model {model_id!r}: not in the model catalog"
    return f"{message}; did you mean {suggestion!r}?" if suggestion else message


def check_models(model_ids: Iterable[str], catalog: Catalog) -> list[str]:
    """One message per distinct unknown model id (empty: every id is in the catalog)."""
    return [
        unknown_model_message(model_id, suggestion)
        for model_id, suggestion in unknown_models(model_ids, catalog)
    ]


# --- presenting (pure) ------------------------------------------------------------------


def format_usd(amount: float) -> str:
    """Dollars for people: ``$1.23``, ``$1,234.50``, and three significant digits below $1
    (``$0.168``, ``$0.0042``) so that per-image prices do not round to ``$0.00``.
    """
    if not math.isfinite(amount):
        return f"${amount}"
    if amount < 0:
        return "-" + format_usd(-amount)
    if amount >= 1 or amount == 0:
        return f"${amount:,.2f}"
    decimals = min(max(2, 2 - math.floor(math.log10(amount))), 8)
    text = f"{amount:.{decimals}f}"
    head, tail = text.split(".")
    return f"${head}.{tail[:2]}{tail[2:].rstrip('0')}"


def format_price(pricing: Pricing | None) -> str:
    """One model's prices on one line, e.g. ``$4.00 / $24.00 per 1M in/out tokens``."""
    if pricing is None:
        return "—"
    money = format_usd if pricing.is_usd else _plain_number
    parts = []
    if pricing.per_request is not None:
        parts.append(f"{money(pricing.per_request)} per request")
    if pricing.has_token_prices:
        prices = [pricing.input_per_million, pricing.output_per_million]
        pair = " / ".join("—" if price is None else money(price) for price in prices)
        parts.append(f"{pair} per 1M in/out tokens")
    if pricing.per_second is not None:
        parts.append(f"{money(pricing.per_second)} per second")
    if not parts:
        return "—"
    text = "; ".join(parts)
    return text if pricing.is_usd else f"{text} ({pricing.currency})"


def _plain_number(amount: float) -> str:
    return f"{amount:g}"


def format_models(models: Sequence[ModelInfo]) -> str:
    """An aligned text table of ``models`` (id, type, provider, price), in the given order."""
    if not models:
        return "no models"
    rows = [("ID", "TYPE", "PROVIDER", "PRICE")]
    rows += [
        (info.id, info.model_type or "—", info.provider or "—", format_price(info.pricing))
        for info in models
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    )


def models_to_json(models: Sequence[ModelInfo]) -> list[dict[str, Any]]:
    """``models`` as JSON-ready dicts (``--json``): the field names of :class:`ModelInfo` and
    :class:`Pricing`, ``features`` as a list, ``pricing`` ``null`` when the catalog has none.
    """
    return [
        {
            "id": info.id,
            "provider": info.provider,
            "model_type": info.model_type,
            "features": list(info.features),
            "pricing": dataclasses.asdict(info.pricing) if info.pricing else None,
            "api_doc_url": info.api_doc_url,
        }
        for info in models
    ]
