"""The checks before anything is sent, shared by ``run`` and ``run --dry-run``: load the
model catalog, refuse models it does not know, and gather what prices need."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from batch_gen import __version__
from batch_gen.config import BASE_URL_VARIABLE, RunOptions
from batch_gen.errors import ConfigurationError, ManifestError, Problem
from batch_gen.models import DEFAULT_BASE_URL, Job, JobRecord, Manifest
from batch_gen.pricing.catalog import Catalog, unknown_model_message, unknown_models
from batch_gen.pricing.catalog_source import cached_or_built, default_cache_dir, load_catalog
from batch_gen.pricing.cost import history_from


@dataclass(frozen=True, slots=True)
class Preflight:
    """What the checks found. ``catalog`` is None when prices are not known; ``unknown``
    then says why. ``notes`` are for the user (a stale cache, an empty catalog)."""

    catalog: Catalog | None
    history: Mapping[str, list[dict[str, int]]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    unknown: str | None = None


async def preflight(
    manifest: Manifest,
    options: RunOptions,
    *,
    to_run: Sequence[Job],
    records: Mapping[str, JobRecord],
    check_models: bool,
    need_prices: bool,
) -> Preflight:
    """Load the catalog and check ``to_run``'s models against it.

    Raises ManifestError (at the first job of each unknown model) when ``check_models``,
    and ConfigurationError when ``need_prices`` (``--max-cost``) and there are none.
    Without a catalog (unreachable, and no cache), a run goes on unchecked and unpriced.
    """
    try:
        catalog = await catalog_for(offline=options.offline, base_url=options.base_url)
    except ConfigurationError as error:
        if need_prices:
            raise ConfigurationError(f"--max-cost needs model prices: {error}") from error
        return Preflight(
            None, notes=(f"models not checked and costs not known: {error}",), unknown=str(error)
        )
    notes = (catalog.warning,) if catalog.warning else ()
    if not catalog.models:
        # A gateway answering with an empty list is not saying every model is unknown.
        if need_prices:
            raise ConfigurationError("--max-cost needs model prices: the catalog is empty")
        empty = f"the model catalog at {catalog.source} is empty: models not checked"
        return Preflight(None, notes=(*notes, empty), unknown="the model catalog is empty")
    if check_models:
        problems = model_problems(to_run, catalog, manifest.path)
        if problems:
            raise ManifestError(problems)
    return Preflight(catalog, history=history_from(manifest.jobs, records), notes=notes)


def model_problems(jobs: Sequence[Job], catalog: Catalog, manifest_path: Path) -> list[Problem]:
    """A problem per model the catalog does not know, at the first job that uses it."""
    first: dict[str, Job] = {}
    for job in jobs:
        first.setdefault(job.model, job)
    return [
        Problem(str(manifest_path), first[model].line, "model", unknown_model_message(model, hint))
        for model, hint in unknown_models(first, catalog)
    ]


async def catalog_for(*, offline: bool, base_url: str | None, refresh: bool = False) -> Catalog:
    """The model catalog: the built-in simulator's when offline, else CometAPI's (cached for
    a day). Raises ConfigurationError when it cannot be had."""
    if offline:  # the simulator's own table, cached: importing the simulator takes 0.2 s
        return cached_or_built(
            f"simulator://batch_gen-{__version__}",
            cache_dir=default_cache_dir(),
            build=_simulator_catalog,
        )
    url = base_url or os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
    return await load_catalog(base_url=url, cache_dir=default_cache_dir(), refresh=refresh)


def _simulator_catalog() -> dict[str, object]:
    from batch_gen.simulator.catalog import CATALOG

    return {"success": True, "data": [record.to_json() for record in CATALOG]}
