"""The generations provider: request shapes, answer parsing, and error classification.

Answers are read by the provider's pure ``read_answer``; where a test sends, it runs the
request loop with aioresponses standing in for the network and asserts how many calls were
made. aioresponses records an unmatched URL too (and answers it with a connection error),
so a test that expects a transport failure also checks that the failure is the mocked one.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from provider_support import MemoryChannel, answer
from support import API_BASE, API_KEY, PNG, sent

from batch_gen.errors import (
    AuthenticationError,
    BadResponseError,
    ContentPolicyError,
    FatalProviderError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    TransportError,
)
from batch_gen.models import Job
from batch_gen.providers import provider_for
from batch_gen.providers.answers import error_from_response, redact
from batch_gen.providers.base import Answer, ReturnedImage, inline_bytes
from batch_gen.providers.openai_images import SPEC, OpenAIImages
from batch_gen.runner.tasks import perform

URL = f"{API_BASE}/v1/images/generations"
KEY = API_KEY


def _job(model: str, **request: Any) -> Job:
    return Job(
        id="j",
        index=1,
        prompt="a cat",
        request={"model": model, "n": 1, **request},
        api="openai.generations",
        key="k",
    )


@pytest.mark.parametrize(
    ("model", "fields", "expected"),
    [
        (
            "gpt-image-2",
            {"size": "1024x1024", "quality": "low", "response_format": "url", "style": "vivid"},
            {"prompt": "a cat", "model": "gpt-image-2", "size": "1024x1024", "quality": "low"},
        ),
        (
            "dall-e-3",
            {"quality": "low", "output_format": "png", "background": "opaque", "style": "vivid"},
            {"prompt": "a cat", "model": "dall-e-3", "style": "vivid"},
        ),
        (
            "dall-e-3",
            {"quality": "hd", "response_format": "b64_json"},
            {
                "prompt": "a cat",
                "model": "dall-e-3",
                "quality": "hd",
                "response_format": "b64_json",
            },
        ),
        (
            "qwen-image",
            {"size": "1024x1024", "seed": 7},
            {"prompt": "a cat", "model": "qwen-image", "size": "1024x1024", "seed": 7},
        ),
    ],
)
def test_only_accepted_fields_are_sent(
    model: str, fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    """GPT image models never get response_format; DALL-E never gets GPT-only fields."""
    (request,) = OpenAIImages().requests_for(_job(model, **fields), 1)
    assert dict(request.body) == expected


def test_qwen_with_n_above_one_is_split_into_single_requests() -> None:
    """qwen-image refuses n>1, so n=3 becomes three requests of one image."""
    requests = OpenAIImages().requests_for(_job("qwen-image", n=3), 3)
    assert len(requests) == 3
    assert all("n" not in request.body and request.images == 1 for request in requests)


def test_batchable_models_ask_for_all_images_at_once() -> None:
    """gpt-image with n=4 is one request with n=4; asking for the 2 missing sends n=2."""
    provider = OpenAIImages()
    (full,) = provider.requests_for(_job("gpt-image-2", n=4), 4)
    (rest,) = provider.requests_for(_job("gpt-image-2", n=4), 2)
    assert full.body["n"] == 4
    assert rest.body["n"] == 2


def test_the_registry_serves_the_generations_route() -> None:
    """provider_for("openai.generations") is this provider; qwen-image counts one request
    per image, batchable models one for all."""
    assert isinstance(provider_for("openai.generations"), OpenAIImages)
    assert SPEC.request_count(_job("qwen-image", n=3), 3) == 3
    assert SPEC.request_count(_job("gpt-image-2", n=3), 3) == 1
    assert SPEC.request_count(_job("gpt-image-2"), 0) == 0


async def test_request_shape_on_the_wire(session: aiohttp.ClientSession) -> None:
    """One POST with a Bearer key and the JSON body; b64 images and usage come back."""
    provider = OpenAIImages()
    (request,) = provider.requests_for(_job("gpt-image-2", size="1024x1024"), 1)
    payload = {
        "created": 1781075000,
        "output_format": "png",
        "usage": {"input_tokens": 3, "output_tokens": 272, "total_tokens": 275},
        "data": [{"b64_json": base64.b64encode(PNG).decode()}],
    }
    channel = MemoryChannel(session)
    with aioresponses() as mock:
        mock.post(URL, payload=payload, headers={"x-request-id": "req-1"})
        generation = await perform(provider, request, channel)
        (call,) = sent(mock)
    assert call.kwargs["json"] == {"prompt": "a cat", "model": "gpt-image-2", "size": "1024x1024"}
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {KEY}"
    assert inline_bytes(generation.images[0]) == PNG
    assert generation.usage is not None
    assert generation.usage["total_tokens"] == 275
    assert generation.request_id == "req-1"
    assert generation.created == 1781075000
    assert generation.extra == {"output_format": "png"}
    assert channel.log == []  # a synchronous API records no task and polls nothing


def test_url_and_revised_prompt_are_returned() -> None:
    """DALL-E answers carry a URL to fetch and a revised prompt."""
    provider = OpenAIImages()
    (request,) = provider.requests_for(_job("dall-e-3"), 1)
    payload = {"created": 1, "data": [{"url": "https://cdn.test/x.webp", "revised_prompt": "r"}]}
    generation = provider.read_answer(answer(payload), request, secret=KEY)
    assert generation.images[0].url == "https://cdn.test/x.webp"
    assert generation.images[0].revised_prompt == "r"


def _envelope(message: str, *, kind: str = "comet_api_error", code: str = "") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": "", "code": code}}


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "retryable", "ambiguous"),
    [
        (401, _envelope("invalid token"), {}, AuthenticationError, False, False),
        (403, _envelope("model not allowed"), {}, AuthenticationError, False, False),
        (429, _envelope("slow down", code="rate_limit_exceeded"), {}, RateLimitError, True, False),
        (
            429,
            _envelope("no money", code="insufficient_quota"),
            {},
            QuotaExhaustedError,
            False,
            False,
        ),
        (
            400,
            _envelope("blocked", kind="image_generation_user_error", code="moderation_blocked"),
            {},
            ContentPolicyError,
            False,
            False,
        ),
        (400, _envelope("model name is required"), {}, InvalidRequestError, False, False),
        (404, _envelope("not found"), {}, InvalidRequestError, False, False),
        (413, _envelope("too big"), {}, InvalidRequestError, False, False),
        (422, _envelope("bad"), {}, InvalidRequestError, False, False),
        (408, _envelope("timeout"), {}, ServerError, True, False),
        (409, _envelope("conflict"), {}, ServerError, True, False),
        (500, _envelope("oops"), {}, ServerError, True, False),
        (500, _envelope("bad req", code="invalid_request"), {}, InvalidRequestError, False, False),
        (503, _envelope("busy"), {}, ServerError, True, False),
        (504, _envelope("gateway"), {}, ServerError, True, True),
        (524, "<html><body>A timeout occurred</body></html>", {}, ServerError, True, True),
        (
            503,
            _envelope("No available channel for model x", code="model_not_found"),
            {},
            ModelNotFoundError,
            False,
            False,
        ),
        (
            400,
            _envelope("The model `gpt-imag-2` does not exist (request id: 1)"),
            {},
            ModelNotFoundError,
            False,
            False,
        ),
        (
            503,
            _envelope("当前分组 default 下对于模型 x 无可用渠道"),
            {},
            ModelNotFoundError,
            False,
            False,
        ),
        (301, "<html>Moved</html>", {"Location": "/x"}, FatalProviderError, False, False),
        (400, _envelope("retry me"), {"x-should-retry": "true"}, InvalidRequestError, True, False),
        (503, _envelope("don't"), {"x-should-retry": "false"}, ServerError, False, False),
    ],
)
def test_error_classification(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    expected: type[ProviderError],
    retryable: bool,
    ambiguous: bool,
) -> None:
    """Each status and envelope maps to one error class with the right retry flags."""
    provider = OpenAIImages()
    (request,) = provider.requests_for(_job("gpt-image-2"), 1)
    if isinstance(body, str):
        reply = answer(body=body, status=status, headers=headers)
    else:
        reply = answer(body, status=status, headers=headers)
    with pytest.raises(expected) as caught:
        provider.read_answer(reply, request, secret=KEY)
    assert type(caught.value) is expected
    assert caught.value.retryable is retryable
    assert caught.value.ambiguous is ambiguous
    assert caught.value.status == status


@pytest.mark.parametrize(("status", "ambiguous"), [(400, False), (504, True)])
async def test_an_error_answer_is_raised_by_the_loop_as_read(
    session: aiohttp.ClientSession, status: int, ambiguous: bool
) -> None:
    """The request loop sends once and raises the answer's error with its flags untouched:
    a gateway timeout stays maybe billed."""
    provider = OpenAIImages()
    (request,) = provider.requests_for(_job("gpt-image-2"), 1)
    with aioresponses() as mock:
        mock.post(URL, status=status, payload=_envelope("no"))
        with pytest.raises(ProviderError) as caught:
            await perform(provider, request, MemoryChannel(session))
        assert len(sent(mock)) == 1
    assert caught.value.status == status
    assert caught.value.ambiguous is ambiguous


def test_retry_after_is_carried_on_the_error() -> None:
    """A 429's Retry-After and retry-after-ms reach the error for the runner to honour."""
    provider = OpenAIImages()
    (request,) = provider.requests_for(_job("gpt-image-2"), 1)
    reply = answer(_envelope("x"), status=429, headers={"retry-after-ms": "2500"})
    with pytest.raises(RateLimitError) as caught:
        provider.read_answer(reply, request, secret=KEY)
    assert caught.value.retry_after == 2.5


