"""Where a run sends its requests: CometAPI (or the base URL given), or the built-in
simulator started on a free loopback port for ``--offline``. The CLI chooses; the runner
only ever sees an :class:`~batch_gen.providers.base.Endpoint`."""

from __future__ import annotations

import contextlib
import math
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Final

from .config import RunOptions
from .errors import ConfigurationError
from .providers.base import Endpoint

if TYPE_CHECKING:
    from .simulator import SimulatorConfig

OFFLINE_LATENCY_VARIABLE: Final = "BATCH_GEN_OFFLINE_LATENCY"
"""Seconds the offline simulator waits before answering each request that generates
images (polls answer at once): long enough to watch progress, stop a run with Ctrl-C and
resume it."""


# The simulator shares the run's process, and each of its images (labelled with its
# prompt) is asked for once, again only on a retry: a small cache serves the retries
# without holding the whole batch in memory.
_OFFLINE_IMAGE_CACHE_BYTES: Final = 32 * 1024 * 1024


def offline_config(api_key: str, environ: Mapping[str, str]) -> SimulatorConfig:
    """The in-process simulator's config for an offline run: the simulator's defaults,
    *api_key*, a small image cache, and the latency :data:`OFFLINE_LATENCY_VARIABLE` names
    (0 when unset or empty).

    Raises ConfigurationError naming the variable when its value is not a finite number of
    seconds >= 0.
    """
    from .simulator import SimulatorConfig

    text = environ.get(OFFLINE_LATENCY_VARIABLE, "").strip()
    latency = 0.0
    if text:
        try:
            latency = float(text)
        except ValueError:
            latency = math.nan
        if not (math.isfinite(latency) and latency >= 0):
            raise ConfigurationError(
                f"{OFFLINE_LATENCY_VARIABLE} must be a number of seconds >= 0, got {text!r}"
            )
    return SimulatorConfig(
        api_key=api_key, latency=latency, image_cache_bytes=_OFFLINE_IMAGE_CACHE_BYTES
    )


@contextlib.asynccontextmanager
async def open_endpoint(
    options: RunOptions, *, environ: Mapping[str, str] | None = None
) -> AsyncIterator[Endpoint]:
    """The endpoint ``options`` name, for the duration of the block.

    Offline, the simulator runs in this process with a fresh random key, configured by
    :func:`offline_config` from *environ* (default ``os.environ``), and stops when the
    block ends.
    """
    if not options.offline:
        yield Endpoint(options.base_url, options.api_key or "")
        return
    from .simulator import Simulator

    key = "sim-" + secrets.token_urlsafe(16)
    config = offline_config(key, os.environ if environ is None else environ)
    async with Simulator(config) as simulator:
        yield Endpoint(simulator.base_url, key)
