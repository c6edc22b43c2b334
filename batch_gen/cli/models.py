"""``batch_gen models`` (the catalog of models and prices) and ``batch_gen simulator``."""

from __future__ import annotations

import argparse
import json
import os
import sys

from batch_gen.cli.exits import EXIT_INTERRUPTED, EXIT_OK
from batch_gen.config import base_url_from


def models_command(args: argparse.Namespace) -> int:
    """List the catalog's models (``--json``: as JSON); exit 0."""
    import asyncio

    from batch_gen.planning.preflight import catalog_for
    from batch_gen.pricing.catalog import format_models, models_to_json

    base_url = None if args.offline else base_url_from(os.environ, given=args.base_url)
    catalog = asyncio.run(
        catalog_for(offline=args.offline, base_url=base_url, refresh=args.refresh)
    )
    models = catalog.of_type(args.type)
    if args.json:
        print(json.dumps(models_to_json(models), indent=2))
    else:
        print(format_models(models))
        print(f"{len(models)} models; prices from {catalog.source}", file=sys.stderr)
    if catalog.warning:
        print(f"batch_gen: {catalog.warning}", file=sys.stderr)
    return EXIT_OK


def simulator_command(args: argparse.Namespace) -> int:
    """Serve the simulator until Ctrl-C (exit 130)."""
    import asyncio

    from batch_gen.simulator import serve
    from batch_gen.simulator.cli_args import config_from_namespace

    try:
        asyncio.run(serve(config_from_namespace(args)))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK
