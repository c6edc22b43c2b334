"""Run options: the manifest's ``run:`` section, overridden by the command line and the
environment, checked once and frozen.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigurationError, MissingKeyError, UsageError
from .models import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RPM,
    DEFAULT_TIMEOUT,
    Manifest,
)
from .retry import RetryPolicy
from .shards import Shard

KEY_VARIABLE = "COMETAPI_KEY"
BASE_URL_VARIABLE = "COMETAPI_BASE_URL"
# A test switch in the manner of stamina's: multiplies every retry delay (e.g. 0.01).
RETRY_SCALE_VARIABLE = "BATCH_GEN_RETRY_SCALE"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything a run needs besides the manifest. ``api_key`` never shows in ``repr``."""

    output_dir: Path
    filename: str
    concurrency: int = DEFAULT_CONCURRENCY
    rpm: int = DEFAULT_RPM
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = 15.0
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    offline: bool = False
    only: frozenset[str] | None = None
    retry_failed: bool = False
    force: bool = False
    fail_fast: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    grace: float = 5.0  # seconds in-flight requests may finish after Ctrl-C / SIGTERM
    report_path: Path | None = None
    max_download_bytes: int = 64 * 1024 * 1024
    poll_interval: float = 3.0  # seconds between polls of a task, growing to 5x
    task_timeout: float = 1800.0  # give up polling a task after this long (per try)
    max_cost: float | None = None  # USD: stop dispatching before this would be exceeded
    check_models: bool = True  # refuse models the catalog does not know (--no-catalog)
    verify: bool = False  # check every done image's sha256, not only its size (--verify)
    replace_foreign: bool = False  # may replace images another provider or manifest made
    shard: Shard | None = None  # --shard K/N: this run's state file and lock are its own

    @property
    def provider(self) -> str:
        """The provider identity that goes into job keys (see :func:`provider_of`)."""
        return provider_of(offline=self.offline, base_url=self.base_url)

    @property
    def maker(self) -> str:
        """Who makes this run's images, as sidecars record it (see :func:`maker_of`)."""
        return maker_of(self.provider)


def provider_of(*, offline: bool, base_url: str) -> str:
    """The provider identity that goes into job keys.

    Offline images come from the simulator, so they must never count as done for a real
    run: the identity differs. A custom base URL is a different provider too.
    """
    if offline:
        return "simulator"
    if base_url.rstrip("/") == DEFAULT_BASE_URL:
        return "cometapi"
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


OFFLINE_MAKER = "offline simulator"


def maker_of(provider: str) -> str:
    """Who makes the images of a provider identity (see :func:`provider_of`), as a person
    reads it and sidecars record it: the base URL's host, or the offline simulator."""
    if provider == "simulator":
        return OFFLINE_MAKER
    return urlsplit(DEFAULT_BASE_URL if provider == "cometapi" else provider).netloc or provider


def provider_identity(*, offline: bool, base_url: str | None, environ: Mapping[str, str]) -> str:
    """The provider identity for keys, before a manifest is read: from the command line,
    else ``COMETAPI_BASE_URL``, else CometAPI."""
    return provider_of(offline=offline, base_url=base_url_from(environ, given=base_url))


def _variable(environ: Mapping[str, str], name: str) -> str | None:
    """An environment variable with surrounding whitespace (spaces, tabs, CR, LF: a pasted
    value, or ``$(cat key.txt)`` of a file saved on Windows) removed; None when empty."""
    return environ.get(name, "").strip() or None


def base_url_from(environ: Mapping[str, str], *, given: str | None = None) -> str:
    """The base URL: ``given`` (the command line), else ``COMETAPI_BASE_URL``, else
    CometAPI's; surrounding whitespace removed."""
    return (given or "").strip() or _variable(environ, BASE_URL_VARIABLE) or DEFAULT_BASE_URL


def api_key_from(environ: Mapping[str, str]) -> str | None:
    """``COMETAPI_KEY`` without surrounding whitespace; None when unset or blank.

    Raises:
        ConfigurationError: the key has a space, a control character (a line break
            inside it: two lines pasted) or a non-ASCII character within it, which no key
            has and no HTTP header can carry. The message gives its position, never the key.
    """
    key = _variable(environ, KEY_VARIABLE)
    if key is None:
        return None
    for position, char in enumerate(key, 1):
        if not "!" <= char <= "~":  # printable ASCII without the space
            raise ConfigurationError(
                f"{KEY_VARIABLE} has {_char_name(char)} inside it, at character {position} of"
                f" {len(key)}; a key is one line of letters, digits and punctuation: check"
                " how it was set"
            )
    return key


def _char_name(char: str) -> str:
    """What a character that no key holds is, for a message that must not show the key."""
    names = {" ": "a space", "\t": "a tab", "\n": "a line break (LF)", "\r": "a line break (CR)"}
    return names.get(char, f"the character U+{ord(char):04X}")


