"""The Gemini provider: body building, the wire shape, and answer/error classification.

Answers are read by the provider's pure readers; where a test sends, it runs the request
loop with aioresponses standing in for the network and asserts how many calls were made.
aioresponses records an unmatched URL too (and answers it with a connection error), so a
test that expects a transport failure also checks that the failure is the mocked one.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from PIL import Image
from provider_support import MemoryChannel, answer, input_file
from support import API_BASE, API_KEY, PNG, SimFactory, cli_env, run_cli, sent

from batch_gen.errors import (
    AuthenticationError,
    BadResponseError,
    ContentPolicyError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from batch_gen.models import InputFile, Job
from batch_gen.providers import provider_for
from batch_gen.providers.base import inline_bytes
from batch_gen.providers.gemini import (
    SPEC,
    Gemini,
    encode_request,
    generate_content_body,
    parse_answer,
)
from batch_gen.runner.tasks import perform
from batch_gen.usage import token_totals

MODEL = "gemini-3.1-flash-image-preview"
URL = f"{API_BASE}/v1beta/models/{MODEL}:generateContent"
KEY = API_KEY
B64 = base64.b64encode(PNG).decode()
DRAFT = base64.b64encode(b"draft image").decode()


def _job(*, inputs: tuple[InputFile, ...] = (), **request: Any) -> Job:
    return Job(
        id="j",
        index=1,
        prompt="a red kite",
        request={"model": MODEL, "n": 1, **request},
        api="gemini",
        key="k",
        inputs=inputs,
    )


def _answer(*parts: dict[str, Any], finish: str = "STOP") -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": list(parts)}, "finishReason": finish}
        ],
        "usageMetadata": {
            "promptTokenCount": 7,
            "candidatesTokenCount": 1302,
            "thoughtsTokenCount": 184,
            "totalTokenCount": 1493,
        },
        "modelVersion": MODEL,
        "responseId": "resp-1",
    }


def test_the_registry_serves_the_gemini_route() -> None:
    """provider_for("gemini") is this provider."""
    assert isinstance(provider_for("gemini"), Gemini)


def test_body_maps_fields_into_generation_config_and_top_level() -> None:
    """Known generationConfig keys go inside it (camelCase), explicit imageConfig params win
    over size, OpenAI-only fields are dropped, and the rest goes top-level."""
    job = _job(
        n=3,
        size="1536x1024",
        quality="low",
        output_format="png",
        aspect_ratio="16:9",
        temperature=0.5,
        thinking_config={"thinkingBudget": 0},
        candidateCount=2,
        tools=[{"google_search": {}}],
    )
    assert generate_content_body(job) == {
        "tools": [{"google_search": {}}],
        "contents": [{"role": "user", "parts": [{"text": "a red kite"}]}],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "temperature": 0.5,
            "thinkingConfig": {"thinkingBudget": 0},
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
        },
    }


def test_a_generation_config_param_is_merged() -> None:
    """A whole generationConfig param merges in, its imageConfig below explicit fields."""
    job = _job(
        generationConfig={"responseModalities": ["IMAGE"], "imageConfig": {"imageSize": "4K"}},
        image_size="2K",
    )
    config = generate_content_body(job)["generationConfig"]
    assert config == {"responseModalities": ["IMAGE"], "imageConfig": {"imageSize": "2K"}}


def test_one_request_per_image() -> None:
    """Gemini makes one image per call: n=3 is three requests of one image."""
    provider = Gemini()
    requests = provider.requests_for(_job(n=3), 3)
    assert [request.images for request in requests] == [1, 1, 1]
    assert {request.endpoint for request in requests} == {f"/v1beta/models/{MODEL}:generateContent"}
    assert SPEC.request_count(_job(n=3), 2) == 2
    assert provider.requests_for(_job(), 0) == []


async def test_request_shape_on_the_wire(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    """One POST with x-goog-api-key (no Authorization) and the input as inline_data."""
    reference = input_file(tmp_path, "ref.png", PNG)
    provider = Gemini()
    (request,) = provider.requests_for(_job(inputs=(reference,), size="1024x1024"), 1)
    answer = _answer(
        {"text": "Here it is."}, {"inlineData": {"mimeType": "image/png", "data": B64}}
    )
    with aioresponses() as mock:
        mock.post(URL, payload=answer)
        generation = await perform(provider, request, MemoryChannel(session))
        (call,) = sent(mock)
    headers = call.kwargs["headers"]
    assert headers["x-goog-api-key"] == KEY
    assert "Authorization" not in headers
    assert json.loads(call.kwargs["data"]) == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "a red kite"},
                    {"inline_data": {"mime_type": "image/png", "data": B64}},
                ],
            }
        ],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "1:1", "imageSize": "1K"},
        },
    }
    assert inline_bytes(generation.images[0]) == PNG
    assert generation.request_id == "resp-1"
    # Thinking tokens are billed as output: 1302 candidates + 184 thoughts.
    assert token_totals(generation.usage) == {
        "input_tokens": 7,
        "output_tokens": 1486,
        "total_tokens": 1493,
    }


def test_the_body_inlines_the_bytes_it_is_given(tmp_path: Path) -> None:
    """encode_request is pure: each file's bytes, as given, follow the prompt as base64
    with the MIME type of the format sniffed from the manifest; no file, no change."""
    jpeg = b"\xff\xd8\xff\xe0not-read-again"
    reference = input_file(tmp_path, "ref.jpg", jpeg)
    reference.path.unlink()
    body = generate_content_body(_job())
    document = json.loads(encode_request(body, (reference,), (jpeg,)))
    assert document["contents"][0]["parts"] == [
        {"text": "a red kite"},
        {"inline_data": {"mime_type": "image/jpeg", "data": base64.b64encode(jpeg).decode()}},
    ]
    assert json.loads(encode_request(body, (), ())) == body


def test_thought_images_are_skipped_and_the_last_image_wins() -> None:
    """A draft marked thought: true is never the result; the last real image is."""
    answer = _answer(
        {"text": "Drafting."},
        {"inlineData": {"mimeType": "image/png", "data": DRAFT}, "thought": True},
        {"inline_data": {"mime_type": "image/png", "data": DRAFT}},
        {"inlineData": {"mimeType": "image/png", "data": B64}, "thoughtSignature": "sig"},
        {"inlineData": {"mimeType": "image/png", "data": DRAFT}, "thought": True},
    )
    generation = parse_answer(json.dumps(answer).encode(), "req-1")
    (image,) = generation.images
    assert image.b64 == B64
    assert generation.request_id == "req-1"
    assert generation.extra["finish_reason"] == "STOP"


def test_snake_case_inline_data_is_read() -> None:
    """Both inlineData/mimeType and inline_data/mime_type spellings carry images."""
    answer = _answer({"inline_data": {"mime_type": "image/jpeg", "data": B64}})
    generation = parse_answer(json.dumps(answer).encode())
    assert generation.images[0].b64 == B64
    assert generation.extra["mime_type"] == "image/jpeg"


def _blocked(reason: str) -> dict[str, Any]:
    return {"promptFeedback": {"blockReason": reason}, "usageMetadata": {"promptTokenCount": 5}}


@pytest.mark.parametrize(
    ("document", "expected", "reason"),
    [
        (_blocked("SAFETY"), ContentPolicyError, "SAFETY"),
        (_blocked("PROHIBITED_CONTENT"), ContentPolicyError, "PROHIBITED_CONTENT"),
        (_blocked("BLOCKLIST"), ContentPolicyError, "BLOCKLIST"),
        (_blocked("IMAGE_SAFETY"), ContentPolicyError, "IMAGE_SAFETY"),
        (_blocked("OTHER"), BadResponseError, "OTHER"),
        (_answer({"text": "I can't."}, finish="IMAGE_SAFETY"), ContentPolicyError, "IMAGE_SAFETY"),
        (_answer({"text": "No."}, finish="SAFETY"), ContentPolicyError, "SAFETY"),
        (_answer({"text": "No."}, finish="SPII"), ContentPolicyError, "SPII"),
        (_answer({"text": "No."}, finish="PROHIBITED_CONTENT"), ContentPolicyError, None),
        (_answer({"text": "No."}, finish="IMAGE_PROHIBITED_CONTENT"), ContentPolicyError, None),
        (_answer({"text": "Hmm."}, finish="NO_IMAGE"), BadResponseError, "NO_IMAGE"),
        (_answer({"text": "Hmm."}, finish="OTHER"), BadResponseError, "OTHER"),
        (_answer({"text": "Hmm."}), BadResponseError, "STOP"),
        ({"candidates": []}, BadResponseError, "no reason given"),
        (
            _answer({"inlineData": {"mimeType": "image/png", "data": DRAFT}, "thought": True}),
            BadResponseError,
            None,
        ),
    ],
)
def test_200_without_an_image_is_classified_by_its_reason(
    document: dict[str, Any], expected: type[ProviderError], reason: str | None
) -> None:
    """Safety reasons are permanent refusals naming the reason; the rest are retried."""
    with pytest.raises(expected) as caught:
        parse_answer(json.dumps(document).encode())
    assert type(caught.value) is expected
    assert caught.value.retryable is (expected is BadResponseError)
    if reason is not None:
        assert reason in str(caught.value)


def test_a_refusal_message_carries_the_models_words() -> None:
    """The model's text ("I can't create that image") is the most useful detail."""
    answer = _answer({"text": "I can't create that image."}, finish="IMAGE_SAFETY")
    with pytest.raises(ContentPolicyError, match=r"IMAGE_SAFETY.*I can.t create that image"):
        parse_answer(json.dumps(answer).encode())


