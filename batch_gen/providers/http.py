"""The one place where aiohttp's exceptions become ProviderErrors (see :mod:`.answers` for
unsuccessful answers), the forward proxies the environment names, and the plain request
every provider sends.

aiohttp is imported inside the functions, not with the module, so that planning, dry runs
and ``status`` (which import the providers to count requests) never load it.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import eager
from ..errors import ConnectError, InvalidRequestError, TransportError
from .answers import error_from_response, redact
from .base import Answer, Call

if TYPE_CHECKING:
    import aiohttp
    from aiohttp.abc import AbstractStreamWriter
    from aiohttp.connector import Connection

    from .base import Endpoint

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Proxies:
    """The forward proxies the environment names, read as curl, pip and requests read them:
    ``HTTPS_PROXY`` for https URLs and ``HTTP_PROXY`` for http ones (the lower-case name
    wins when both are set; a value without a scheme is ``http://``), and none for a host
    that ``NO_PROXY`` covers (a name, a domain suffix, an address, ``host:port``, or ``*``
    for every host). A loopback address is proxied unless ``NO_PROXY`` names it, as pip and
    requests do. Credentials in a proxy URL (``http://user:pass@proxy:3128``) are sent to
    the proxy only.

    Chosen here rather than by aiohttp's ``trust_env``, which would also read ``~/.netrc``
    and send a password found there as ``Authorization`` to the API (where it clashes with
    the key), to the model catalog and to image hosts.
    """

    by_scheme: Mapping[str, str] = field(default_factory=dict)
    no_proxy: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Proxies:
        """The proxies ``environ`` (default ``os.environ``) names."""
        environ = os.environ if environ is None else environ
        found: dict[str, str] = {}
        for name in ("http_proxy", "https_proxy", "no_proxy"):
            value = environ.get(name) or environ.get(name.upper())
            if value and value.strip():
                found[name] = value.strip()
        by_scheme = {
            scheme: _with_scheme(found[f"{scheme}_proxy"])
            for scheme in ("http", "https")
            if f"{scheme}_proxy" in found
        }
        return cls(by_scheme, found.get("no_proxy"))

    def for_url(self, url: str) -> str | None:
        """The proxy to send a request for ``url`` through, or None to connect directly."""
        parts = urlsplit(url)
        proxy = self.by_scheme.get(parts.scheme)
        if proxy is None or not parts.hostname:
            return None
        if self.no_proxy and _covers(self.no_proxy, parts.hostname, _host_port(url)):
            return None
        return proxy


def _covers(no_proxy: str, host: str, host_port: str) -> bool:
    """Whether ``NO_PROXY`` covers ``host`` (lower-cased, as URLs give it): an entry is
    ``*``, the host, ``host:port``, or a domain whose subdomains it covers too (with or
    without a leading dot), as urllib, requests and aiohttp match it."""
    host, host_port = host.strip("[]"), host_port.lower()
    for entry in no_proxy.lower().split(","):
        name = entry.strip().lstrip(".")
        if name == "*":
            return True
        if name and (
            name.strip("[]") == host
            or name == host_port
            or host.endswith("." + name)
            or host_port.endswith("." + name)
        ):
            return True
    return False


def _with_scheme(proxy: str) -> str:
    return proxy if "://" in proxy else f"http://{proxy}"


def _host_port(url: str) -> str:
    """``host:port`` of ``url``, with the scheme's default port when none is written."""
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def _unreachable_reason(exc: BaseException) -> str:
    """Why no connection could be made, in a few plain words."""
    import aiohttp

    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "timed out connecting"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate refused: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS handshake failed: {exc.os_error}"
    cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(cause, socket.gaierror):
        return f"DNS lookup failed: {_lower_first(cause.strerror or str(cause))}"
    if isinstance(cause, OSError) and cause.errno:
        return _lower_first(os.strerror(cause.errno))
    return _lower_first(str(cause) or type(cause).__name__)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def connect_error(
    exc: BaseException, *, what: str, url: str | None, proxy: str | None, secret: str | None
) -> ConnectError | None:
    """The ConnectError for ``exc`` when it says no connection could be made to ``url`` (or
    to ``proxy``, through which it was sent); None for any other exception."""
    import aiohttp

    if not isinstance(exc, aiohttp.ConnectionTimeoutError | aiohttp.ClientConnectorError):
        return None
    if proxy is not None:
        host = f"the proxy {_host_port(proxy)}"
    elif url is not None:
        host = _host_port(url)
    elif isinstance(exc, aiohttp.ClientConnectorError):
        host = f"{exc.host}:{exc.port}"
    else:
        host = "the host"
    host = redact(host, secret)
    reason = redact(_unreachable_reason(exc), secret)
    return ConnectError(
        f"{what}: cannot reach {host}: {reason}",
        host=host,
        reason=reason,
        through_proxy=proxy is not None,
    )


@contextmanager
def transport_errors(
    *,
    secret: str | None,
    what: str = "request",
    url: str | None = None,
    proxy: str | None = None,
) -> Iterator[None]:
    """Translate aiohttp and timeout exceptions raised inside the block into TransportError,
    for a request to ``url`` (through ``proxy``, if any).

    ``ambiguous`` is set when the request may have reached the server: everything except a
    failure to connect, which is a :class:`~batch_gen.errors.ConnectError`. Reading
    ``aiohttp``'s taxonomy: ConnectionTimeoutError and ClientConnectorError (DNS, refused,
    unreachable, TLS) happen before a byte is sent; a socket read timeout, a total timeout,
    a dropped connection or a truncated body happen after.
    """
    import aiohttp

    try:
        yield
    except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:
        unreached = connect_error(exc, what=what, url=url, proxy=proxy, secret=secret)
        assert unreached is not None
        raise unreached from exc
    except aiohttp.ClientPayloadError as exc:
        raise TransportError(f"{what}: response body cut short", ambiguous=True) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise TransportError(f"{what}: server closed the connection", ambiguous=True) from exc
    except (TimeoutError, aiohttp.SocketTimeoutError) as exc:
        raise TransportError(f"{what}: timed out waiting for the answer", ambiguous=True) from exc
    except aiohttp.InvalidURL as exc:
        raise InvalidRequestError(redact(f"{what}: invalid URL {exc}", secret)) from exc
    except (aiohttp.ClientError, OSError) as exc:
        message = redact(f"{what}: connection failed: {type(exc).__name__}: {exc}", secret)
        raise TransportError(message, ambiguous=True) from exc


async def exchange(
    session: aiohttp.ClientSession, endpoint: Endpoint, call: Call, *, proxy: str | None = None
) -> Answer:
    """Send ``call`` once (through ``proxy``, if any), following no redirects, and return
    the answer whatever its status, except a redirect.

    Authenticated with the Bearer key, or Google's ``x-goog-api-key`` where the call says
    so. Transport failures become TransportError (ConnectError when no connection was
    made). What a status means is the provider's business (see :mod:`.answers`), but no API
    route redirects: a redirect means the base URL is wrong, whatever the API, and is
    raised here, where the base URL is known, so that the error can say what to change.
    """
    import aiohttp

    if call.google_key:
        headers = {"x-goog-api-key": endpoint.api_key}
    else:
        headers = {"Authorization": f"Bearer {endpoint.api_key}"}
    data: bytes | aiohttp.FormData | None = call.data
    if call.data is not None:
        headers["Content-Type"] = "application/json"
    elif call.form is not None:
        form = aiohttp.FormData()
        for part in call.form:
            form.add_field(
                part.name, part.value, filename=part.filename, content_type=part.content_type
            )
        data = form
    url = endpoint.base_url.rstrip("/") + call.path
    with transport_errors(secret=endpoint.api_key, what=call.what, url=url, proxy=proxy):
        async with session.request(
            call.method,
            url,
            json=call.json,
            data=data,
            headers=headers,
            allow_redirects=False,
            proxy=proxy,
        ) as response:
            answer = Answer(response.status, response.headers, await response.read())
    if 300 <= answer.status < 400:
        raise error_from_response(
            answer.status,
            answer.headers,
            answer.body,
            secret=endpoint.api_key,
            base_url=endpoint.base_url,
        )
    return answer


def request_class() -> type[aiohttp.ClientRequest]:
    """The ``request_class`` of a run's session: on Python 3.11, aiohttp's request with its
    body written at once, up to the first suspension, rather than at the event loop's next
    turn (see :mod:`batch_gen.eager`; 3.12 and later do that themselves)."""
    import aiohttp

    return _eager_request() if eager.NEEDED else aiohttp.ClientRequest


@functools.cache
def _eager_request() -> type[aiohttp.ClientRequest]:
    import aiohttp

    class EagerRequest(aiohttp.ClientRequest):
        def write_bytes(
            self,
            writer: AbstractStreamWriter,
            conn: Connection,
            content_length: int | None = None,
        ) -> Coroutine[Any, Any, None]:
            return eager.started(super().write_bytes(writer, conn, content_length))

    return EagerRequest
