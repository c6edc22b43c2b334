"""Getting the model catalog: one public GET, and a per-base-URL cache on disk.

The only module of :mod:`batch_gen.pricing` that does I/O. :func:`fetch_catalog` sends one
``GET {base_url}/api/models`` (never with credentials; through the proxy the environment
names, as every call does); :func:`load_catalog` keeps a cache file per base URL under
:func:`default_cache_dir` (``~/.cache/batch_gen`` by default), one day old at most by
default, and falls back to an older copy when a fetch fails. Every
failure a caller sees is a :class:`~batch_gen.errors.ConfigurationError` naming the URL.
aiohttp is imported inside the async functions only, so that listing, planning and
``status`` stay light.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batch_gen.errors import ConfigurationError
from batch_gen.pricing.catalog import Catalog, parse_catalog, short_text
from batch_gen.providers.http import Proxies, connect_error

if TYPE_CHECKING:
    import aiohttp

CATALOG_PATH = "/api/models"
DEFAULT_MAX_AGE = 86400.0  # seconds: prices change rarely, new models appear weekly
CACHE_DIR_VARIABLE = "BATCH_GEN_CACHE_DIR"
_CACHE_FORMAT = 1
_MAX_BODY = 32 * 1024 * 1024  # the whole catalog is ~100 KB; anything this big is not it
# Headers that carry a key somewhere in batch_gen or its peers; the catalog must get none.
_CREDENTIAL_HEADERS = frozenset({"authorization", "x-goog-api-key", "api-key", "x-api-key"})


# --- the answer of /api/models (pure) ---------------------------------------------------


def catalog_url(base_url: str) -> str:
    """Where the catalog of ``base_url`` lives."""
    return base_url.rstrip("/") + CATALOG_PATH


def decode_answer(
    url: str, *, status: int, content_type: str, location: str | None, body: bytes
) -> object:
    """The JSON document of a catalog answer, or ConfigurationError saying what went wrong.

    A redirect or an HTML page is CometAPI's answer to a wrong path (see
    ``docs/protocols/common.md``), so both are reported as a wrong base URL.
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
            return short_text(error["message"])
        for field in ("message", "description", "detail"):
            if document.get(field):
                return short_text(document[field])
    return short_text(body.decode("utf-8", "replace")) or "(empty body)"


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
    proxy = Proxies.from_environ().for_url(url)  # HTTPS_PROXY / NO_PROXY, as every call
    try:
        async with session.get(
            url,
            headers={"Accept": "application/json"},
            allow_redirects=False,  # a redirect means a wrong base URL: report, don't follow
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            proxy=proxy,
        ) as response:
            status, content_type = response.status, response.content_type
            location = response.headers.get("Location")
            body = await _read_capped(response, url)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        unreached = connect_error(exc, what="catalog", url=url, proxy=proxy, secret=None)
        if unreached is not None:
            reason = f"cannot reach {unreached.host}: {unreached.reason}"
        elif isinstance(exc, TimeoutError):
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
