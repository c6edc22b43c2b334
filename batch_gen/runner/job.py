"""One job, from its running record to succeeded or failed.

A job asks for its missing images one request at a time (:func:`.tasks.perform`, inside
the retry loop of :mod:`.retrying`), stages each image as it arrives, and once it has all
of them renames them into place beside its sidecar and records success. Every change of
its record and every request's fate is an event (:mod:`.events`): this module keeps no
counts of its own.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..errors import (
    ConnectError,
    FatalProviderError,
    ProviderError,
    RateLimitError,
    TaskTimeoutError,
)
from ..gallery.versions import keep_version
from ..models import Job, JobRecord
from ..planning.plan import REMADE, PlannedJob, Reason, replaces_version
from ..providers.answers import redact
from ..providers.base import (
    Answer,
    ApiRequest,
    Call,
    Generation,
    Poll,
    Provider,
    ReturnedImage,
)
from . import transitions
from .context import RunContext
from .events import (
    Abandoned,
    Answered,
    Finished,
    Lost,
    Recorded,
    Refused,
    Sent,
    Settled,
    Staged,
)
from .gate import Stopped
from .polling import poll_delay
from .retrying import Attempts
from .staging import (
    SMALL_FILES,
    Provenance,
    image_roles,
    inline_bytes_at_most,
    kept_images,
    place,
    remove_superseded,
    sidecar,
    small_files,
    stage,
    stage_inline,
)
from .staging import Staged as StagedImage
from .tasks import fetch, perform

T = TypeVar("T")

# Every call at DEBUG (``--debug``): method, path, status, time; never the key.
_log = logging.getLogger(__name__)

# A new seed for a job rejected in review: below 2**31, the narrowest range the APIs that
# take one document (Gemini's int32).
SEED_LIMIT = 2**31


class JobRun:
    """One job while it runs; also the request loop's :class:`~.tasks.Channel`."""

    def __init__(self, run: RunContext, item: PlannedJob, previous: JobRecord | None) -> None:
        self.run = run
        self.job: Job = item.job
        self.previous = previous  # the recorded state before this run touched the job
        self.keeps_version = replaces_version(item, previous)
        base = item.record if item.reason not in REMADE else None  # made anew: keep none
        kept = kept_images(run.root, base, n=self.job.n)
        self.record = transitions.started(self.job, base, kept=kept, now=time.time())
        # Paid requests an earlier run left in flight (killed, or abandoned at a stop).
        self.abandoned_earlier = item.record.in_flight if item.record is not None else 0
        self.provider = run.providers(self.job.api)
        # A rejected job is asked for with a new seed where its API takes one; the job
        # itself (its key, its sidecar's request) stays the manifest's.
        reseed = self.provider.spec.reseed
        rejected = item.reason is Reason.REJECTED and reseed is not None
        self.seed = secrets.randbelow(SEED_LIMIT) if rejected else None
        self.asked = reseed(self.job, self.seed) if reseed and self.seed is not None else self.job
        self._requests: dict[int, list[ApiRequest]] = {}  # by images missing: see _requests_for
        self._current: ApiRequest = self._next_request()  # the request being tried
        self.provenance = Provenance()
        self.unplaced: list[StagedImage] = []
        self.secret: str | None = run.endpoint.api_key
        self.template = run.options.filename
        self._first_poll: float | None = None  # of the current try, for the task deadline
        self._replaced_lost_task = False  # a job pays for one replacement task per run

    # --- the job's life ------------------------------------------------------------------

    async def execute(self) -> None:
        """Run the job to an end; a stop leaves it ``running`` for the next run to resume.

        The running record is written with the job's first change (its first paid request
        going out, a task taken up again, a failed try): a record per job saved, and a job
        stopped before it sent anything keeps the record it had. Except when an earlier run
        left paid requests in flight: this run counts them as possibly billed (``started``
        moves them into ``ambiguous_retries``), so that is recorded at once, never twice.
        """
        if self.abandoned_earlier:
            self._record(self.record)
        for _ in range(self.abandoned_earlier):
            self.run.events.emit(Abandoned(self.job, self._next_request(), earlier=True))
        try:
            if self.keeps_version:  # before anything can replace the earlier images
                await self.run.in_thread(self._keep_previous)
            await self._fill()
        except asyncio.CancelledError:
            # Cancelled past the grace period: the job stays "running" in the state, which
            # the next run resumes, keeping every image already recorded. A paid request in
            # flight stays recorded as such (see :meth:`send`): it may have been billed.
            if self.record.in_flight:
                self.run.events.emit(Abandoned(self.job, self._current))
            raise
        except Stopped:
            self.run.events.emit(Settled(self.job))
        except FatalProviderError as error:
            self.run.events.emit(Settled(self.job))
            self.run.stopping.abort(error.describe())
        except ProviderError as error:
            await self._fail(error)
        except OSError as error:
            # A full disk or an unwritable folder fails every job alike: stop the run.
            self.run.stopping.abort(f"cannot write to {self.run.root}: {error}")
        else:
            # Finished beside the workers, so that this one sends its next request first:
            # at 128 requests in flight that is 0.1 s of a 2 s run (README, "Performance").
            if small_files(self.unplaced):
                self.run.defer(self._succeed_now)
            else:
                await self.run.spawn(self._succeed())

    def _keep_previous(self) -> None:
        """Keep the images and sidecar of the job's earlier version (blocking: the file
        threads). An OSError stops the run, as any write that fails: nothing is lost."""
        files = self.previous.files if self.previous is not None else ()
        keep_version(self.run.root, self.job.id, files=files)

    def _requests_for(self, images: int) -> list[ApiRequest]:
        """The provider's requests for ``images`` more images, asked once per count."""
        found = self._requests.get(images)
        if found is None:
            found = self._requests[images] = self.provider.requests_for(self.asked, images)
        return found

    def _next_request(self) -> ApiRequest:
        """The request for the job's next missing images."""
        return self._requests_for(max(self.job.n - len(self.record.images), 1))[0]

    async def _fill(self) -> None:
        """Request images until the job has all of them recorded."""
        while (missing := self.job.n - len(self.record.images)) > 0:
            request = self._current = self._next_request()
            first = len(self.record.images) + 1
            attempts = Attempts(
                self.job,
                policy=self.run.options.retry,
                admission=self.run.admission,
                events=self.run.events,
                failed=self._attempt_failed,
            )
            async for attempt in attempts:
                with attempt:
                    generation = await self._request(request)
                    wanted = generation.images[:missing]
                    staged = await self._stage_inline(wanted, first)
            try:
                await self._fetch_urls(wanted, staged, first)
            except ProviderError as error:
                # Billed, and not (all) delivered: keep what did arrive, count the loss.
                arrived = [item for item in staged if item is not None]
                if arrived:
                    self._delivered(generation, arrived)
                else:
                    failed = transitions.attempt_failed
                    self._record(failed(self.record, error, retrying=False, now=time.time()))
                self.run.events.emit(Lost(self.job, request, error))
                raise
            self._delivered(generation, [item for item in staged if item is not None])

    async def _stage_inline(
        self, wanted: Sequence[ReturnedImage], first: int
    ) -> list[StagedImage | None]:
        """Stage an answer's inline images: small ones here, on the event loop (a trip to
        the file threads costs more than hashing and writing them), others on the file
        threads."""
        arguments = (self.run.root, self.template, self.job, first, wanted)
        if inline_bytes_at_most(wanted, SMALL_FILES):
            return stage_inline(*arguments)
        return await self.run.in_thread(stage_inline, *arguments)

    async def _fetch_urls(
        self, wanted: Sequence[ReturnedImage], staged: list[StagedImage | None], first: int
    ) -> None:
        """Download and stage the images an answer gave as URLs (links expire: at once)."""
        for offset, returned in enumerate(wanted):
            if staged[offset] is not None or returned.url is None:
                continue
            data = await self.run.download(self.job, returned.url)
            staged[offset] = await self.run.in_thread(
                stage,
                self.run.root,
                self.template,
                self.job,
                first + offset,
                data,
                returned.revised_prompt,
            )

    async def _request(self, request: ApiRequest) -> Generation:
        """One try of ``request`` inside a concurrency slot."""
        taken_at = await self.run.admission.slot()
        self._first_poll = None
        outcome = {"rate_limited": False, "succeeded": False}
        try:
            self.run.events.emit(Sent(self.job))
            generation = await perform(self.provider, request, self)
            outcome["succeeded"] = True
            return generation
        except RateLimitError:
            outcome["rate_limited"] = True
            raise
        finally:
            await self.run.admission.release(taken_at, **outcome)

    # --- what happened, as events ----------------------------------------------------------

    def _record(self, record: JobRecord) -> None:
        self.record = record
        self.run.events.emit(Recorded(record))

    def _attempt_failed(self, error: ProviderError, retrying: bool) -> None:
        now = time.time()
        self._record(transitions.attempt_failed(self.record, error, retrying=retrying, now=now))
        if error.ambiguous:
            self.run.events.emit(Lost(self.job, self._current, error))
        else:
            self.run.events.emit(Refused(self.job, error))
        if retrying and not self.run.may_retry(self.job):
            raise Stopped  # the budget is spent: no more tries, for this job or any

    def _answered(self, generation: Generation) -> None:
        self.provenance.add(generation)
        self.record = transitions.answered(self.record, generation.usage, now=time.time())
        self.run.events.emit(Answered(self.job, self._current, generation.usage))

    def _delivered(self, generation: Generation, staged: list[StagedImage]) -> None:
        """Record the answer and the images written to their temp files (renamed into
        place later)."""
        self._answered(generation)
        images = tuple(item.image for item in staged)
        self._record(transitions.images_saved(self.record, images, now=time.time()))
        self.unplaced.extend(staged)
        self.run.events.emit(Staged(self.job, images))

    async def _succeed(self) -> None:
        """Place the files (on the file threads) and the sidecar, then record success."""
        unplaced, document = self._to_place()
        try:
            await self.run.in_thread(place, unplaced, self.run.root, self.job.id, document)
        except OSError as error:
            self.run.stopping.abort(f"cannot write to {self.run.root}: {error}")
            return
        self._succeeded()

    def _succeed_now(self) -> None:
        """:meth:`_succeed` for small files: placed here, on the event loop."""
        unplaced, document = self._to_place()
        try:
            place(unplaced, self.run.root, self.job.id, document)
        except OSError as error:
            self.run.stopping.abort(f"cannot write to {self.run.root}: {error}")
            return
        self._succeeded()

    def _to_place(self) -> tuple[list[StagedImage], dict[str, Any]]:
        """The staged images to rename into place, and the sidecar to write beside them."""
        document = sidecar(
            self.job,
            self.record,
            self.provenance,
            finished=datetime.now(UTC),
            owner=self.run.owner,
            roles=image_roles(self._requests_for(self.job.n)),
            seed=self.seed,
        )
        unplaced, self.unplaced = self.unplaced, []
        return unplaced, document

    def _succeeded(self) -> None:
        self._record(transitions.succeeded(self.record, now=time.time()))
        self.run.events.emit(Finished(self.job, self.record))
        remove_superseded(self.run.root, self.previous, self.record)

    async def _fail(self, error: ProviderError) -> None:
        """Record the job as failed, keeping (and placing) the images it did get."""
        unplaced, self.unplaced = self.unplaced, []
        await self.run.in_thread(place, unplaced, self.run.root, self.job.id, None)
        self._record(transitions.failed(self.record, error, now=time.time()))
        self.run.events.emit(Finished(self.job, self.record, error))

    # --- the request loop's channel ----------------------------------------------------------

    def tasks(self) -> Mapping[str, str]:
        return self.record.tasks or {}

    def record_task(self, step: str, task_id: str | None) -> None:
        self._record(transitions.task_recorded(self.record, step, task_id, now=time.time()))

    async def send(self, call: Call, *, billable: bool) -> Answer:
        await self.run.admission.call_slot()
        if billable:  # durable before it goes: a run killed meanwhile finds it recorded
            self._record(transitions.sending(self.record, now=time.time()))
        if not _log.isEnabledFor(logging.DEBUG):  # the hot path: one check, no timing
            return await self._transport(call)
        started = time.monotonic()
        shown = f"{self.job.id}: {call.method} {redact(call.path, self.secret)}"
        try:
            answer = await self._transport(call)
        except (ProviderError, Stopped) as error:
            why = error.describe() if isinstance(error, ProviderError) else "the run stopped"
            _log.debug("%s: failed after %.3fs: %s", shown, time.monotonic() - started, why)
            raise
        _log.debug("%s: HTTP %d in %.3fs", shown, answer.status, time.monotonic() - started)
        return answer

    async def _transport(self, call: Call) -> Answer:
        """Send ``call``; a call that cannot connect before any call of the run did stops
        the run (see :meth:`.gate.Stopping.unreachable`), recorded as a failed try."""
        try:
            answer = await self.run.transport(call)
        except ConnectError as error:
            if self.run.stopping.unreachable(error):
                self._attempt_failed(error, False)
                raise Stopped from error
            raise
        except ProviderError:
            self.run.stopping.connected()  # it connected; the answer was the trouble
            raise
        self.run.stopping.connected()
        return answer

    def replace_lost_task(self) -> bool:
        if self._replaced_lost_task:
            return False
        self._replaced_lost_task = True
        return True

    async def poll(self, provider: Provider, task_id: str, polls: int) -> Poll:
        options = self.run.options
        now = time.monotonic()
        if self._first_poll is None:
            self._first_poll = now
        waited = now - self._first_poll
        if waited > options.task_timeout:
            listed = ", ".join(f"{step} {task}" for step, task in self.tasks().items())
            raise TaskTimeoutError(
                f"gave up polling after {waited:.0f}s (--task-timeout {options.task_timeout:g});"
                f" task {listed or 'unknown'} may still finish: run again to resume polling it"
            )
        poller = self.run.poller
        if poller.takes(provider):
            found = await self.run.stopping.unless_stopped(poller.poll(provider, task_id))
            if found is not None:
                return found
        else:
            await self.run.admission.sleep(poll_delay(polls, options.poll_interval))
        return await fetch(provider, task_id, self)

    async def in_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await self.run.in_thread(function, *args)
