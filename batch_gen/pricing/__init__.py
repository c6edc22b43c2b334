"""Prices: the model catalog, where it comes from, and what a run costs.

:mod:`~batch_gen.pricing.catalog` is the catalog value and its parsing (pure),
:mod:`~batch_gen.pricing.catalog_source` fetches and caches it (the only I/O here),
:mod:`~batch_gen.pricing.cost` estimates and prices jobs, and
:mod:`~batch_gen.pricing.budget` keeps the ``--max-cost`` ledger.
"""

from __future__ import annotations

from batch_gen.pricing.catalog import Catalog, format_usd

__all__ = ["Catalog", "format_usd"]
