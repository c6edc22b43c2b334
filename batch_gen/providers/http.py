"""The one place where aiohttp's exceptions become ProviderErrors (see :mod:`.answers` for
unsuccessful answers). Imported only by code that sends requests, so that planning and
``status`` never load aiohttp.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

from ..errors import InvalidRequestError, TransportError
from .answers import redact


@contextmanager
def transport_errors(*, secret: str | None, what: str = "request") -> Iterator[None]:
    """Translate aiohttp and timeout exceptions raised inside the block into TransportError.

    ``ambiguous`` is set when the request may have reached the server: everything except a
    failure to connect. Reading ``aiohttp``'s taxonomy: ConnectionTimeoutError and
    ClientConnectorError happen before a byte is sent; a socket read timeout, a total
    timeout, a dropped connection or a truncated body happen after.
    """
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
