"""Run options: the manifest's ``run:`` section, overridden by the command line and the
environment, checked once and frozen.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import MissingKeyError, UsageError
from .models import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RPM,
    DEFAULT_TIMEOUT,
    Manifest,
)
from .retry import RetryPolicy

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
    url = base_url or environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
    return provider_of(offline=offline, base_url=url)


def _positive(name: str, value: float | None, *, minimum: float) -> None:
    if value is not None and value < minimum:
        raise UsageError(f"{name} must be at least {minimum:g}, got {value:g}")


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
    )


def _check_ranges(**values: float | None) -> None:
    """UsageError for the first option (named as on the command line) out of its range."""
    minimums = {"concurrency": 1, "max_attempts": 1, "timeout": 0.001, "task_timeout": 0.001}
    for name, value in values.items():
        _positive("--" + name.replace("_", "-"), value, minimum=minimums.get(name, 0))


def _environment(
    environ: Mapping[str, str], *, base_url: str | None, offline: bool, require_key: bool
) -> tuple[str, str | None, float]:
    """The base URL, the API key and the retry scale, from the command line and the
    environment. Raises UsageError for a bad URL or scale, MissingKeyError for no key."""
    url = base_url or environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise UsageError(f"the base URL must be an http(s) URL, got {url!r}")
    api_key = environ.get(KEY_VARIABLE) or None
    if not offline and api_key is None and require_key:
        raise MissingKeyError(
            f"no API key: set {KEY_VARIABLE} (or use --offline to run against the simulator)"
        )
    try:
        scale = float(environ.get(RETRY_SCALE_VARIABLE, "1"))
    except ValueError:
        raise UsageError(f"{RETRY_SCALE_VARIABLE} must be a number") from None
    return url, api_key, scale
