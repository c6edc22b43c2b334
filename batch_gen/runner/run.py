"""The composition root of a run: lock the output folder, plan, wire the event listeners,
and run the jobs on a pool of workers (:mod:`.pool`).

For each job a worker does: ask the budget → run the job (:mod:`.job`) → next job. A job
that succeeded is finished (files renamed into place, sidecar written, success recorded)
beside the workers, so a worker goes on to its next request at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec

from .. import routing
from ..config import RunOptions
from ..errors import ForeignImagesError
from ..files.atomic import recover_image, remove_stale_partials
from ..models import Job, JobStatus, Manifest
from ..planning.ownership import refusal
from ..planning.plan import Plan, PlannedJob, Reason
from ..planning.preflight import preflight
from ..planning.rejections import Rejections
from ..planning.resume import resume, run_owner
from ..progress import NullProgress, Progress
from ..providers import provider_for
from ..providers.base import Answer, Call, Endpoint, Provider
from ..providers.http import Proxies, exchange, request_class
from ..report import RunSummary, plural
from ..state.jobindex import write_job_index
from ..state.journal import StateStore
from ..state.runinfo import last_provider, write_run_info
from .books import ProgressBook, StateBook, SummaryBook
from .budget import RunPricing
from .context import RunContext
from .events import Event, Events, Finished, Skipped
from .gate import Admission, Stopping, signals
from .job import JobRun
from .polling import BulkPoller
from .pool import Pool
from .staging import restore_sidecars

# Decoding, hashing and writing images, and writing sidecars, run on these threads so that
# the event loop keeps reading answers meanwhile (file system calls and hashlib release the
# GIL). Two: more only contend for the GIL (measured: README, "Performance").
FILE_THREADS = 2
# Answers are ~1 MB of base64. With aiohttp's 64 KiB default the reader pauses and resumes
# the socket a dozen times per answer (an epoll_ctl pair each).
READ_BUFFER = 4 * 1024 * 1024


async def run_batch(
    manifest: Manifest,
    options: RunOptions,
    *,
    endpoint: Endpoint,
    progress: Progress | None = None,
    handle_signals: bool = False,
    providers: Callable[[str], Provider] = provider_for,
    transport: Callable[[Call], Awaitable[Answer]] | None = None,
    rejections: Rejections | None = None,
) -> RunSummary:
    """Run every job of ``manifest`` that needs running, against ``endpoint``; return what
    happened.

    Takes the output folder's lock for the whole run (raises OutputLockedError if another
    run holds it) and records each job's state as it changes. Raises ConfigurationError
    subclasses (and ManifestError for unknown models) before sending anything if the run
    cannot start. Fatal provider errors, interrupts and job failures do not raise: they are
    in the summary (see :meth:`RunSummary.exit_status`). With ``handle_signals``, SIGINT,
    SIGTERM and SIGHUP stop the run gracefully (a second signal cancels in-flight requests).

    ``providers`` and ``transport`` are the seams a test replaces (a scripted provider, no
    HTTP): which provider serves a job's API, and how a call is sent (by default, over
    HTTP to ``endpoint``).

    ``rejections`` (``run --reject FILE``): the jobs whose images a person rejected, and
    which are still those images, are made again (with a new seed where the API takes
    one); the other jobs run as without it.
    """
    options.output_dir.mkdir(parents=True, exist_ok=True)
    with StateStore.open(options.output_dir, shard=options.shard) as store:
        run = _Run(manifest, options, store, progress or NullProgress())
        run.rejections = rejections
        with signals(run.stopping, enabled=handle_signals):
            await run.execute(endpoint, providers=providers, transport=transport)
        return run.summary


class _Run:
    """One run's parts, created inside the running event loop."""

    def __init__(
        self, manifest: Manifest, options: RunOptions, store: StateStore, progress: Progress
    ) -> None:
        self.manifest = manifest
        self.options = options
        self.store = store
        self.progress = progress
        self.summary = RunSummary(total=len(manifest.jobs), output_dir=str(options.output_dir))
        self.stopping = Stopping(grace=options.grace)
        self.admission = Admission(self.stopping, concurrency=options.concurrency, rpm=options.rpm)
        self.events = Events(
            SummaryBook(self.summary), ProgressBook(progress), StateBook(store), self._on_event
        )
        self.pricing: RunPricing | None = None
        self.rejections: Rejections | None = None
        self.pool = Pool(concurrency=options.concurrency)
        self.stopping.on_cancel(self.pool.cancel)
        self.stopping.on_interrupt(self._announce_interrupt)
        self.summary.job_keys = {job.id: job.key for job in manifest.jobs}
        self.summary.manifest = str(manifest.path)
        self.summary.provider = options.provider
        self.summary.started_at = datetime.now(UTC).isoformat(timespec="seconds")

    async def execute(
        self,
        endpoint: Endpoint,
        *,
        providers: Callable[[str], Provider],
        transport: Callable[[Call], Awaitable[Answer]] | None,
    ) -> None:
        started = time.monotonic()
        plan = self._plan(providers)
        for item in plan.skipped:
            self.events.emit(Skipped(item, self.store.get(item.job.id)))
        if plan.to_run:  # the whole manifest: what is already done, and what runs now
            done = sum(1 for item in plan.skipped if item.reason is Reason.DONE)
            self.progress.start(len(plan.to_run) + done, done=done)
        files = ThreadPoolExecutor(max_workers=FILE_THREADS, thread_name_prefix="files")
        try:
            if plan.to_run:
                await self._prepare_pricing(plan)
                # The in-process simulator of --offline is never reached through a proxy.
                proxies = Proxies() if self.options.offline else Proxies.from_environ()
                api_proxy = proxies.for_url(endpoint.base_url)
                async with _session(self.options) as session:

                    async def over_http(call: Call) -> Answer:
                        return await exchange(session, endpoint, call, proxy=api_proxy)

                    transport = transport or over_http
                    poller = BulkPoller(
                        admission=self.admission,
                        stopping=self.stopping,
                        transport=transport,
                        interval=self.options.poll_interval,
                        secret=endpoint.api_key,
                    )
                    context = RunContext(
                        options=self.options,
                        endpoint=endpoint,
                        session=session,
                        stopping=self.stopping,
                        admission=self.admission,
                        events=self.events,
                        files=files,
                        providers=providers,
                        transport=transport,
                        may_retry=self._may_retry,
                        spawn=self.pool.spawn,
                        defer=self.pool.defer,
                        owner=run_owner(self.manifest, self.options),
                        proxies=proxies,
                        poller=poller,
                    )
                    await self._work(plan, context)
        finally:
            files.shutdown(wait=True)  # let writes already begun finish
            self.progress.close()
            self.summary.wall_seconds = time.monotonic() - started
            self.summary.interrupted = self.stopping.interrupts > 0
            self.summary.aborted = self.stopping.aborted

    def _plan(self, providers: Callable[[str], Provider]) -> Plan:
        """Plan the run (see planning/resume.py). Raises ForeignImagesError, before anything
        is written, when it would replace images another provider or manifest made."""
        options, root = self.options, self.options.output_dir
        last, records = last_provider(root), self.store.records()
        found = resume(
            self.manifest,
            options,
            records=records,
            last_provider=last,
            now=time.time(),
            rejections=self.rejections,
        )
        if found.foreign and not options.replace_foreign:
            raise ForeignImagesError(refusal(found.foreign, found.owner, root=root))
        for adopted in found.disk.adopted:  # the files are the record: index them again
            self.store.put(adopted)
        unlisted = [(item.job, item.record) for item in found.unlisted() if item.record]
        restore_sidecars(root, unlisted, owner=found.owner, providers=providers)
        # Finish any image that was saved and recorded just before a crash, then sweep the
        # temp files nobody recorded (order matters: see files/atomic.py). Only a job that
        # was running can have one: success is recorded after every rename.
        for record in self.store.records().values():
            if record.status is not JobStatus.RUNNING:
                continue
            for image in record.images:
                with contextlib.suppress(OSError):
                    recover_image(root, image)
        if self.store.alone:  # else another shard's run may have temp files in flight
            remove_stale_partials(root, before=self.store.opened_at)
        self._record_run()
        _say(found.plan.describe(root))
        for line in found.remake.lines() if found.remake is not None else ():
            self.note(line)
        return found.plan

    def _record_run(self) -> None:
        """Who runs now, and the ids and keys of its manifest (for ``status``)."""
        options, manifest = self.options, self.manifest
        info = {
            "provider": options.provider,
            "manifest": str(manifest.path),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "pid": os.getpid(),
        }
        write_run_info(options.output_dir, info)
        write_job_index(
            options.output_dir,
            manifest_sha256=manifest.sha256,
            provider=options.provider,
            jobs=manifest.jobs,
        )

    async def _prepare_pricing(self, plan: Plan) -> None:
        """The preflight: the model catalog, unknown models refused, ``--max-cost`` set up.
        Nothing has been sent yet."""
        options = self.options
        if not options.check_models and options.max_cost is None:
            return
        checked = await preflight(
            self.manifest,
            options,
            to_run=[item.job for item in plan.to_run],
            records=self.store.records(),
            check_models=options.check_models,
            need_prices=options.max_cost is not None,
        )
        for note in checked.notes:
            self.note(note)
        self.summary.catalog = checked.catalog
        self.pricing = RunPricing(
            self.summary,
            catalog=checked.catalog,
            history=checked.history,
            max_cost=options.max_cost,
            specs=routing.ROUTES,
        )
        self.events.add(self.pricing)

    def note(self, message: str) -> None:
        """Tell the user something about the run now, and again in the summary."""
        _say(message)
        self.summary.notes.append(message)

    def _on_event(self, event: Event) -> None:
        """``--fail-fast``: the first failed job stops dispatching."""
        if isinstance(event, Finished) and event.error is not None and self.options.fail_fast:
            self.summary.stopped_early = True
            self.stopping.stop()

    def _admit(self, item: PlannedJob) -> bool:
        """Whether the job may start under ``--max-cost``; if not, stop dispatching."""
        refusal = self.pricing.admit(item) if self.pricing is not None else None
        if refusal is None:
            return True
        if self.summary.budget_stop is None:
            self.summary.budget_stop = refusal
            self.stopping.stop()
        return False

    def _may_retry(self, job: Job) -> bool:
        """Whether ``job`` may pay for another try under ``--max-cost``; if not, stop."""
        if self.pricing is None or self.pricing.may_retry():
            return True
        if self.summary.budget_stop is None:
            self.summary.budget_stop = (
                f"stopped while retrying {job.id}: what was charged, possibly billed"
                f" requests included, reached --max-cost; {self.pricing.describe_budget()}"
            )
        self.stopping.stop()
        return False

    async def _work(self, plan: Plan, context: RunContext) -> None:
        queue = iter(plan.to_run)  # shared: each job goes to exactly one worker

        async def worker() -> None:
            for item in queue:
                if self.stopping.is_set() or not self._admit(item):
                    return
                job = JobRun(context, item, previous=self.store.get(item.job.id))
                await job.execute()

        async def ticker() -> None:
            while True:
                await asyncio.sleep(1.0)
                self.progress.tick()

        async with asyncio.TaskGroup() as outer:
            watchdog = outer.create_task(self.stopping.watchdog())
            tick = outer.create_task(ticker())
            polls = outer.create_task(context.poller.run())
            try:
                await self.pool.run(worker)
            finally:
                watchdog.cancel()
                tick.cancel()
                polls.cancel()

    def _announce_interrupt(self, interrupts: int) -> None:
        """Say at once what the interrupt does, and what it may cost."""
        in_flight = self.admission.slots.in_use
        them, they = ("it", "it") if in_flight == 1 else ("them", "they")
        if interrupts == 1:
            _say(
                f"stopping: {plural(in_flight, 'request')} in flight; waiting up to"
                f" {self.options.grace:g}s for {them} to finish. Press Ctrl-C again to"
                f" abandon {them}: {they} may still be billed"
            )
        else:
            _say(
                f"abandoning {plural(in_flight, 'request')} in flight: {they} may still be"
                f" billed, and the state keeps {them} for the next run"
            )


@contextlib.asynccontextmanager
async def _session(options: RunOptions) -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=options.timeout, sock_connect=options.connect_timeout)
    connector = aiohttp.TCPConnector(limit=max(100, 2 * options.concurrency))
    async with aiohttp.ClientSession(
        timeout=timeout,
        connector=connector,
        raise_for_status=False,
        read_bufsize=READ_BUFFER,
        json_serialize=_json_text,
        request_class=request_class(),
    ) as session:
        yield session


def _json_text(body: Any) -> str:
    """A request body as JSON: msgspec, not aiohttp's default ``json.dumps`` (pure Python
    for most of its work, about a tenth of the event loop's time per request)."""
    return _JSON.encode(body).decode()


_JSON = msgspec.json.Encoder()


def _say(message: str) -> None:
    print(f"batch_gen: {message}", file=sys.stderr, flush=True)
