"""Shared fixtures: the simulator on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from support import SIM_KEY, SimFactory

from batch_gen.simulator import Simulator, SimulatorConfig


@pytest.fixture
def simulator() -> SimFactory:
    """``async with simulator(p429=0.1, ...) as sim``: a simulator expecting SIM_KEY."""

    @asynccontextmanager
    async def factory(**knobs: Any) -> AsyncIterator[Simulator]:
        knobs.setdefault("api_key", SIM_KEY)
        async with Simulator(SimulatorConfig(**knobs)) as sim:
            yield sim

    return factory
