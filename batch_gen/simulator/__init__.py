"""The built-in CometAPI-compatible image server used by ``--offline``, tests and benchmarks.

Typical use::

    async with Simulator(SimulatorConfig(api_key="sk-test")) as sim:
        ...  # point a client at f"{sim.base_url}/v1"
        assert sim.stats.billed_for("a paper boat") == 1
"""

from __future__ import annotations

from batch_gen.simulator.config import Fault, ImageMode, RetryAfterMode, SimulatorConfig
from batch_gen.simulator.server import (
    PromptStats,
    SimStats,
    Simulator,
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
    "create_app",
    "serve",
]
