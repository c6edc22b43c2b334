"""The run: one HTTP session, a pool of workers in a TaskGroup, state recorded as it goes.

For each job a worker does: wait for the pool (pause, rate, slot) → send → on failure
classify and back off, or abort the run → save each image crash-safely → record.

Stopping has three causes, all handled the same way, by no longer dispatching and letting
what is in flight finish: an interrupt (Ctrl-C / SIGTERM: in-flight requests get
``options.grace`` seconds, then are cancelled and their jobs stay ``running``, which the
next run resumes), a fatal provider error (401/403, unknown model: exit 3 after at most the
requests already in flight), and ``--fail-fast`` after the first failed job.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import signal
import sys
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from .config import RunOptions
from .errors import (
    BadResponseError,
    ConfigurationError,
    DownloadError,
    FatalProviderError,
    ManifestError,
    ProviderError,
    RateLimitError,
    TaskTimeoutError,
)
from .files.atomic import (
    ExistingFiles,
    commit_partial,
    recover_image,
    remove_stale_partials,
    sha256_hex,
    write_partial,
)
from .files.formats import extension_for, image_size, sniff_format
from .files.naming import render_filename, resolve_inside
from .files.sidecar import write_metadata
from .models import ImageRecord, Job, JobRecord, JobStatus, Manifest
from .pacing import AdaptiveSlots, PoolPause, RateLimiter
from .planning.dry_run import files_present, model_problems
from .planning.plan import Plan, PlannedJob, Reason, make_plan
from .pricing.budget import Budget
from .pricing.catalog import Catalog, format_usd
from .pricing.catalog_source import default_cache_dir, fetch_catalog, load_catalog
from .pricing.cost import cost_of_usage, history_from, job_estimate
from .progress import NullProgress, Progress
from .providers import ApiRequest, Generation, Provider, ReturnedImage, provider_for
from .providers.base import Endpoint, TaskHooks, inline_bytes
from .providers.download import download_image
from .report import RunSummary, token_totals
from .retry import retry_delay
from .state.jobindex import write_job_index
from .state.journal import StateStore
from .state.runinfo import write_run_info

T = TypeVar("T")

FILE_THREADS = 2
READ_BUFFER = 4 * 1024 * 1024


class _Stopped(Exception):
    """Internal: the run is stopping; the job gives up without recording a failure."""


async def run_batch(
    manifest: Manifest,
    options: RunOptions,
    *,
    progress: Progress | None = None,
    handle_signals: bool = False,
) -> RunSummary:
    """Run every job of ``manifest`` that needs running; return what happened.

    Takes the output folder's lock for the whole run (raises OutputLockedError if another
    run holds it) and records each job's state as it changes. Raises ConfigurationError
    subclasses before sending anything if the run cannot start. Fatal provider errors,
    interrupts and job failures do not raise: they are in the summary (see
    :meth:`RunSummary.exit_status`). With ``handle_signals``, SIGINT and SIGTERM stop the run
    gracefully (a second signal cancels in-flight requests at once).
    """
    options.output_dir.mkdir(parents=True, exist_ok=True)
    with StateStore.open(options.output_dir) as store:
        write_run_info(
            options.output_dir,
            {
                "provider": options.provider,
                "manifest": str(manifest.path),
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "pid": os.getpid(),
            },
        )
        write_job_index(
            options.output_dir,
            manifest_sha256=manifest.sha256,
            provider=options.provider,
            jobs=manifest.jobs,
        )
        run = _Run(manifest, options, store, progress or NullProgress())
        with _signals(run, enabled=handle_signals):
            await run.execute()
        return run.summary


@contextlib.contextmanager
def _signals(run: _Run, *, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, run.interrupt)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


class _Run:
    """The state of one run. Created and used inside the running event loop."""

    def __init__(
        self, manifest: Manifest, options: RunOptions, store: StateStore, progress: Progress
    ) -> None:
        self.manifest = manifest
        self.options = options
        self.store = store
        self.progress = progress
        self.root = options.output_dir
        self.summary = RunSummary(total=len(manifest.jobs), output_dir=str(self.root))
        self.stopping = asyncio.Event()
        self.pause = PoolPause()
        self.rate = RateLimiter(options.rpm)
        self.slots = AdaptiveSlots(options.concurrency)
        self._workers: list[asyncio.Task[None]] = []
        self._interrupts = 0
        self._files: ThreadPoolExecutor | None = None
        self._group: asyncio.TaskGroup | None = None
        # Finishing a job (placing files, metadata, recording success) happens beside the
        # workers, so a worker goes on to its next request at once; this bounds how many
        # jobs may wait to be finished.
        self._finishing = asyncio.Semaphore(4 * options.concurrency)
        self.catalog: Catalog | None = None
        self.budget: Budget | None = None
        self.history: dict[str, list[dict[str, int]]] = {}
        self._estimates: dict[str, float | None] = {}  # job id -> estimate, while in flight

    # --- stopping ----------------------------------------------------------------------

    def interrupt(self) -> None:
        """Ctrl-C / SIGTERM: the first stops dispatching, the second cancels in-flight work."""
        self._interrupts += 1
        self.summary.interrupted = True
        self.stopping.set()
        if self._interrupts > 1:
            self._cancel_workers()

    def _abort(self, reason: str) -> None:
        """Stop dispatching for a reason that would fail every other job too (exit 3)."""
        if self.summary.aborted is None:
            self.summary.aborted = reason
        self.stopping.set()

    def _cancel_workers(self) -> None:
        for task in self._workers:
            task.cancel()

    async def _watchdog(self) -> None:
        """After an interrupt, give in-flight requests ``grace`` seconds, then cancel them."""
        await self.stopping.wait()
        if self.summary.interrupted:
            await asyncio.sleep(self.options.grace)
            self._cancel_workers()

    async def unless_stopped(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` unless the run starts stopping first (then raise _Stopped)."""
        if self.stopping.is_set():
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise _Stopped
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
                # asyncio.wait never raises the task's CancelledError, so a cancellation of
                # *this* coroutine is not swallowed here.
                await asyncio.wait({task})
        if task.cancelled():
            raise _Stopped
        return task.result()

    async def _wait_turn(self) -> float:
        """Wait out a pool pause, then take a slot, unless the run stops first.

        The fast path awaits nothing when no pause is on and a slot is free: this runs
        once per request, and wrapping idle waits in tasks would cost for nothing.
        """
        if self.pause.remaining() > 0:
            await self.unless_stopped(self.pause.wait())
        if self.stopping.is_set():
            raise _Stopped
        taken_at = self.slots.try_acquire()
        if taken_at is not None:
            return taken_at
        return await self.unless_stopped(self.slots.acquire())

    # --- the run -----------------------------------------------------------------------

    async def execute(self) -> None:
        started = time.monotonic()
        plan = self._plan()
        for item in plan.skipped:
            self.summary.skipped[item.reason] += 1
            record = self.store.get(item.job.id)
            if record is not None:
                self.summary.records[item.job.id] = record
        queue = iter(plan.to_run)
        self.progress.start(len(plan.to_run))
        # Decoding, hashing and writing images, and writing metadata, run here so that the
        # event loop keeps reading answers meanwhile (file system calls and hashlib release
        # the GIL). Two threads: more only contend for the GIL (measured: README).
        self._files = ThreadPoolExecutor(max_workers=FILE_THREADS, thread_name_prefix="files")
        try:
            if plan.to_run:
                async with self._endpoint() as endpoint, self._session() as session:
                    await self._prepare_pricing(plan, endpoint, session)
                    await self._work(queue, session, endpoint)
        finally:
            self._files.shutdown(wait=True)  # let writes already begun finish
            self.progress.close()
            self.summary.wall_seconds = time.monotonic() - started

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on the file threads; the result or its exception."""
        assert self._files is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._files, functools.partial(function, *args))

    def _plan(self) -> Plan:
        records = self.store.records()
        existing = ExistingFiles(self.root)
        plan = make_plan(
            self.manifest.jobs,
            records,
            files_present=lambda record: files_present(existing, record),
            only=self.options.only,
            force=self.options.force,
            retry_failed=self.options.retry_failed,
        )
        # Finish any image that was saved and recorded just before a crash, then sweep the
        # temp files nobody recorded (order matters: see output.py). Only a job that was
        # running can have one: success is recorded after every rename.
        for record in records.values():
            if record.status is not JobStatus.RUNNING:
                continue
            for image in record.images:
                with contextlib.suppress(OSError):
                    recover_image(self.root, image)
        remove_stale_partials(self.root)
        return plan

    @contextlib.asynccontextmanager
    async def _endpoint(self) -> AsyncIterator[Endpoint]:
        if not self.options.offline:
            yield Endpoint(self.options.base_url, self.options.api_key or "")
            return
        from .simulator import Simulator, SimulatorConfig

        key = "sim-" + secrets.token_urlsafe(16)
        async with Simulator(SimulatorConfig(api_key=key)) as simulator:
            yield Endpoint(simulator.base_url, key)

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[aiohttp.ClientSession]:
        timeout = aiohttp.ClientTimeout(
            total=self.options.timeout, sock_connect=self.options.connect_timeout
        )
        connector = aiohttp.TCPConnector(limit=max(100, 2 * self.options.concurrency))
        async with aiohttp.ClientSession(
            timeout=timeout,
            connector=connector,
            raise_for_status=False,
            # Answers are ~1 MB of base64. With aiohttp's 64 KiB default the reader pauses
            # and resumes the socket a dozen times per answer (an epoll_ctl pair each).
            read_bufsize=READ_BUFFER,
        ) as session:
            yield session

    async def _work(
        self, queue: Iterator[PlannedJob], session: aiohttp.ClientSession, endpoint: Endpoint
    ) -> None:
        async def worker() -> None:
            for item in queue:  # a shared iterator: each job goes to exactly one worker
                if self.stopping.is_set() or not self._within_budget(item):
                    return
                await self._run_job(item, session, endpoint)

        async def ticker() -> None:
            while True:
                await asyncio.sleep(1.0)
                self.progress.tick()

        async with asyncio.TaskGroup() as outer:
            watchdog = outer.create_task(self._watchdog())
            tick = outer.create_task(ticker())
            try:
                # Workers cancelled on purpose (second Ctrl-C, grace expired) end quietly:
                # a TaskGroup does not treat a child's cancellation as an error.
                async with asyncio.TaskGroup() as group:
                    self._group = group
                    self._workers = [
                        group.create_task(worker()) for _ in range(self.options.concurrency)
                    ]
            finally:
                watchdog.cancel()
                tick.cancel()

    # --- prices and the budget -------------------------------------------------------

    async def _prepare_pricing(
        self, plan: Plan, endpoint: Endpoint, session: aiohttp.ClientSession
    ) -> None:
        """Load the model catalog, refuse unknown models, and set up ``--max-cost``.

        Nothing has been sent yet. Without a catalog (unreachable, and no cache) a run goes
        on unchecked and unpriced, unless it has a budget, which needs prices.
        """
        options = self.options
        if not options.check_models and options.max_cost is None:
            return
        try:
            if options.offline:  # the simulator's catalog: never worth caching
                self.catalog = await fetch_catalog(session, endpoint.base_url)
            else:
                self.catalog = await load_catalog(
                    base_url=endpoint.base_url, cache_dir=default_cache_dir(), session=session
                )
        except ConfigurationError as error:
            if options.max_cost is not None:
                raise ConfigurationError(f"--max-cost needs model prices: {error}") from error
            self.note(f"models not checked and costs not known: {error}")
            return
        if self.catalog.warning:
            self.note(self.catalog.warning)
        if not self.catalog.models:
            # A gateway answering with an empty list is not saying every model is unknown.
            self.note(f"the model catalog at {endpoint.base_url} is empty: models not checked")
            self.catalog = None
            if options.max_cost is not None:
                raise ConfigurationError("--max-cost needs model prices: the catalog is empty")
            return
        if options.check_models:
            jobs = [item.job for item in plan.to_run]
            problems = model_problems(jobs, self.catalog, self.manifest.path)
            if problems:
                raise ManifestError(problems)
        records = self.store.records()
        self.history = history_from(self.manifest.jobs, records)
        if options.max_cost is not None:
            self.budget = Budget(limit_usd=options.max_cost)

    def _within_budget(self, item: PlannedJob) -> bool:
        """Whether the job may start under ``--max-cost``; if not, stop dispatching."""
        if self.budget is None or self.catalog is None:
            return True
        job = item.job
        missing = job.n - (len(item.record.images) if item.record else 0)
        estimate = job_estimate(
            job,
            requests=provider_for(job.api).request_count(job, missing),
            images=missing,
            catalog=self.catalog,
            history=self.history,
        )
        if not self.budget.can_start(estimate.usd):
            if self.summary.budget_stop is None:
                self.summary.budget_stop = (
                    f"stopped before {job.id}: its estimated {format_usd(estimate.usd or 0)} "
                    f"would exceed --max-cost {format_usd(self.budget.limit_usd)} "
                    f"({self.budget.describe()})"
                )
                self.stopping.set()
            return False
        self.budget.start(estimate.usd)
        self._estimates[job.id] = estimate.usd
        return True

    def _account(self, work: _JobWork) -> None:
        """Book what the job cost in this run (when the catalog can tell)."""
        if self.catalog is None:
            return
        actual = cost_of_usage(
            work.job.model, token_totals(work.usage), requests=work.requests, catalog=self.catalog
        )
        if actual is None:
            self.summary.unpriced_jobs += 1
        else:
            self.summary.cost_usd += actual
        if self.budget is not None and work.job.id in self._estimates:
            self.budget.finish(self._estimates.pop(work.job.id), actual)

    def _settle(self, work: _JobWork) -> None:
        """Book a job that ends neither succeeded nor failed (stopped, aborted): what it
        sent may have been billed; a job that sent nothing frees its budget."""
        if work.requests:
            self._account(work)
        elif self.budget is not None and work.job.id in self._estimates:
            self.budget.finish(self._estimates.pop(work.job.id), 0.0)

    def note(self, message: str) -> None:
        """Tell the user something about the run now, and again in the summary."""
        print(f"batch_gen: {message}", file=sys.stderr, flush=True)
        self.summary.notes.append(message)

    # --- one job -----------------------------------------------------------------------

    async def _run_job(
        self, item: PlannedJob, session: aiohttp.ClientSession, endpoint: Endpoint
    ) -> None:
        job = item.job
        work = _JobWork(job=job, record=self._start_record(item), previous=self.store.get(job.id))
        self.store.put(work.record)
        try:
            await self._fill(work, session, endpoint)
        except asyncio.CancelledError:
            # Interrupted past the grace period: the job stays "running" in the state,
            # which the next run resumes, keeping every image already recorded.
            raise
        except _Stopped:
            self._settle(work)
        except FatalProviderError as error:
            self._settle(work)
            self._abort(error.describe())
        except ProviderError as error:
            await self._fail(work, error)
        except OSError as error:
            # A full disk or an unwritable folder fails every job alike: stop the run.
            self._abort(f"cannot write to {self.root}: {error}")
        else:
            await self._finishing.acquire()
            task = self._spawn(self._finish(work))
            self._workers.append(task)  # cancelled with the workers when the grace is over

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        assert self._group is not None
        return self._group.create_task(coroutine)

    async def _finish(self, work: _JobWork) -> None:
        """Place the job's files and record its success (beside the workers)."""
        try:
            await self._succeed(work)
        except OSError as error:
            self._abort(f"cannot write to {self.root}: {error}")
        finally:
            self._finishing.release()

    def _start_record(self, item: PlannedJob) -> JobRecord:
        """A running record that keeps the images already saved for the same key."""
        job = item.job
        kept: list[ImageRecord] = []
        base = item.record if item.reason is not Reason.FORCED else None
        if base is not None:
            for image in base.images:
                with contextlib.suppress(OSError):
                    if recover_image(self.root, image, verify=True) and image.number <= job.n:
                        kept.append(image)
        return JobRecord(
            id=job.id,
            key=job.key,
            status=JobStatus.RUNNING,
            attempts=base.attempts if base else 0,
            images=tuple(sorted(kept, key=lambda image: image.number)),
            ambiguous_retries=base.ambiguous_retries if base else 0,
            usage=base.usage if base else None,
            updated_at=time.time(),
            # Tasks submitted by an earlier run (paid for): polled again, never resubmitted.
            tasks=base.tasks if base else None,
        )

    async def _fill(
        self, work: _JobWork, session: aiohttp.ClientSession, endpoint: Endpoint
    ) -> None:
        """Request images until the job has ``n`` of them recorded."""
        job = work.job
        provider = provider_for(job.api)
        failures = 0
        while len(work.record.images) < job.n:
            missing = job.n - len(work.record.images)
            request = provider.requests_for(job, missing)[0]
            work.requests += 1  # sent or not, it may be billed: count it before sending
            first = len(work.record.images) + 1
            try:
                hooks = _JobHooks(self, work)
                generation = await self._send(session, endpoint, request, provider, hooks)
                wanted = generation.images[:missing]
                # Decoding, hashing and writing a megabyte per image would stall every other
                # request on the loop: a thread does it (hashlib and file writes release the
                # GIL). A bad image raises here, so the whole answer is retried.
                staged = await self._in_thread(
                    _stage_inline, self.root, self.options.filename, job, first, wanted
                )
            except ProviderError as error:
                # Every try counts as an attempt, answered or not: it may have been billed.
                failures += 1
                work.record = work.record.replace(
                    attempts=work.record.attempts + 1, error=error.describe()
                )
                delay = retry_delay(error, failures, self.options.retry)
                if isinstance(error, RateLimitError):
                    self.pause.pause(delay if delay is not None else 1.0)
                if delay is None or isinstance(error, FatalProviderError):
                    raise
                if error.ambiguous:
                    work.record = work.record.replace(
                        ambiguous_retries=work.record.ambiguous_retries + 1
                    )
                await self._before_retry(job, work.record, error, delay)
                continue
            failures = 0
            work.answered(generation)
            self.summary.tokens.add(generation.usage)
            for offset, returned in enumerate(wanted):
                if staged[offset] is None:  # a URL: fetch it now, links expire
                    data = await self._download(session, returned, endpoint)
                    staged[offset] = await self._in_thread(
                        _stage,
                        self.root,
                        self.options.filename,
                        job,
                        first + offset,
                        data,
                        returned.revised_prompt,
                    )
            self._record_staged(work, [item for item in staged if item is not None])

    async def _before_retry(
        self, job: Job, record: JobRecord, error: ProviderError, delay: float
    ) -> None:
        """Count the retry, persist the record, and wait ``delay`` (or until stopping)."""
        self.summary.retries += 1
        if error.ambiguous:
            self.summary.ambiguous_retries += 1
            self.summary.ambiguous_jobs.add(job.id)
        self.store.put(record)
        self.progress.retrying(+1)
        try:
            await self.unless_stopped(asyncio.sleep(delay))
        finally:
            self.progress.retrying(-1)

    async def _send(
        self,
        session: aiohttp.ClientSession,
        endpoint: Endpoint,
        request: ApiRequest,
        provider: Provider,
        hooks: TaskHooks,
    ) -> Generation:
        """Send one request through the pool's pause, concurrency slots and rate limit."""
        taken_at = await self._wait_turn()
        outcome: dict[str, bool] = {}
        try:
            # The rate is taken inside the slot so that a slot never idles on a token that
            # a worker without a slot is holding; a pause may have begun meanwhile.
            if self.rate.rpm:
                await self.unless_stopped(self.rate.acquire())
            if self.pause.remaining() > 0:
                await self.unless_stopped(self.pause.wait())
            self.summary.requests += 1
            generation: Generation = await provider.send(session, endpoint, request, hooks=hooks)
            outcome["succeeded"] = True
            return generation
        except RateLimitError:
            outcome["rate_limited"] = True
            raise
        finally:
            await asyncio.shield(self.slots.release(taken_at, **outcome))

    async def _download(
        self, session: aiohttp.ClientSession, returned: ReturnedImage, endpoint: Endpoint
    ) -> bytes:
        """Fetch a URL result at once, with the same retry rules as the API."""
        assert returned.url is not None
        failures = 0
        while True:
            try:
                return await download_image(
                    session,
                    returned.url,
                    max_bytes=self.options.max_download_bytes,
                    secret=endpoint.api_key,
                )
            except ProviderError as error:
                failures += 1
                delay = retry_delay(error, failures, self.options.retry)
                if delay is None:
                    # The image was generated (and billed) but could not be fetched; a new
                    # run will generate it again, so say so plainly.
                    raise DownloadError(
                        f"the image was generated but its download failed: {error.message}",
                        status=error.status,
                        retryable=True,  # a later run generates it again
                    ) from error
                await self.unless_stopped(asyncio.sleep(delay))

    def _record_staged(self, work: _JobWork, staged: list[_Staged]) -> None:
        """Record images written to their temp files; they are renamed into place later.

        The protocol of output.py: temp file (written by the stage), record with the
        sha256, rename (in :meth:`_place`). A crash between any two steps is recovered on
        resume without asking for the image again.
        """
        images = tuple(item.image for item in staged)
        work.record = work.record.replace(
            images=(*work.record.images, *images), updated_at=time.time()
        )
        self.store.put(work.record)
        work.unplaced.extend(staged)
        for item in staged:
            self.summary.images += 1
            self.summary.bytes += item.image.bytes

    async def _place(self, work: _JobWork, metadata: Mapping[str, Any] | None = None) -> None:
        """Rename the job's recorded images into place (and write its metadata), in one
        trip to the file threads: renames cost a journal commit each on ext4."""
        unplaced, work.unplaced = work.unplaced, []
        await self._in_thread(_place_files, unplaced, self.root, work.job.id, metadata)

    async def _succeed(self, work: _JobWork) -> None:
        job = work.job
        document = _metadata(work, datetime.now(UTC))
        await self._place(work, document)
        work.record = work.record.replace(
            status=JobStatus.SUCCEEDED,
            error=None,
            retryable=None,
            updated_at=time.time(),
        )
        self.store.put(work.record)
        self._account(work)
        self._remove_superseded(work.previous, work.record)
        self.summary.succeeded.append(job.id)
        self.summary.records[job.id] = work.record
        self.progress.finished(ok=True)

    def _remove_superseded(self, previous: JobRecord | None, record: JobRecord) -> None:
        """Delete files of an earlier version of the job that the new one did not overwrite
        (e.g. ``x.png`` after the format changed to jpeg), so the folder matches the manifest."""
        if previous is None or previous.key == record.key:
            return
        current = set(record.files)
        for name in previous.files:
            if name not in current:
                with contextlib.suppress(OSError, ValueError):
                    resolve_inside(self.root, name).unlink()

    async def _fail(self, work: _JobWork, error: ProviderError) -> None:
        """Record the job as failed, keeping (and placing) the images it did get."""
        await self._place(work)
        work.record = work.record.replace(
            status=JobStatus.FAILED,
            error=error.describe(),
            retryable=error.retryable,
            updated_at=time.time(),
        )
        self.store.put(work.record)
        self._account(work)
        self.summary.failed[work.job.id] = error.describe()
        self.summary.records[work.job.id] = work.record
        self.progress.finished(ok=False)
        if self.options.fail_fast:
            self.summary.stopped_early = True
            self.stopping.set()


