"""Everything mutable behind one simulator app: statistics, RNG, rpm window, fault scripts,
image cache, the ``/files/`` store and the clock that drives task progress.

One :class:`SimState` lives in ``app[STATE_KEY]``; nothing here is global. API modules
keep their own task stores under their own app keys and register them with
:func:`install_store`, so ``POST /_sim/reset`` forgets them too.
"""

from __future__ import annotations

import itertools
import random
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

from aiohttp import web

from batch_gen.simulator.config import SimulatorConfig
from batch_gen.simulator.faults import FaultScripts
from batch_gen.simulator.images import ImageCache
from batch_gen.simulator.ratelimit import RpmWindow
from batch_gen.simulator.stats import SimStats

Clock = Callable[[], float]
"""Monotonic seconds; injectable so tests can move task progress without sleeping."""

# --------------------------------------------------------------------------------------
# The /files/ store


@dataclass(frozen=True, slots=True)
class StoredFile:
    """Bytes served at a ``/files/`` URL, with the Content-Type they are served under."""

    data: bytes
    content_type: str


class FileStore:
    """Bounded store behind ``/files/``; the oldest links expire first, as real ones do."""

    def __init__(self, *, max_entries: int) -> None:
        self._files: OrderedDict[str, StoredFile] = OrderedDict()
        self._max_entries = max_entries

    def add(self, stored: StoredFile) -> str:
        """Store *stored* and return its fresh URL-safe token."""
        token = secrets.token_urlsafe(16)
        self._files[token] = stored
        while len(self._files) > self._max_entries:
            self._files.popitem(last=False)
        return token

    def get(self, token: str) -> StoredFile | None:
        """The file behind *token*, or None once unknown or evicted."""
        return self._files.get(token)


# --------------------------------------------------------------------------------------
# The state


class SimState:
    """Everything mutable behind one app: stats, RNG, rpm window, scripts, caches, clock."""

    def __init__(self, config: SimulatorConfig, *, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.stats = SimStats()
        self.images = ImageCache(max_bytes=config.image_cache_bytes)
        self.files = FileStore(max_entries=4096)
        self.rng = random.Random(config.seed)
        self.rpm = RpmWindow(config)
        self.faults = FaultScripts(config)
        self._request_numbers = itertools.count(1)
        self._task_numbers = itertools.count(1)
        self._reset_hooks: list[Callable[[], None]] = []

    def on_reset(self, hook: Callable[[], None]) -> None:
        """Call *hook* on every :meth:`reset` (API modules clear their task stores)."""
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        """Back to a freshly started server (the image cache survives: it is pure)."""
        self.stats.clear()
        self.rng = random.Random(self.config.seed)
        self.rpm.clear()
        self.faults.clear()
        for hook in self._reset_hooks:
            hook()

    def new_request_id(self) -> str:
        """A request id shaped like new-api's: a UTC timestamp followed by digits."""
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        return f"{stamp}{next(self._request_numbers) % 1_000_000:06d}{secrets.randbelow(10**6):06d}"

    def new_mj_task_id(self) -> str:
        """A midjourney-proxy task id: 16 digits (epoch ms plus a counter), as a string."""
        millis = int(time.time() * 1000)
        return f"{millis}{next(self._task_numbers) % 1000:03d}"


CONFIG_KEY: Final = web.AppKey("batch_gen.simulator.config", SimulatorConfig)
STATE_KEY: Final = web.AppKey("batch_gen.simulator.state", SimState)


class _Clearable(Protocol):
    def clear(self) -> None: ...


_Store = TypeVar("_Store", bound=_Clearable)


def install_store(app: web.Application, key: web.AppKey[_Store], store: _Store) -> None:
    """Keep *store* in ``app[key]`` and clear it whenever the app's state is reset."""
    app[key] = store
    app[STATE_KEY].on_reset(store.clear)
