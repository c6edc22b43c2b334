"""Where a run sends its requests: CometAPI (or the base URL given), or the built-in
simulator started on a free loopback port for ``--offline``. The CLI chooses; the runner
only ever sees an :class:`~batch_gen.providers.base.Endpoint`."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

from .config import RunOptions
from .providers.base import Endpoint


@contextlib.asynccontextmanager
async def open_endpoint(options: RunOptions) -> AsyncIterator[Endpoint]:
    """The endpoint ``options`` name, for the duration of the block.

    Offline, the simulator runs in this process with a fresh random key, and stops when
    the block ends.
    """
    if not options.offline:
        yield Endpoint(options.base_url, options.api_key or "")
        return
    from .simulator import Simulator, SimulatorConfig

    key = "sim-" + secrets.token_urlsafe(16)
    async with Simulator(SimulatorConfig(api_key=key)) as simulator:
        yield Endpoint(simulator.base_url, key)
