"""Shared fixtures: the simulator on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from support import SIM_KEY, SimFactory

from batch_gen.simulator import Simulator, SimulatorConfig


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client session, for tests that talk to a server or to aioresponses."""
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture(autouse=True, scope="session")
def _private_catalog_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read or write the user's model-catalog cache."""
    os.environ["BATCH_GEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("catalog-cache"))


@pytest.fixture
def simulator() -> SimFactory:
    """``async with simulator(p429=0.1, ...) as sim``: a simulator expecting SIM_KEY."""

    @asynccontextmanager
    async def factory(**knobs: Any) -> AsyncIterator[Simulator]:
        knobs.setdefault("api_key", SIM_KEY)
        async with Simulator(SimulatorConfig(**knobs)) as sim:
            yield sim

    return factory
