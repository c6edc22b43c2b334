"""Downloading `url` results: schemes, size cap, image check, and retry classification."""

from __future__ import annotations

import aiohttp
import pytest
from aioresponses import aioresponses
from support import PNG

from batch_gen.errors import DownloadError, TransportError
from batch_gen.providers.download import download_image

URL = "https://cdn.test/img/abc.webp?sig=SECRET&exp=1"


async def test_downloads_image_bytes_without_sending_the_key(
    session: aiohttp.ClientSession,
) -> None:
    """The bytes come back as they are; no Authorization header goes to the CDN."""
    with aioresponses() as mock:
        mock.get(URL, body=PNG)
        assert await download_image(session, URL) == PNG
        ((_, calls),) = mock.requests.items()
        assert len(calls) == 1
        assert "Authorization" not in (calls[0].kwargs.get("headers") or {})


@pytest.mark.parametrize("url", ["ftp://cdn.test/x.png", "file:///etc/passwd", "data:x"])
async def test_only_http_and_https(session: aiohttp.ClientSession, url: str) -> None:
    """Other schemes are refused before any request, permanently."""
    with aioresponses() as mock:
        with pytest.raises(DownloadError, match="not http") as caught:
            await download_image(session, url)
        assert not mock.requests
    assert not caught.value.retryable


async def test_size_cap(session: aiohttp.ClientSession) -> None:
    """A body over the cap is refused, and the signed query string is not shown."""
    with aioresponses() as mock:
        mock.get(URL, body=PNG * 100)
        with pytest.raises(DownloadError, match="cap") as caught:
            await download_image(session, URL, max_bytes=len(PNG) * 10)
    assert "SECRET" not in str(caught.value)


async def test_body_must_be_an_image(session: aiohttp.ClientSession) -> None:
    """An HTML or XML error page served with 200 is not saved as an image."""
    with aioresponses() as mock:
        mock.get(URL, body=b"<Error><Code>AccessDenied</Code></Error>")
        with pytest.raises(DownloadError, match="not an image"):
            await download_image(session, URL)


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (403, False), (404, False)]
)
async def test_status_classification(
    session: aiohttp.ClientSession, status: int, retryable: bool
) -> None:
    """5xx and 429 are worth retrying; an expired or forbidden link is not."""
    with aioresponses() as mock:
        mock.get(URL, status=status)
        with pytest.raises(DownloadError) as caught:
            await download_image(session, URL)
    assert caught.value.retryable is retryable


async def test_transport_failure_is_retryable(session: aiohttp.ClientSession) -> None:
    """A reset during the download is a retryable transport error."""
    with aioresponses() as mock:
        mock.get(URL, exception=aiohttp.ServerDisconnectedError())
        # The mocked reset, not an unmatched URL ("connection failed": retryable too).
        with pytest.raises(TransportError, match="server closed the connection") as caught:
            await download_image(session, URL)
    assert caught.value.retryable