@pytest.mark.parametrize(
    ("exception", "ambiguous"),
    [
        (aiohttp.ServerDisconnectedError(), True),
        (aiohttp.ClientPayloadError("cut"), True),
        (aiohttp.SocketTimeoutError(), True),
        (TimeoutError(), True),
        (aiohttp.ConnectionTimeoutError(), False),
        (aiohttp.ClientOSError(104, "reset"), True),
    ],
)
async def test_transport_failures_are_retryable_and_maybe_billed(
    session: aiohttp.ClientSession, exception: Exception, ambiguous: bool
) -> None:
    """Failures after sending are ambiguous (maybe billed); failing to connect is not."""
    provider = OpenAIImages()
    (request,) = provider.requests_for(_job("gpt-image-2"), 1)
    with aioresponses() as mock:
        mock.post(URL, exception=exception)
        with pytest.raises(TransportError) as caught:
            await perform(provider, request, MemoryChannel(session))
        assert len(sent(mock)) == 1
    # The mocked failure, not an unmatched URL's refused connection (also a TransportError).
    assert caught.value.__cause__ is exception
    assert caught.value.retryable
    assert caught.value.ambiguous is ambiguous


def test_invalid_base64_is_a_retryable_maybe_billed_failure() -> None:
    """Base64 that does not decode is found when the runner decodes it (off the loop)."""
    with pytest.raises(BadResponseError) as caught:
        inline_bytes(ReturnedImage(b64="not base64!!"))
    assert caught.value.retryable
    assert caught.value.ambiguous


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": []}',
        b'{"data": [{"revised_prompt": "x"}]}',
        b'{"created": 1, "data": [{"b64_json": "iVBOR',
        b"[1, 2]",
    ],
)
def test_200_without_a_usable_image_is_a_retryable_failure(body: bytes) -> None:
    """A 200 that carries no decodable image is retried, and counted as maybe billed."""
    provider = OpenAIImages()
    (request,) = provider.requests_for(_job("gpt-image-2"), 1)
    with pytest.raises(BadResponseError) as caught:
        provider.read_answer(Answer(200, {}, body), request, secret=KEY)
    assert caught.value.retryable
    assert caught.value.ambiguous


def test_the_key_never_appears_in_error_messages() -> None:
    """A server that echoes the key back does not get it into our messages."""
    body = _envelope(f"invalid token {KEY} (request id: 42)")
    import json

    error = error_from_response(401, {}, json.dumps(body).encode(), secret=KEY)
    assert KEY not in str(error)
    assert "request id: 42" in str(error)
    assert "sk-***" in redact("key sk-abcdefghijklmnopqrstuvwxyz", None)