# Each numeric option: its smallest value, whether it may equal it, and how to say so.
_RANGES: dict[str, tuple[float, bool, str]] = {
    "concurrency": (1, True, "a whole number of 1 or more"),
    "rpm": (0, True, "a whole number of 0 or more (0: no limit)"),
    "max_attempts": (1, True, "a whole number of 1 or more"),
    "timeout": (0, False, "a number of seconds above 0"),
    "max_cost": (0, True, "an amount in USD of 0 or more"),
    "poll_interval": (0, False, "a number of seconds above 0"),
    "task_timeout": (0, False, "a number of seconds above 0"),
}
WHOLE_NUMBER_OPTIONS = frozenset({"concurrency", "rpm", "max_attempts"})


def range_problem(option: str, value: float | str) -> str:
    """The one wording for a bad value of a numeric option (``option`` as in
    :func:`build_options`), whether it is out of range or not a number at all, e.g.
    ``--concurrency must be a whole number of 1 or more, got -1``."""
    shown = repr(value) if isinstance(value, str) else f"{value:g}"
    return f"--{option.replace('_', '-')} must be {_RANGES[option][2]}, got {shown}"


def _check_range(option: str, value: float | None) -> None:
    """UsageError (see :func:`range_problem`) when ``value`` is out of the option's range
    or not finite."""
    if value is None:
        return
    minimum, inclusive, _ = _RANGES[option]
    if not (math.isfinite(value) and (value >= minimum if inclusive else value > minimum)):
        raise UsageError(range_problem(option, value))


def build_options(
    manifest: Manifest,
    *,
    environ: Mapping[str, str] = os.environ,
    output: Path | None = None,
    concurrency: int | None = None,
    rpm: int | None = None,
    max_attempts: int | None = None,
    timeout: float | None = None,
    base_url: str | None = None,
    offline: bool = False,
    only: Collection[str] | None = None,
    retry_failed: bool = False,
    force: bool = False,
    fail_fast: bool = False,
    report_path: Path | None = None,
    require_key: bool = True,
    max_cost: float | None = None,
    check_models: bool = True,
    poll_interval: float | None = None,
    task_timeout: float | None = None,
    verify: bool = False,
    replace_foreign: bool = False,
    shard: Shard | None = None,
) -> RunOptions:
    """Merge command line (keyword arguments) over the manifest's ``run:`` over defaults.

    Raises UsageError for out-of-range values and MissingKeyError when a real run has no
    ``COMETAPI_KEY`` (``require_key=False`` for dry runs, which send nothing).
    """
    _check_ranges(
        concurrency=concurrency,
        rpm=rpm,
        max_attempts=max_attempts,
        timeout=timeout,
        max_cost=max_cost,
        poll_interval=poll_interval,
        task_timeout=task_timeout,
    )
    run = manifest.run
    url, api_key, scale = _environment(
        environ, base_url=base_url, offline=offline, require_key=require_key
    )
    attempts = max_attempts or run.max_attempts or DEFAULT_MAX_ATTEMPTS
    return RunOptions(
        output_dir=output if output is not None else manifest.output.dir,
        filename=manifest.output.filename,
        concurrency=concurrency or run.concurrency or DEFAULT_CONCURRENCY,
        rpm=rpm if rpm is not None else (run.rpm if run.rpm is not None else DEFAULT_RPM),
        timeout=timeout or run.timeout or DEFAULT_TIMEOUT,
        base_url=url,
        api_key=None if offline else api_key,
        offline=offline,
        only=frozenset(only) if only else None,
        retry_failed=retry_failed,
        force=force,
        fail_fast=fail_fast,
        retry=RetryPolicy(max_attempts=attempts, scale=max(scale, 0.0)),
        report_path=report_path,
        max_cost=max_cost,
        check_models=check_models,
        # The local simulator finishes tasks in about a second: no need to wait 3 s a poll.
        poll_interval=(0.25 if offline else 3.0) if poll_interval is None else poll_interval,
        task_timeout=1800.0 if task_timeout is None else task_timeout,
        verify=verify,
        replace_foreign=replace_foreign,
        shard=shard,
    )


def _check_ranges(**values: float | None) -> None:
    """UsageError for the first option (named as on the command line) out of its range."""
    for name, value in values.items():
        _check_range(name, value)


def _environment(
    environ: Mapping[str, str], *, base_url: str | None, offline: bool, require_key: bool
) -> tuple[str, str | None, float]:
    """The base URL, the API key and the retry scale, from the command line and the
    environment. Raises UsageError for a bad URL or scale, MissingKeyError for no key and
    ConfigurationError for a malformed one (see :func:`api_key_from`); offline, the key
    is not read."""
    url = base_url_from(environ, given=base_url)
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise UsageError(f"the base URL must be an http(s) URL, got {url!r}")
    api_key = None if offline else api_key_from(environ)
    if not offline and api_key is None and require_key:
        raise MissingKeyError(
            f"no API key: set {KEY_VARIABLE} (or use --offline to run against the simulator)"
        )
    try:
        scale = float(environ.get(RETRY_SCALE_VARIABLE, "1"))
    except ValueError:
        raise UsageError(f"{RETRY_SCALE_VARIABLE} must be a number") from None
    return url, api_key, scale
