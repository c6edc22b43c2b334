"""Job keys and ids: pure functions of what a job asks for.

A job's *key* is a hash of everything that decides its image. The state store compares keys
to decide, like make, what must run again: an edited prompt or field changes the key, a
reordered manifest or a re-indented YAML file does not. A job's *id* is its stable,
readable name; when the manifest gives none, :func:`derive_id` makes one from the prompt.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import msgspec

# Bump when the canonical document below changes shape, so that old keys stop matching
# (every job then runs again) instead of silently meaning something else.
KEY_FORMAT_VERSION = 1

SHORT_KEY_LENGTH = 12
_SLUG_MAX = 40
_ID_HASH_LENGTH = 6


def job_key(
    *,
    provider: str,
    api: str,
    endpoint: str,
    prompt: str,
    request: Mapping[str, Any],
    inputs: Mapping[str, str] | None = None,
) -> str:
    """Return the job's key: the sha256 hex digest of a canonical JSON document.

    The document holds :data:`KEY_FORMAT_VERSION`, the provider, the provider route
    (``api`` and ``endpoint``), the prompt exactly as written, every request field
    (``model``, ``n``, pass-through params, ...) and ``inputs`` (input file name → sha256
    of its contents). Keys are sorted at every level, so the order fields were written in
    never matters. ``request`` must be JSON-compatible: nested mappings, lists, strings,
    finite numbers, booleans and ``None``; anything else raises ``TypeError`` or
    ``ValueError``.
    """
    document = {
        "key_format": KEY_FORMAT_VERSION,
        "provider": provider,
        "api": api,
        "endpoint": endpoint,
        "prompt": prompt,
        "request": request,
        "inputs": inputs or {},
    }
    _require_finite(request)
    if inputs:
        _require_finite(inputs)
    # msgspec sorts keys at every level and writes compact UTF-8: the same bytes as
    # json.dumps with sort_keys, separators=(",", ":") and ensure_ascii=False, about ten
    # times faster. This runs once per job, 100,000 times for a large manifest.
    text = msgspec.json.encode(document, order="sorted", enc_hook=_mapping_as_dict)
    return hashlib.sha256(text).hexdigest()


class KeyTemplate:
    """:func:`job_key` for the many jobs that share everything but their prompt (and have
    no input files): the rest of the canonical document is encoded once.

    ``KeyTemplate(provider=p, api=a, endpoint=e, request=r).key(prompt)`` equals
    ``job_key(provider=p, api=a, endpoint=e, prompt=prompt, request=r)``. The document's
    keys are sorted, so its bytes are the part before ``"prompt"`` (``api``, ``endpoint``,
    ``inputs``, ``key_format``), the prompt, then the part after it (``provider``,
    ``request``). ``request`` is checked as :func:`job_key` checks it, and must not change
    afterwards.
    """

    __slots__ = ("_head", "_tail")

    def __init__(
        self, *, provider: str, api: str, endpoint: str, request: Mapping[str, Any]
    ) -> None:
        _require_finite(request)
        before = {"api": api, "endpoint": endpoint, "inputs": {}, "key_format": KEY_FORMAT_VERSION}
        after = {"provider": provider, "request": request}
        head = msgspec.json.encode(before, order="sorted")
        tail = msgspec.json.encode(after, order="sorted", enc_hook=_mapping_as_dict)
        self._head = head[:-1] + b',"prompt":'  # without the closing brace
        self._tail = b"," + tail[1:]  # without the opening brace

    def key(self, prompt: str) -> str:
        """The key of the job asking for ``prompt``."""
        text = b"".join((self._head, msgspec.json.encode(prompt), self._tail))  # one copy
        return hashlib.sha256(text).hexdigest()


def _require_finite(mapping: Mapping[str, Any]) -> None:
    """Raise ValueError for NaN or infinity anywhere in ``mapping``: they have no JSON
    spelling (msgspec would write null, and two different requests would share a key)."""
    for value in mapping.values():
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            continue  # by far the most common values: no isinstance and its ABC checks
        if kind is float:
            if not math.isfinite(value):
                raise ValueError(f"{value!r} cannot be part of a job key")
        elif isinstance(value, Mapping):
            _require_finite(value)
        elif isinstance(value, list | tuple):
            _require_finite({str(position): item for position, item in enumerate(value)})


def short_key(key: str) -> str:
    """Return the first 12 characters of ``key`` (after an ``algo:`` prefix, if one is
    ever added): the ``{key}`` file-name placeholder."""
    return key.rpartition(":")[2][:SHORT_KEY_LENGTH]


def derive_id(prompt: str) -> str:
    """Return a readable, stable id for a job that has none: ``<slug>-<hash6>``.

    The slug is the prompt's first words in lowercase ASCII (accents dropped, every run of
    other characters turned into one '-'), cut at a word boundary to at most 40
    characters; ``job`` when nothing ASCII is left. The suffix is the first 6 hex digits
    of sha256(prompt), so prompts sharing their first words still get different ids. The
    result always matches ``[a-z0-9][a-z0-9-]*``.
    """
    digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:_ID_HASH_LENGTH]
    return f"{_slug(prompt) or 'job'}-{digest}"


def _slug(text: str) -> str:
    # NFKD splits "é" into "e" + a combining accent, which the ASCII encode then drops.
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) <= _SLUG_MAX:
        return slug
    cut = slug[: _SLUG_MAX + 1]
    # Prefer ending on a whole word; a single over-long word is cut where it stands.
    head = cut.rsplit("-", 1)[0] if "-" in cut else cut[:_SLUG_MAX]
    return head[:_SLUG_MAX].strip("-")


def _mapping_as_dict(value: object) -> dict[str, Any]:
    # json only knows dict; accept any Mapping (e.g. MappingProxyType) as the same document.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"not JSON-compatible: {type(value).__name__}")