@dataclass(slots=True)
class _JobWork:
    """One job while it runs: its latest record and what it has not yet put in place."""

    job: Job
    record: JobRecord
    previous: JobRecord | None  # the recorded state before this run touched the job
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    unplaced: list[_Staged] = field(default_factory=list)
    requests: int = 0  # tries in this run, for the cost of per-request models
    usage: dict[str, Any] | None = None  # every field the API reported, for the metadata
    details: dict[str, list[Any]] = field(
        default_factory=lambda: {"request_ids": [], "created": [], "responses": []}
    )

    def answered(self, generation: Generation) -> None:
        """Count a successful answer: one more attempt, its usage and provider details."""
        self.usage = _add_usage(self.usage, generation.usage)
        # The state keeps only the token totals: nested details would double the size of
        # every journal line, and the time to load a large state with them.
        self.record = self.record.replace(
            attempts=self.record.attempts + 1,
            usage=_add_usage(self.record.usage, token_totals(generation.usage)),
        )
        self.details["request_ids"].append(generation.request_id)
        self.details["created"].append(generation.created)
        self.details["responses"].append(dict(generation.extra))


class _JobHooks:
    """The runner's side of a task-based request (see providers.base.TaskHooks)."""

    def __init__(self, run: _Run, work: _JobWork) -> None:
        self._run = run
        self._work = work
        self._started: float | None = None  # of the first poll: one hooks object per try

    def task(self, step: str) -> str | None:
        tasks = self._work.record.tasks
        return tasks.get(step) if tasks else None

    def record_task(self, step: str, task_id: str | None) -> None:
        tasks = dict(self._work.record.tasks or {})
        if task_id is None:
            tasks.pop(step, None)
        else:
            tasks[step] = task_id
        self._work.record = self._work.record.replace(tasks=tasks or None, updated_at=time.time())
        self._run.store.put(self._work.record)  # before the first poll: see TaskHooks

    async def before_poll(self, polls: int) -> None:
        options = self._run.options
        if self._started is None:
            self._started = time.monotonic()
        waited = time.monotonic() - self._started
        if waited > options.task_timeout:
            tasks = self._work.record.tasks or {}
            listed = ", ".join(f"{step} {task}" for step, task in tasks.items()) or "unknown"
            raise TaskTimeoutError(
                f"gave up polling after {waited:.0f}s (--task-timeout {options.task_timeout:g});"
                f" task {listed} may still finish: run again to resume polling it"
            )
        # A few seconds between polls, growing while the task runs long.
        delay = min(options.poll_interval * 1.5 ** max(polls - 1, 0), 5 * options.poll_interval)
        await self._run.unless_stopped(asyncio.sleep(delay))
        if self._run.rate.rpm:  # polls count against the same rate limit as submissions
            await self._run.unless_stopped(self._run.rate.acquire())


