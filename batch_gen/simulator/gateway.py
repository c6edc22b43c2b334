"""The admission pipeline every route goes through, as CometAPI's gateway orders it.

For each request, in this order (see ``docs/protocols/common.md``):

1. count the arrival (total, concurrency, status) — unless the route is public;
2. read the body the route takes (a JSON object, or a multipart form for edits);
3. count the request under its prompt (and record what it uploaded);
4. check the key, in the header forms the API accepts (401, CometAPI envelope);
5. refuse a body that is not what the route takes (400, in the API's error family);
6. take a slot in the rpm window (429, CometAPI envelope; refused requests take none);
7. the route validates the request, then passes it upstream through
   :meth:`Call.upstream`, which applies the injected fault and the latency.

What differs between APIs is data — an :class:`Admission` per route says which error
family it answers in, which key forms it accepts, what body it takes and what its prompt
is — so no route handler repeats these steps. A handler gets a :class:`Call` whose body is
already read and admitted, and raises :class:`ApiError` or :class:`Answered` to answer.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, TypeVar

from aiohttp import web

from batch_gen.simulator.config import Fault, SimulatorConfig
from batch_gen.simulator.content import contains_word
from batch_gen.simulator.errors import (
    Answered,
    ApiError,
    ErrorFamily,
    NoAnswer,
    bad_form_body,
    bad_json_body,
    invalid_token,
    moved,
    no_token,
    rate_limit_error,
)
from batch_gen.simulator.faults import enact, latency
from batch_gen.simulator.forms import Form, read_form
from batch_gen.simulator.state import STATE_KEY, SimState
from batch_gen.simulator.stats import SimStats, UploadStats
from batch_gen.simulator.tasks import Task, TaskStore

REQUEST_ID: Final = "batch_gen.simulator.request_id"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# --------------------------------------------------------------------------------------
# What a route declares


class KeyForm(Enum):
    """A way of presenting the API key."""

    BEARER = "Authorization: Bearer <key>"
    BARE = "Authorization: <key>"
    GOOGLE = "x-goog-api-key: <key>"


GATEWAY_KEYS: Final = frozenset(KeyForm)
"""CometAPI's gateway accepts every form on every authenticated route."""


class Body(Enum):
    """What body a route takes."""

    NONE = "none"
    """Not read by the gateway."""
    JSON = "json"
    """A JSON object; anything else is refused before the rpm window."""
    OPTIONAL_JSON = "optional json"
    """Read as a JSON object if it is one, never refused: the route decides."""
    FORM = "form"
    """multipart/form-data (a urlencoded form is read too); anything else is refused."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """What a request is counted under before its key is checked."""

    prompt: str | None
    upload: UploadStats | None = None
    """Recorded as the prompt's latest upload (when the prompt is non-empty)."""


