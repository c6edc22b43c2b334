"""The gateway's rpm window: a sliding window of admitted arrivals."""

from __future__ import annotations

import time
from collections import deque

from batch_gen.simulator.config import SimulatorConfig


class RpmWindow:
    """Admits at most ``config.rpm_window_capacity`` requests per ``config.rpm_window``
    seconds (no limit when the capacity is 0). Refused requests do not take a slot."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._capacity = config.rpm_window_capacity
        self._window = config.rpm_window
        self._admitted: deque[float] = deque()

    def clear(self) -> None:
        """Forget every admission."""
        self._admitted.clear()

    def admit(self, now: float | None = None) -> float | None:
        """Admit one request at *now* (default ``time.monotonic()``), or return the seconds
        until it could be admitted."""
        if self._capacity == 0:
            return None
        now = time.monotonic() if now is None else now
        while self._admitted and self._admitted[0] <= now - self._window:
            self._admitted.popleft()
        if len(self._admitted) >= self._capacity:
            return self._admitted[0] + self._window - now
        self._admitted.append(now)
        return None