def _place_files(
    staged: Sequence[_Staged], root: Path, job_id: str, metadata: Mapping[str, Any] | None
) -> None:
    """Move recorded temp files to their final names, then write the metadata (threads)."""
    for item in staged:
        commit_partial(item.temp, item.final)
    if metadata is not None:
        write_metadata(root, job_id, metadata)


def _add_usage(total: Any, usage: Any) -> dict[str, Any] | None:
    """Sum two usage documents field by field (nested objects too); ignore non-numbers."""
    if not usage:
        return dict(total) if total else None
    result: dict[str, Any] = dict(total) if total else {}
    for name, value in usage.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            current = result.get(name, 0)
            result[name] = (current if isinstance(current, int | float) else 0) + value
        elif isinstance(value, dict):
            result[name] = _add_usage(result.get(name) or {}, value) or {}
    return result


def _metadata(work: _JobWork, finished: datetime) -> dict[str, Any]:
    """The per-job metadata document written beside the images."""
    job, record, details = work.job, work.record, work.details
    revised = [image.revised_prompt for image in record.images if image.revised_prompt]
    return {
        "id": job.id,
        "key": job.key,
        "prompt": job.prompt,
        "model": job.model,
        "api": job.api,
        "request": dict(job.request),
        "attempts": record.attempts,
        "ambiguous_retries": record.ambiguous_retries,
        "usage": work.usage if work.usage is not None else record.usage,
        "revised_prompt": revised[0] if len(revised) == 1 else (revised or None),
        "provider": {
            "created": [value for value in details["created"] if value is not None],
            "request_ids": [value for value in details["request_ids"] if value],
            "responses": details["responses"],
        },
        "started_at": work.started.isoformat(timespec="milliseconds"),
        "finished_at": finished.isoformat(timespec="milliseconds"),
        "images": [
            {
                "index": image.number,
                "file": image.file,
                "format": image.format,
                "width": image.width,
                "height": image.height,
                "bytes": image.bytes,
                "sha256": image.sha256,
                "revised_prompt": image.revised_prompt,
            }
            for image in record.images
        ],
    }