def prompt_field(call: Call) -> Arrival:
    """The default: the JSON body's ``prompt`` field."""
    prompt = call.body.get("prompt") if call.body is not None else None
    return Arrival(prompt if isinstance(prompt, str) else None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Admission:
    """How the gateway admits the requests of one route."""

    family: ErrorFamily = ErrorFamily.COMET
    """The family body refusals and injected faults answer in."""
    keys: frozenset[KeyForm] | None = GATEWAY_KEYS
    """Accepted key forms; None for a public route (no key, not counted, no rpm window)."""
    body: Body = Body.NONE
    arrival: Callable[[Call], Arrival] = field(default=prompt_field)
    """Reads the prompt (and upload) to count from the request whose body was read."""

    @property
    def public(self) -> bool:
        """Downloads and the public catalog: no key, not counted, not rate limited."""
        return self.keys is None


PUBLIC: Final = Admission(keys=None)

# --------------------------------------------------------------------------------------
# Steps


def presented_key(headers: Mapping[str, str], forms: frozenset[KeyForm]) -> str:
    """The key the request presents in one of *forms* ('' when none).

    An ``Authorization`` header, when present, is the only place looked at.
    """
    authorization = headers.get("Authorization", "").strip()
    if authorization:
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return rest.strip() if KeyForm.BEARER in forms else ""
        return authorization if KeyForm.BARE in forms else ""
    return headers.get("x-goog-api-key", "").strip() if KeyForm.GOOGLE in forms else ""


def check_key(
    headers: Mapping[str, str], forms: frozenset[KeyForm], config: SimulatorConfig
) -> None:
    """Raise a 401 :class:`CometError` unless the request presents an accepted key; the
    message never includes the presented key."""
    key = presented_key(headers, forms)
    if not key:
        raise no_token()
    if config.api_key is not None and not secrets.compare_digest(
        key.encode(), config.api_key.encode()
    ):
        raise invalid_token()


async def read_json_object(request: web.Request) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    raw = await request.read()
    try:
        body: Any = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


_T = TypeVar("_T", bound=Task)


class Call:
    """One admitted request to an API route, with the steps left to answer it."""

    def __init__(self, request: web.Request, state: SimState, admission: Admission) -> None:
        self.request = request
        self.state = state
        self.admission = admission
        self.body: dict[str, Any] | None = None
        """The JSON body (routes taking JSON), None when absent or not an object."""
        self.form: Form | None = None
        """The form (routes taking a form), None when absent or malformed."""

    @property
    def config(self) -> SimulatorConfig:
        return self.state.config

    @property
    def stats(self) -> SimStats:
        return self.state.stats

    @property
    def request_id(self) -> str:
        request_id: str = self.request[REQUEST_ID]
        return request_id

    @property
    def origin(self) -> str:
        """``scheme://host:port`` the client used, for URLs served by this simulator."""
        return str(self.request.url.origin())

    @property
    def json(self) -> dict[str, Any]:
        """The admitted JSON body of a route taking :attr:`Body.JSON`."""
        if self.body is None:
            raise RuntimeError("this route did not admit a JSON body")
        return self.body

    async def admit(self) -> None:
        """Steps 2-6 of the module docstring; raises the refusal."""
        admission = self.admission
        if admission.body is Body.FORM:
            self.form = await read_form(self.request)
        elif admission.body is not Body.NONE:
            self.body = await read_json_object(self.request)
        if admission.keys is None:
            return
        arrival = admission.arrival(self)
        self.stats._requested(arrival.prompt)
        if arrival.prompt and arrival.upload is not None:
            self.stats.uploads[arrival.prompt] = arrival.upload
        check_key(self.request.headers, admission.keys, self.config)
        if admission.body is Body.JSON and self.body is None:
            raise bad_json_body(admission.family)
        if admission.body is Body.FORM and self.form is None:
            raise bad_form_body(self.request.content_type)
        wait = self.state.rpm.admit()
        if wait is not None:
            self.stats.rate_limited += 1
            raise rate_limit_error(self.config, wait)

    def triggered(self, text: str) -> bool:
        """Whether *text* contains the configured trigger word (case-insensitive)."""
        return contains_word(text, self.config.trigger_word)

    async def upstream(self, prompt: str, *, billed: int) -> Fault:
        """Pass the request "upstream": choose its fault, count it, wait the latency, act.

        Error faults raise in the route's family (a 504 billed *billed* units); 524 and
        drop raise :class:`Answered` (both billed). Returns OK, TRUNCATE or BAD_B64 for the
        route to finish, and bill, itself (before any further await, so that a client
        hanging up cannot undo the charge). Cancelled during the latency, a request that
        would have been charged bills *billed* units first.
        """
        state = self.state
        fault = state.faults.next(prompt, state.rng)
        if fault is not Fault.OK:
            self.stats._count(self.stats.faults, fault.value)
        return await enact(
            fault,
            family=self.admission.family,
            config=self.config,
            delay=lambda: latency(self.config, state.rng),
            bill=lambda: self.stats._billed(prompt, billed),
            close=self._close,
        )

    def poll(self, store: TaskStore[_T], task_id: str) -> _T | None:
        """Count one status read of *task_id* and return the task if it is live."""
        self.stats._polled(task_id)
        return store.live(task_id, now=self.state.clock())

    async def reply(
        self, payload: bytes | Any, *, fault: Fault = Fault.OK, status: int = 200
    ) -> web.StreamResponse:
        """Send *payload* (bytes of JSON, or a JSON-ready value), cut short on TRUNCATE."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if fault is Fault.TRUNCATE:
            return await send_truncated(self.request, body, self.request_id, status=status)
        return web.Response(body=body, status=status, content_type="application/json")

    def _close(self) -> None:
        if self.request.transport is not None:
            self.request.transport.close()


async def send_truncated(
    request: web.Request, payload: bytes, request_id: str, *, status: int = 200
) -> web.StreamResponse:
    """Promise the whole payload in Content-Length, send half, then close the connection."""
    response = web.StreamResponse(status=status, headers={"x-request-id": request_id})
    response.content_type = "application/json"
    response.content_length = len(payload)
    await response.prepare(request)
    await response.write(payload[: len(payload) // 2])
    if request.transport is not None:
        # close() (not abort()) flushes what was written before closing.
        request.transport.close()
    return response


# --------------------------------------------------------------------------------------
# Wiring

CallHandler = Callable[[Call], Awaitable[web.StreamResponse]]


async def _answer(call: Call, handler: CallHandler) -> web.StreamResponse:
    try:
        await call.admit()
        return await handler(call)
    except ApiError as error:
        return error.response(call.request_id)
    except Answered as answered:
        return answered.response


def endpoint(admission: Admission, handler: CallHandler) -> Handler:
    """*handler* behind the pipeline: admitted per *admission*, with a raised
    :class:`ApiError` or :class:`Answered` rendered, and (unless public) the arrival,
    concurrency and status counted in :class:`SimStats`."""

    async def route(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE_KEY]
        call = Call(request, state, admission)
        if admission.public:
            return await _answer(call, handler)
        stats = state.stats
        stats._arrive()
        try:
            response = await _answer(call, handler)
        finally:
            stats.in_flight -= 1
        if not isinstance(response, NoAnswer):
            stats._count(stats.by_status, response.status)
        return response

    route.__name__ = getattr(handler, "__name__", "route")
    route.__doc__ = handler.__doc__
    return route


@web.middleware
async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id, echo it in ``x-request-id``, and turn unknown routes into
    CometAPI's 301 HTML answer."""
    request_id = request.app[STATE_KEY].new_request_id()
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        response = moved()
    except web.HTTPException as exc:
        exc.headers["x-request-id"] = request_id
        raise
    if not response.prepared:
        response.headers["x-request-id"] = request_id
    return response
