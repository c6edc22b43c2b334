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


MJ_SUBMIT_CODES: frozenset[int] = frozenset({1, 4, 21, 22, 23, 24})
"""Submit codes an MJ script may name (midjourney-proxy's ``ReturnCode`` values)."""


def _fault_scripts(
    scripts: Mapping[str, Sequence[str]],
) -> Mapping[str, tuple[Fault, ...]]:
    """*scripts* checked and frozen; ValueError names the bad key."""
    frozen: dict[str, tuple[Fault, ...]] = {}
    for key, steps in scripts.items():
        if not key:
            raise ValueError("script keys must be non-empty")
        if isinstance(steps, str):
            raise ValueError(f"script {key!r} must be a sequence of fault names")
        try:
            frozen[key] = tuple(Fault(step) for step in steps)
        except ValueError as exc:
            choices = ", ".join(f.value for f in Fault)
            raise ValueError(f"script {key!r}: {exc}; choose from {choices}") from None
    return MappingProxyType(frozen)


def _mj_scripts(scripts: Mapping[str, Sequence[int]]) -> Mapping[str, tuple[int, ...]]:
    """MJ code *scripts* checked and frozen; ValueError names the bad key."""
    frozen: dict[str, tuple[int, ...]] = {}
    for key, codes in scripts.items():
        if not key:
            raise ValueError("mj_scripts keys must be non-empty")
        if isinstance(codes, str | bytes) or any(code not in MJ_SUBMIT_CODES for code in codes):
            choices = ", ".join(str(code) for code in sorted(MJ_SUBMIT_CODES))
            raise ValueError(f"mj_scripts {key!r} must be a sequence of codes from {choices}")
        frozen[key] = tuple(codes)
    return MappingProxyType(frozen)


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
    image_labels: bool = True
    """Write each image's prompt on it, on a colour field the prompt picks: different
    prompts give visibly different images, each rendered once and then cached. Off, prompts
    are hashed onto ``image_variants`` unlabelled pictures, a handful of encodings for any
    number of prompts (the benchmark's setting, so that the server's CPU stays small)."""
    image_variants: int = 4
    """Distinct pictures per (size, format, mode, prompt): the ``n`` images of one request
    differ; with ``image_labels`` off, prompts are hashed onto them."""
    image_cache_bytes: int = 256 * 1024 * 1024
    seed: int | None = None
    """Seed of the fault/jitter RNG; None draws a fresh one."""

    scripts: Mapping[str, Sequence[str]] = field(default_factory=dict, hash=False)
    """Per-prompt fault scripts: for a prompt containing a key, its k-th request meets the
    k-th fault name (a :class:`Fault` value), then "ok" once the script is exhausted. The
    first matching key wins. Scripts take precedence over probabilities. They apply to
    every request that carries a prompt and does upstream work: generations, edits, Gemini
    and task submits (MJ imagine and action, Flux, Bria); never to polls or downloads."""

    max_image_side: int = 1024
    """Long side of images whose size a request gives only as an aspect ratio or tier
    (Gemini ``imageSize`` 1K/2K/4K, Bria, Flux ultra/kontext, qwen-image-edit): 1K is
    1024, 2K 2048, 4K 4096, each capped here to keep renders cheap."""

    gemini_no_image_word: str | None = "no-image-please"
    """A Gemini prompt containing this answers 200 with ``finishReason: IMAGE_SAFETY`` and
    text only (the trigger word instead gives ``promptFeedback.blockReason: SAFETY``)."""

    mj_task_seconds: float = 0.6
    """Time a Midjourney task takes from submit to SUCCESS in fast mode (turbo half of it,
    relax twice); progress is read off the clock, so clients must poll."""
    mj_fail_word: str | None = "mj-fail"
    """An MJ prompt containing this ends in FAILURE with a failReason."""
    mj_p21: float = 0.0
    """Probability that an imagine submit answers code 21 (already exists)."""
    mj_p22: float = 0.0
    """Probability that an imagine submit answers code 22 (queued; the task starts late)."""
    mj_p23: float = 0.0
    """Probability that an imagine submit answers code 23 (queue full; nothing created)."""
    mj_scripts: Mapping[str, Sequence[int]] = field(default_factory=dict, hash=False)
    """Per-prompt imagine submit codes, like :attr:`scripts`: for a prompt containing a
    key, its k-th imagine submit answers the k-th code (1, 4, 21, 22, 23 or 24), then 1."""

    flux_task_seconds: float = 0.6
    """Time a Flux task stays Pending before it is Ready (or moderated / Error)."""
    flux_sample_ttl: float = 600.0
    """Seconds a Flux ``result.sample`` URL stays downloadable after the task is Ready."""
    flux_moderate_word: str | None = "flux-moderate"
    """A Flux prompt containing this ends as ``Content Moderated`` (the trigger word gives
    ``Request Moderated``)."""
    flux_error_word: str | None = "flux-error"
    """A Flux prompt containing this ends as ``Error``."""
    flux_not_found_polls: int = 0
    """Each Flux task answers ``Task not found`` to its first this many polls, as a gateway
    whose status store has not caught up with a submit yet does (eventual consistency): the
    task exists, is billed and makes progress meanwhile. 0 (the default) never does."""

    bria_task_seconds: float = 0.6
    """Time a Bria edit stays IN_PROGRESS."""
    bria_error_word: str | None = "bria-fail"
    """A Bria edit whose prompt or image URL contains this ends as ERROR."""

    task_ttl: float = 900.0
    """Seconds after submit until a Flux or Bria task is forgotten (Flux answers ``Task not
    found``, Bria 404). Midjourney tasks never expire (``/mj/image/{id}`` is stable)."""

    def __post_init__(self) -> None:
        # Accept plain strings for the enum fields (as argparse and tests naturally give)
        # and freeze the scripts so the config stays a value.
        object.__setattr__(self, "retry_after", RetryAfterMode(self.retry_after))
        object.__setattr__(self, "image_mode", ImageMode(self.image_mode))
        object.__setattr__(self, "scripts", _fault_scripts(self.scripts))
        object.__setattr__(self, "mj_scripts", _mj_scripts(self.mj_scripts))

        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if self.api_key is not None and not self.api_key:
            raise ValueError("api_key must be non-empty or None")
        for name in ("latency", "latency_jitter", "retry_after_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        for name in (
            "mj_task_seconds",
            "flux_task_seconds",
            "flux_sample_ttl",
            "bria_task_seconds",
            "task_ttl",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        mj_probabilities = (self.mj_p21, self.mj_p22, self.mj_p23)
        if not all(0.0 <= p <= 1.0 for p in mj_probabilities) or sum(mj_probabilities) > 1 + 1e-9:
            raise ValueError("mj_p21, mj_p22 and mj_p23 must be in [0, 1] and sum to at most 1")
        if not 16 <= self.max_image_side <= 4096:
            raise ValueError(f"max_image_side must be in 16..4096, got {self.max_image_side}")
        for name, value in self.fault_probabilities():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"probability for {name} must be in [0, 1], got {value}")
        if sum(p for _, p in self.fault_probabilities()) > 1.0 + 1e-9:
            raise ValueError("fault probabilities must sum to at most 1")
        if self.rpm_limit < 0:
            raise ValueError(f"rpm_limit must be >= 0, got {self.rpm_limit}")
        if not (math.isfinite(self.rpm_window) and self.rpm_window > 0):
            raise ValueError(f"rpm_window must be > 0, got {self.rpm_window}")
        if self.flux_not_found_polls < 0:
            raise ValueError(f"flux_not_found_polls must be >= 0, got {self.flux_not_found_polls}")
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
