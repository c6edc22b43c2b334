"""The one place where aiohttp's exceptions become ProviderErrors (see :mod:`.answers` for
unsuccessful answers), and the plain request every provider sends.

aiohttp is imported inside the functions, not with the module, so that planning, dry runs
and ``status`` (which import the providers to count requests) never load it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..errors import InvalidRequestError, TransportError
from .answers import redact
from .base import Answer, Call

if TYPE_CHECKING:
    import aiohttp

    from .base import Endpoint


@contextmanager
def transport_errors(*, secret: str | None, what: str = "request") -> Iterator[None]:
    """Translate aiohttp and timeout exceptions raised inside the block into TransportError.

    ``ambiguous`` is set when the request may have reached the server: everything except a
    failure to connect. Reading ``aiohttp``'s taxonomy: ConnectionTimeoutError and
    ClientConnectorError happen before a byte is sent; a socket read timeout, a total
    timeout, a dropped connection or a truncated body happen after.
    """
    import aiohttp

    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise TransportError(f"{what}: timed out connecting", ambiguous=False) from exc
    except aiohttp.ClientConnectorError as exc:
        message = redact(f"{what}: cannot connect: {exc.os_error or exc}", secret)
        raise TransportError(message, ambiguous=False) from exc
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


async def exchange(session: aiohttp.ClientSession, endpoint: Endpoint, call: Call) -> Answer:
    """Send ``call`` once, following no redirects, and return the answer whatever its status.

    Authenticated with the Bearer key, or Google's ``x-goog-api-key`` where the call says
    so. Transport failures become TransportError; what the status means is the provider's
    business (see :mod:`.answers`).
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
    with transport_errors(secret=endpoint.api_key, what=call.what):
        async with session.request(
            call.method, url, json=call.json, data=data, headers=headers, allow_redirects=False
        ) as response:
            return Answer(response.status, response.headers, await response.read())