def _google(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


@pytest.mark.parametrize(
    ("status", "body", "expected", "retryable"),
    [
        (
            400,
            _google(400, "INVALID_ARGUMENT", "Unsupported aspect ratio"),
            InvalidRequestError,
            False,
        ),
        (400, _google(400, "INVALID_ARGUMENT", "API key not valid."), AuthenticationError, False),
        (429, _google(429, "RESOURCE_EXHAUSTED", "Quota exceeded"), RateLimitError, True),
        (403, _google(403, "PERMISSION_DENIED", "denied"), AuthenticationError, False),
        (
            404,
            _google(404, "NOT_FOUND", f"models/{MODEL} is not found for API version v1beta"),
            ModelNotFoundError,
            False,
        ),
        (500, _google(500, "INTERNAL", "internal"), ServerError, True),
        (503, _google(503, "UNAVAILABLE", "overloaded"), ServerError, True),
        (
            503,
            {"error": {"message": "No available channel", "type": "x", "code": "model_not_found"}},
            ModelNotFoundError,
            False,
        ),
    ],
)
def test_error_classification(
    status: int,
    body: dict[str, Any],
    expected: type[ProviderError],
    retryable: bool,
) -> None:
    """Google-style and CometAPI error bodies map to the error tree."""
    provider = Gemini()
    (request,) = provider.requests_for(_job(), 1)
    with pytest.raises(expected) as caught:
        provider.read_answer(answer(body, status=status), request, secret=KEY)
    assert type(caught.value) is expected
    assert caught.value.retryable is retryable
    assert caught.value.status == status


def test_an_error_inside_a_200_is_translated() -> None:
    """A gateway that wraps a Google error in a 200 still gets the right class."""
    body = json.dumps(_google(429, "RESOURCE_EXHAUSTED", "slow down")).encode()
    with pytest.raises(RateLimitError):
        parse_answer(body)


@pytest.mark.parametrize("body", [b'{"candidates": [{"content": {"parts": [{"inlineData"', b"[]"])
def test_a_broken_answer_is_retryable(body: bytes) -> None:
    """Truncated or non-object JSON is a retryable, maybe-billed failure."""
    with pytest.raises(BadResponseError) as caught:
        parse_answer(body)
    assert caught.value.retryable
    assert caught.value.ambiguous


async def test_gemini_through_the_cli(tmp_path: Path, simulator: SimFactory) -> None:
    """n=2 is two calls, each paid once; a blocked prompt and an image-safety refusal fail
    at once, with the reason, and are not retried."""
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(
        "version: 1\n"
        f"defaults:\n  model: {MODEL}\n  size: 1536x1024\n"
        "output:\n  dir: out\njobs:\n"
        "  - id: kites\n    prompt: 'Two kites over the sea'\n    n: 2\n"
        "  - id: blocked\n    prompt: 'A forbidden-fruit still life'\n"
        "  - id: refused\n    prompt: 'A no-image-please sketch'\n"
    )
    args = ["run", str(manifest), "--report", "report.json"]
    async with simulator(max_image_side=256) as sim:
        result = await run_cli(args, cwd=tmp_path, env=cli_env(sim.base_url))
        stats = sim.stats
        assert stats.requests_for("Two kites over the sea") == 2
        assert stats.billed_for("Two kites over the sea") == 2
        assert stats.requests_for("A forbidden-fruit still life") == 1
        assert stats.requests_for("A no-image-please sketch") == 1
    assert result.code == 1, result.text
    report = json.loads((tmp_path / "report.json").read_text())
    jobs = {job["id"]: job for job in report["jobs"]}
    assert jobs["kites"]["files"] == ["kites-1.png", "kites-2.png"]
    assert "blocked (SAFETY)" in jobs["blocked"]["error"]
    assert "IMAGE_SAFETY" in jobs["refused"]["error"]
    assert jobs["blocked"]["retryable"] is False
    with Image.open(tmp_path / "out" / "kites-1.png") as image:
        width, height = image.size  # 1536x1024 asked: 3:2 at the simulator's 256 cap
    assert width == 256
    assert abs(width / height - 1.5) < 0.1
