"""Configuration of the simulator: one frozen value holding every knob.

The defaults describe a well-behaved, fast server: no latency, no faults, no rate limit,
any non-empty key accepted, small "simple" images.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class ImageMode(StrEnum):
    """How image content is synthesized."""

    SIMPLE = "simple"
    """Smooth gradient: cheap to encode, small files (the default)."""
    PHOTO = "photo"
    """Photo-like grain: nearly incompressible, so file sizes resemble real photos."""


class RetryAfterMode(StrEnum):
    """Which retry hint a 429 carries."""

    NONE = "none"
    SECONDS = "seconds"
    """``Retry-After: <integer seconds>``."""
    MS = "ms"
    """``retry-after-ms: <milliseconds>`` (OpenAI's extension)."""
    DATE = "date"
    """``Retry-After: <HTTP date>``."""


class Fault(StrEnum):
    """Outcomes a scripted or random fault can force on a generation request."""

    OK = "ok"
    UNAUTHORIZED = "401"
    RATE_LIMIT = "429"
    SERVER_ERROR = "500"
    INVALID_REQUEST_500 = "500_invalid"
    """500 with ``code:"invalid_request"``: clients must not retry it."""
    UNAVAILABLE = "503"
    GATEWAY_TIMEOUT = "504"
    CLOUDFLARE_TIMEOUT = "524"
    """Cloudflare's origin timeout, with an HTML body."""
    DROP = "drop"
    """The connection is closed after the request was read, without any answer."""
    TRUNCATE = "truncate"
    """A 200 whose body stops half way, below its Content-Length."""
    BAD_B64 = "bad_b64"
    """A 200 whose image data does not decode."""

    @property
    def billed(self) -> bool:
        """Whether the image was generated (and so charged) although the client got none.

        These are the ambiguous outcomes: the work happened upstream, then the answer was
        lost or mangled on the way back.
        """
        return self in _BILLED_FAULTS


_BILLED_FAULTS = frozenset(
    {
        Fault.OK,
        Fault.GATEWAY_TIMEOUT,
        Fault.CLOUDFLARE_TIMEOUT,
        Fault.DROP,
        Fault.TRUNCATE,
        Fault.BAD_B64,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorConfig:
    """Every knob of the simulator. Probabilities are per generation request, in [0, 1],
    drawn from ``random.Random(seed)``, and must sum to at most 1.

    Raises ValueError on construction when a value is out of range.
    """

    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port."""
    api_key: str | None = None
    """The key clients must present; None accepts any non-empty key."""

    latency: float = 0.0
    """Seconds to wait before answering a request that reaches "upstream" generation."""
    latency_jitter: float = 0.0
    """Extra uniform random delay in [0, latency_jitter] seconds."""

    p429: float = 0.0
    p500: float = 0.0
    p500_invalid_request: float = 0.0
    p503: float = 0.0
    p504: float = 0.0
    p524: float = 0.0
    pdrop: float = 0.0
    ptruncate: float = 0.0
    pbad_b64: float = 0.0
    retry_after: RetryAfterMode = RetryAfterMode.SECONDS
    """The hint sent with injected 429s (rpm-limit 429s state the real wait in this mode)."""
    retry_after_seconds: float = 1.0

    rpm_limit: int = 0
    """Requests per minute allowed, enforced over ``rpm_window``; 0 means no limit."""
    rpm_window: float = 5.0
    """Length of the sliding window in seconds; it admits ``max(1, rpm_limit*window/60)``."""

    trigger_word: str | None = "forbidden-fruit"
    """A prompt containing this (case-insensitive) is refused as moderation_blocked."""
    image_mode: ImageMode = ImageMode.SIMPLE
    image_variants: int = 4
    """Distinct pictures per (size, format, mode); prompts are hashed onto them."""
    image_cache_bytes: int = 256 * 1024 * 1024
    seed: int | None = None
    """Seed of the fault/jitter RNG; None draws a fresh one."""

    scripts: Mapping[str, Sequence[str]] = field(default_factory=dict, hash=False)
    """Per-prompt fault scripts: for a prompt containing a key, its k-th request meets the
    k-th fault name (a :class:`Fault` value), then "ok" once the script is exhausted. The
    first matching key wins. Scripts take precedence over probabilities."""

    def __post_init__(self) -> None:
        # Accept plain strings for the enum fields (as argparse and tests naturally give)
        # and freeze the scripts so the config stays a value.
        object.__setattr__(self, "retry_after", RetryAfterMode(self.retry_after))
        object.__setattr__(self, "image_mode", ImageMode(self.image_mode))
        scripts: dict[str, tuple[Fault, ...]] = {}
        for key, steps in self.scripts.items():
            if not key:
                raise ValueError("script keys must be non-empty")
            if isinstance(steps, str):
                raise ValueError(f"script {key!r} must be a sequence of fault names")
            try:
                scripts[key] = tuple(Fault(step) for step in steps)
            except ValueError as exc:
                choices = ", ".join(f.value for f in Fault)
                raise ValueError(f"script {key!r}: {exc}; choose from {choices}") from None
        object.__setattr__(self, "scripts", MappingProxyType(scripts))

        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if self.api_key is not None and not self.api_key:
            raise ValueError("api_key must be non-empty or None")
        for name in ("latency", "latency_jitter", "retry_after_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        for name, value in self.fault_probabilities():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"probability for {name} must be in [0, 1], got {value}")
        if sum(p for _, p in self.fault_probabilities()) > 1.0 + 1e-9:
            raise ValueError("fault probabilities must sum to at most 1")
        if self.rpm_limit < 0:
            raise ValueError(f"rpm_limit must be >= 0, got {self.rpm_limit}")
        if not (math.isfinite(self.rpm_window) and self.rpm_window > 0):
            raise ValueError(f"rpm_window must be > 0, got {self.rpm_window}")
        if self.image_variants < 1:
            raise ValueError(f"image_variants must be >= 1, got {self.image_variants}")
        if self.image_cache_bytes < 0:
            raise ValueError("image_cache_bytes must be >= 0")

    def fault_probabilities(self) -> tuple[tuple[Fault, float], ...]:
        """The random faults and their probabilities, in the fixed order they are drawn."""
        return (
            (Fault.RATE_LIMIT, self.p429),
            (Fault.SERVER_ERROR, self.p500),
            (Fault.INVALID_REQUEST_500, self.p500_invalid_request),
            (Fault.UNAVAILABLE, self.p503),
            (Fault.GATEWAY_TIMEOUT, self.p504),
            (Fault.CLOUDFLARE_TIMEOUT, self.p524),
            (Fault.DROP, self.pdrop),
            (Fault.TRUNCATE, self.ptruncate),
            (Fault.BAD_B64, self.pbad_b64),
        )

    @property
    def rpm_window_capacity(self) -> int:
        """Requests admitted per ``rpm_window`` seconds (0 when there is no limit)."""
        if self.rpm_limit == 0:
            return 0
        return max(1, math.floor(self.rpm_limit * self.rpm_window / 60))
