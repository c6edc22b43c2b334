"""Fetching ``url`` results: http(s) only, a size cap, and bytes that must be an image.

The API key is never sent along: these links usually point at a CDN, not at the API.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from ..errors import DownloadError
from ..files.formats import sniff_format
from .answers import redact
from .http import transport_errors

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def _describe(url: str) -> str:
    """The URL without its query string: signed links carry credentials there."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


async def download_image(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    secret: str | None = None,
    proxy: str | None = None,
) -> bytes:
    """The image at ``url`` (fetched through ``proxy``, if any), or a DownloadError
    (retryable for 5xx, 429 and transport trouble).

    Refuses non-http(s) schemes and bodies over ``max_bytes`` (checked while streaming, not
    only from Content-Length), and bodies that are not a known image format.
    """
    shown = redact(_describe(url), secret)
    if urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError(f"refusing to download {shown}: not http(s)", retryable=False)
    with transport_errors(secret=secret, what=f"download of {shown}", url=url, proxy=proxy):
        async with session.get(url, proxy=proxy) as response:
            if response.status != 200:
                retryable = response.status >= 500 or response.status in (408, 429)
                raise DownloadError(
                    f"download of {shown} failed with HTTP {response.status}",
                    status=response.status,
                    retryable=retryable,
                )
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise DownloadError(
                    f"download of {shown} is {declared} bytes, over the {max_bytes}-byte cap",
                    retryable=False,
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    raise DownloadError(
                        f"download of {shown} exceeds the {max_bytes}-byte cap", retryable=False
                    )
                chunks.append(chunk)
    data = b"".join(chunks)
    if sniff_format(data) is None:
        raise DownloadError(f"download of {shown} is not an image", retryable=True, ambiguous=False)
    return data
