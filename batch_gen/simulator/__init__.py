"""The built-in CometAPI-compatible image server used by ``--offline``, tests and benchmarks.

Typical use::

    async with Simulator(SimulatorConfig(api_key="sk-test")) as sim:
        ...  # point a client at f"{sim.base_url}/v1"
        assert sim.stats.billed_for("a paper boat") == 1

The server names are imported on first use, so building the CLI parser (which imports
:mod:`batch_gen.simulator.cli_args`) loads neither aiohttp.web nor Pillow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batch_gen.simulator.config import Fault, ImageMode, RetryAfterMode, SimulatorConfig

if TYPE_CHECKING:
    from batch_gen.simulator.server import (
        PromptStats,
        SimStats,
        Simulator,
        TaskStats,
        UploadStats,
        create_app,
        serve,
    )

__all__ = [
    "Fault",
    "ImageMode",
    "PromptStats",
    "RetryAfterMode",
    "SimStats",
    "Simulator",
    "SimulatorConfig",
    "TaskStats",
    "UploadStats",
    "create_app",
    "serve",
]

_SERVER_NAMES = frozenset(
    {"PromptStats", "SimStats", "Simulator", "TaskStats", "UploadStats", "create_app", "serve"}
)


def __getattr__(name: str) -> Any:
    if name in _SERVER_NAMES:
        from batch_gen.simulator import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
