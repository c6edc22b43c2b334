"""The model catalog: which models CometAPI offers, of what type, at what price.

CometAPI publishes it without authentication at ``GET {base_url}/api/models`` (PROTOCOLS.md
§6) as ``{"success": true, "page": 0, "page_size": 0, "total": N, "data": [record, ...]}``,
one record per model::

    {"id": "gpt-image-2", "provider": "OpenAI", "model_type": "image",
     "features": ["text-to-image"],
     "pricing": {"currency": "USD / M Tokens", "input": 4, "output": 24,
                 "per_request": null, "per_second": null},
     "api_doc_url": "https://apidoc.cometapi.com/api/image/openai/images"}

Decisions are pure (:func:`parse_catalog`, :meth:`Catalog.suggest`, :func:`check_models`,
:func:`format_models`); I/O sits in :func:`fetch_catalog` (one GET, never with credentials)
and :func:`load_catalog` (a per-base-URL cache file, one day old at most by default).
Every failure a caller sees is a :class:`~batch_gen.errors.ConfigurationError` naming the
URL. aiohttp is imported inside the async functions only, so that listing, planning and
``status`` stay light.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import difflib
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError

if TYPE_CHECKING:
    import aiohttp

CATALOG_PATH = "/api/models"
DEFAULT_MAX_AGE = 86400.0  # seconds: prices change rarely, new models appear weekly
CACHE_DIR_VARIABLE = "BATCH_GEN_CACHE_DIR"
_CACHE_FORMAT = 1
_MAX_BODY = 32 * 1024 * 1024  # the whole catalog is ~100 KB; anything this big is not it
_MAX_MESSAGE = 300
# Headers that carry a key somewhere in batch_gen or its peers; the catalog must get none.
_CREDENTIAL_HEADERS = frozenset({"authorization", "x-goog-api-key", "api-key", "x-api-key"})


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
        why = _short_text(document.get("message")) or "no reason given"
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


def _short_text(value: object) -> str:
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


def describe_age(seconds: float) -> str:
    """A rough age for people: ``"40 seconds"``, ``"5 minutes"``, ``"3 hours"``, ``"2 days"``."""
    seconds = max(seconds, 0.0)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        # Two of a unit before switching to it: "36 hours" reads better than "1 day".
        if seconds >= 2 * size or (unit == "minute" and seconds >= size):
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    count = int(seconds)
    return f"{count} second{'s' if count != 1 else ''}"


# --- the answer of /api/models (pure) ---------------------------------------------------


def catalog_url(base_url: str) -> str:
    """Where the catalog of ``base_url`` lives."""
    return base_url.rstrip("/") + CATALOG_PATH


def decode_answer(
    url: str, *, status: int, content_type: str, location: str | None, body: bytes
) -> object:
    """The JSON document of a catalog answer, or ConfigurationError saying what went wrong.

    A redirect or an HTML page is CometAPI's answer to a wrong path (PROTOCOLS.md §0), so
    both are reported as a wrong base URL.
    """
    hint = "check --base-url / COMETAPI_BASE_URL"
    if 300 <= status < 400:
        where = f" to {location}" if location else ""
        raise ConfigurationError(
            f"{url} answered with a redirect (HTTP {status}){where}: "
            f"the base URL looks wrong; {hint}"
        )
    looks_html = content_type == "text/html" or body.lstrip()[:1] == b"<"
    if status != 200:
        detail = "an HTML page" if looks_html else _error_text(body)
        raise ConfigurationError(f"{url} answered HTTP {status}: {detail}; {hint}")
    if looks_html:
        raise ConfigurationError(
            f"{url} answered with an HTML page, not the JSON model list: "
            f"the base URL looks wrong; {hint}"
        )
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{url} answered with a body that is not JSON: {exc}") from exc


def _error_text(body: bytes) -> str:
    """A short message from an error body: the JSON envelope's message, else the raw text."""
    try:
        document: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        document = None
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict) and error.get("message"):
            return _short_text(error["message"])
        for field in ("message", "description", "detail"):
            if document.get(field):
                return _short_text(document[field])
    return _short_text(body.decode("utf-8", "replace")) or "(empty body)"


# --- fetching (I/O) ---------------------------------------------------------------------


async def fetch_catalog(
    session: aiohttp.ClientSession,
    base_url: str,
    *,
    timeout: float = 30,  # noqa: ASYNC109 - aiohttp's per-request limit, reported with the URL
    now: Callable[[], float] = time.time,
) -> Catalog:
    """``GET {base_url}/api/models`` and parse it; ``source`` is that URL.

    Sends no credentials: the catalog is public, and a key has no business travelling to a
    URL the user may have mistyped. Raises ValueError if ``session`` would add some by
    default, ConfigurationError (naming the URL, never a key) for every failure to get a
    usable catalog.
    """
    url = catalog_url(base_url)
    document = await _fetch_document(session, url, timeout_s=timeout)
    return parse_catalog(document, fetched_at=now(), source=url)


async def _fetch_document(session: aiohttp.ClientSession, url: str, *, timeout_s: float) -> object:
    import aiohttp

    _refuse_credentials(session)
    try:
        async with session.get(
            url,
            headers={"Accept": "application/json"},
            allow_redirects=False,  # a redirect means a wrong base URL: report, don't follow
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            status, content_type = response.status, response.content_type
            location = response.headers.get("Location")
            body = await _read_capped(response, url)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout_s:g} s"
        raise ConfigurationError(f"cannot fetch the model catalog from {url}: {reason}") from exc
    return decode_answer(
        url, status=status, content_type=content_type, location=location, body=body
    )


def _refuse_credentials(session: aiohttp.ClientSession) -> None:
    carried = {name.lower() for name in session.headers} & _CREDENTIAL_HEADERS
    if carried or session.auth is not None:
        raise ValueError(
            "the model catalog is public: fetch it with a session that sends no credentials"
        )


async def _read_capped(response: aiohttp.ClientResponse, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > _MAX_BODY:
            raise ConfigurationError(f"{url} answered with more than {_MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# --- the cache (I/O) --------------------------------------------------------------------


def default_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where batch_gen keeps its caches.

    ``$BATCH_GEN_CACHE_DIR`` if set; else ``$XDG_CACHE_HOME/batch_gen`` if that is an
    absolute path (the XDG Base Directory spec says to ignore relative ones); else
    ``~/.cache/batch_gen``. macOS and Windows get the same fallback rather than
    ``~/Library/Caches`` or ``%LOCALAPPDATA%``: one rule is easier to document and to clear.
    """
    explicit = environ.get(CACHE_DIR_VARIABLE)
    if explicit:
        return Path(explicit).expanduser()
    xdg = environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "batch_gen"
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".cache" / "batch_gen"


def cache_path(cache_dir: Path, base_url: str) -> Path:
    """The cache file of ``base_url``: one per base URL, so a simulator's catalog never
    stands in for CometAPI's."""
    digest = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:12]
    return cache_dir / f"models-{digest}.json"


def _read_cache(path: Path, base_url: str) -> Catalog | None:
    """The cached catalog (``source`` "cache"), or ``None`` if absent, unreadable or corrupt."""
    try:
        stored = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("format") != _CACHE_FORMAT:
        return None
    fetched_at = stored.get("fetched_at")
    if stored.get("base_url") != base_url.rstrip("/") or not isinstance(fetched_at, int | float):
        return None
    try:
        return parse_catalog(stored.get("document"), fetched_at=float(fetched_at), source="cache")
    except ConfigurationError:
        return None


def _write_cache(path: Path, base_url: str, document: object, fetched_at: float) -> None:
    """Write the cache atomically (temp file + ``os.replace``): readers see old or new."""
    stored = {
        "format": _CACHE_FORMAT,
        "base_url": base_url.rstrip("/"),
        "fetched_at": fetched_at,
        "document": document,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(stored, file, ensure_ascii=False)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def cached_or_built(
    key: str, *, cache_dir: Path, build: Callable[[], object], now: Callable[[], float] = time.time
) -> Catalog:
    """The catalog cached under ``key``, else the document ``build()`` returns, cached.

    For catalogs that never go stale under their key (the built-in simulator's, keyed by
    batch_gen's version): no age limit. A cache that cannot be written is no error.
    """
    path = cache_path(cache_dir, key)
    cached = _read_cache(path, key)
    if cached is not None:
        return dataclasses.replace(cached, source=f"{key} (cached)")
    document = build()
    catalog = parse_catalog(document, fetched_at=now(), source=key)
    with contextlib.suppress(OSError):
        _write_cache(path, key, document, catalog.fetched_at)
    return catalog


async def load_catalog(
    *,
    base_url: str,
    cache_dir: Path,
    max_age: float = DEFAULT_MAX_AGE,
    refresh: bool = False,
    timeout: float = 30,  # noqa: ASYNC109 - as in fetch_catalog
    now: Callable[[], float] = time.time,
    session: aiohttp.ClientSession | None = None,
) -> Catalog:
    """The catalog of ``base_url``, from the cache if younger than ``max_age`` seconds.

    Otherwise (or with ``refresh``) fetches it and rewrites the cache. If fetching fails
    and a cache exists, however old, that cache is returned with ``source`` saying how old
    (``"cache (stale, 3 days old)"`` past ``max_age``) and ``warning`` holding the failure.
    Raises ConfigurationError when there is neither. Failing to write the cache is not an
    error: the catalog in hand is good. ``session`` defaults to a short-lived one of our own.
    """
    path = cache_path(cache_dir, base_url)
    cached = await asyncio.to_thread(_read_cache, path, base_url)
    if cached is not None and not refresh and _is_fresh(cached, now=now(), max_age=max_age):
        return _from_cache(cached, now=now(), max_age=max_age)
    url = catalog_url(base_url)
    try:
        document = await _fetch_with(session, url, timeout_s=timeout)
        catalog = parse_catalog(document, fetched_at=now(), source=url)
    except ConfigurationError as exc:
        if cached is None:
            raise
        return _from_cache(cached, now=now(), max_age=max_age, failure=str(exc))
    with contextlib.suppress(OSError):  # a read-only home must not stop a run
        await asyncio.to_thread(_write_cache, path, base_url, document, catalog.fetched_at)
    return catalog


async def _fetch_with(
    session: aiohttp.ClientSession | None, url: str, *, timeout_s: float
) -> object:
    if session is not None:
        return await _fetch_document(session, url, timeout_s=timeout_s)
    import aiohttp

    async with aiohttp.ClientSession() as own:
        return await _fetch_document(own, url, timeout_s=timeout_s)


def _is_fresh(cached: Catalog, *, now: float, max_age: float) -> bool:
    # A fetch time in the future means the clock moved back: trust nothing, refetch.
    return 0 <= now - cached.fetched_at < max_age


def _from_cache(
    cached: Catalog, *, now: float, max_age: float, failure: str | None = None
) -> Catalog:
    age = describe_age(now - cached.fetched_at)
    stale = "" if _is_fresh(cached, now=now, max_age=max_age) else "stale, "
    return dataclasses.replace(cached, source=f"cache ({stale}{age} old)", warning=failure)