@dataclass(frozen=True, slots=True)
class _Staged:
    """An image checked, hashed and written to its temp file, not yet recorded."""

    image: ImageRecord
    temp: Path
    final: Path


def _stage(
    root: Path,
    template: str,
    job: Job,
    number: int,
    data: bytes,
    revised_prompt: str | None,
) -> _Staged:
    """Check, name, hash and write image number ``number`` of ``job`` to its temp file.

    Runs in a thread. Raises BadResponseError if the bytes are not a known image format
    (the answer was probably billed, so the error is ambiguous); OSError if writing fails.
    """
    fmt = sniff_format(data)
    if fmt is None:
        raise BadResponseError("the image data is not a known image format", ambiguous=True)
    relative = render_filename(
        template, job=job, image_number=number, image_count=job.n, ext=extension_for(fmt)
    )
    final = resolve_inside(root, relative)
    digest = sha256_hex(data)
    size = image_size(data, fmt)
    temp = write_partial(final, data, sha256=digest)
    image = ImageRecord(
        number=number,
        file=relative,
        sha256=digest,
        bytes=len(data),
        format=fmt,
        width=size[0] if size else None,
        height=size[1] if size else None,
        revised_prompt=revised_prompt,
    )
    return _Staged(image, temp, final)


def _stage_inline(
    root: Path, template: str, job: Job, first: int, images: Sequence[ReturnedImage]
) -> list[_Staged | None]:
    """Stage every inline image of an answer (numbered from ``first``); None for URLs."""
    staged: list[_Staged | None] = []
    for offset, returned in enumerate(images):
        data = inline_bytes(returned)
        staged.append(
            None
            if data is None
            else _stage(root, template, job, first + offset, data, returned.revised_prompt)
        )
    return staged
