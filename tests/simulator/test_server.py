"""The built-in CometAPI simulator, exercised over real loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email.utils
import gc
import io
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import openai
import pytest
from PIL import Image

from batch_gen import eager
from batch_gen.simulator import Simulator, SimulatorConfig
from batch_gen.simulator.config import ImageMode, RetryAfterMode
from batch_gen.simulator.images import ImageFormat, ImageSpec, render, variant_for
from batch_gen.simulator.server import STATE_KEY, serve

KEY = "sk-sim-test-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(api_key=KEY, seed=1)) as running:
        yield running


async def generate(
    session: aiohttp.ClientSession,
    sim: Simulator,
    body: Mapping[str, Any],
    headers: Mapping[str, str] = AUTH,
) -> tuple[int, dict[str, Any], Mapping[str, str]]:
    """POST a generations request; return status, parsed JSON body and headers."""
    async with session.post(
        f"{sim.base_url}/v1/images/generations", json=body, headers=headers
    ) as response:
        return response.status, json.loads(await response.read()), response.headers


def decode(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
    image.load()
    return image


@pytest.mark.parametrize(
    ("output_format", "pillow_format"), [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")]
)
async def test_gpt_image_returns_decodable_image_of_requested_size_and_format(
    session: aiohttp.ClientSession, sim: Simulator, output_format: str, pillow_format: str
) -> None:
    """gpt-image answers b64_json that decodes to the requested format and exact size,
    with the top-level fields and usage of the OpenAI response and an x-request-id."""
    status, body, headers = await generate(
        session,
        sim,
        {
            "model": "gpt-image-2",
            "prompt": "a paper boat at sunrise",
            "size": "1536x1024",
            "quality": "low",
            "output_format": output_format,
        },
    )
    assert status == 200
    assert headers["x-request-id"]
    image = decode(body["data"][0]["b64_json"])
    assert (image.format, image.size) == (pillow_format, (1536, 1024))
    assert body["output_format"] == output_format
    assert (body["size"], body["quality"], body["background"]) == ("1536x1024", "low", "opaque")
    usage = body["usage"]
    assert usage["input_tokens"] == 5
    assert usage["output_tokens"] == 408  # 272 for low 1024x1024, scaled by area
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["output_tokens_details"]["image_tokens"] == 408
    assert isinstance(body["created"], int)


async def test_gpt_image_n_returns_n_images_and_bills_them(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """n images come back as n data items, usage scales with n, and all n are billed."""
    prompt = "four icons of a teapot"
    status, body, _ = await generate(
        session, sim, {"model": "gpt-image-1", "prompt": prompt, "size": "256x256", "n": 4}
    )
    assert status == 200
    images = [decode(item["b64_json"]) for item in body["data"]]
    assert [image.size for image in images] == [(256, 256)] * 4
    assert len({image.tobytes() for image in images}) > 1  # variants differ
    assert sim.stats.billed_for(prompt) == 4
    assert sim.stats.requests_for(prompt) == 1


def test_photo_mode_png_is_photo_sized() -> None:
    """photo mode makes a 512x512 PNG of 0.5-1.0 MB (close to incompressible), while the
    default simple mode stays small; rendering is deterministic."""
    photo = render(ImageSpec(512, 512, ImageFormat.PNG, ImageMode.PHOTO, 0))
    assert 500_000 <= len(photo.data) <= 1_000_000
    assert Image.open(io.BytesIO(photo.data)).size == (512, 512)
    simple = render(ImageSpec(512, 512, ImageFormat.PNG, ImageMode.SIMPLE, 0))
    assert len(simple.data) < 100_000
    assert render(ImageSpec(512, 512, ImageFormat.PNG, ImageMode.PHOTO, 0)).data == photo.data
    assert base64.b64decode(photo.b64) == photo.data


async def test_photo_mode_is_served_from_cache(session: aiohttp.ClientSession) -> None:
    """Without labels (the benchmark's setting), many requests for one size render at most
    image_variants encodings (the cache works), and a prompt always maps to the same
    picture."""
    config = SimulatorConfig(image_mode=ImageMode.PHOTO, image_variants=2, image_labels=False)
    async with Simulator(config) as sim:
        bodies = await asyncio.gather(
            *(
                generate(
                    session, sim, {"model": "gpt-image-1", "prompt": f"p{i}", "size": "512x512"}
                )
                for i in range(12)
            )
        )
        assert all(status == 200 for status, _, _ in bodies)
        # The cache lives on the app, not in a global.
        assert sim.app[STATE_KEY].images.renders <= 2
        _, again, _ = await generate(
            session, sim, {"model": "gpt-image-1", "prompt": "p3", "size": "512x512"}
        )
        assert again["data"][0]["b64_json"] == bodies[3][1]["data"][0]["b64_json"]
    assert variant_for("p3", 2) == variant_for("p3", 2)


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {KEY}"},
        {"Authorization": f"bearer {KEY}"},
        {"Authorization": KEY},
        {"x-goog-api-key": KEY},
    ],
    ids=["bearer", "bearer-lowercase", "bare", "x-goog-api-key"],
)
async def test_accepts_the_three_key_forms(
    session: aiohttp.ClientSession, sim: Simulator, headers: dict[str, str]
) -> None:
    """The key is accepted as Bearer, bare Authorization, or x-goog-api-key."""
    status, _, _ = await generate(
        session, sim, {"model": "gpt-image-1", "prompt": "x", "size": "256x256"}, headers
    )
    assert status == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer sk-wrong-secret-key"},
        {"x-goog-api-key": "sk-wrong-secret-key"},
        {},
    ],
    ids=["wrong-bearer", "wrong-goog", "missing"],
)
async def test_rejects_wrong_or_missing_key_without_echoing_it(
    session: aiohttp.ClientSession, sim: Simulator, headers: dict[str, str]
) -> None:
    """A wrong or missing key gets 401 comet_api_error, and the body never contains a key."""
    async with session.post(
        f"{sim.base_url}/v1/images/generations",
        json={"model": "gpt-image-1", "prompt": "x"},
        headers=headers,
    ) as response:
        text = await response.text()
        assert response.status == 401
        assert response.headers["x-request-id"]
    error = json.loads(text)["error"]
    assert error["type"] == "comet_api_error"
    assert "(request id: " in error["message"]
    assert "sk-wrong-secret-key" not in text
    assert KEY not in text
    assert sim.stats.billed_for("x") == 0


async def test_any_non_empty_key_is_accepted_when_none_is_configured(
    session: aiohttp.ClientSession,
) -> None:
    """Without a configured key any non-empty key passes, but no key is still a 401."""
    async with Simulator() as sim:
        ok, _, _ = await generate(
            session,
            sim,
            {"model": "qwen-image", "prompt": "x", "size": "256x256"},
            {"Authorization": "Bearer anything"},
        )
        missing, _, _ = await generate(session, sim, {"model": "qwen-image", "prompt": "x"}, {})
    assert (ok, missing) == (200, 401)


@pytest.mark.parametrize(
    ("body", "status", "error_type", "code", "param"),
    [
        ({"prompt": "x"}, 400, "comet_api_error", "invalid_request", ""),
        ({"model": "gpt-image-9", "prompt": "x"}, 503, "comet_api_error", "model_not_found", ""),
        ({"model": "gpt-image-1"}, 400, "invalid_request_error", "", "prompt"),
        (
            {"model": "gpt-image-2", "prompt": "x", "response_format": "b64_json"},
            400,
            "invalid_request_error",
            "unknown_parameter",
            "response_format",
        ),
        ({"model": "qwen-image", "prompt": "x", "n": 2}, 400, "invalid_request_error", "", "n"),
        (
            {"model": "dall-e-3", "prompt": "x", "n": 2},
            400,
            "invalid_request_error",
            "invalid_value",
            "n",
        ),
        (
            {"model": "gpt-image-1", "prompt": "x", "n": 11},
            400,
            "invalid_request_error",
            "invalid_value",
            "n",
        ),
        (
            {"model": "gpt-image-1", "prompt": "x", "n": True},
            400,
            "invalid_request_error",
            "invalid_value",
            "n",
        ),
        (
            {"model": "gpt-image-1", "prompt": "x", "output_format": "gif"},
            400,
            "invalid_request_error",
            "invalid_value",
            "output_format",
        ),
        (
            {"model": "gpt-image-1", "prompt": "x", "size": "1920x1088"},
            400,
            "invalid_request_error",
            "invalid_value",
            "size",
        ),
        (
            {"model": "gpt-image-2", "prompt": "x", "size": "1000x1000"},
            400,
            "invalid_request_error",
            "invalid_value",
            "size",
        ),
        (
            {"model": "gpt-image-2", "prompt": "x", "size": "4000x1024"},
            400,
            "invalid_request_error",
            "invalid_value",
            "size",
        ),
        (
            {
                "model": "gpt-image-1",
                "prompt": "x",
                "background": "transparent",
                "output_format": "jpeg",
            },
            400,
            "invalid_request_error",
            "invalid_value",
            "background",
        ),
        (
            {"model": "gpt-image-1", "prompt": "x", "quality": "ultra"},
            400,
            "invalid_request_error",
            "invalid_value",
            "quality",
        ),
        (
            {"model": "gpt-image-2", "prompt": "A forbidden-fruit still life"},
            400,
            "image_generation_user_error",
            "moderation_blocked",
            "",
        ),
        (
            {"model": "dall-e-3", "prompt": "FORBIDDEN-FRUIT"},
            400,
            "image_generation_user_error",
            "moderation_blocked",
            "",
        ),
    ],
    ids=[
        "missing-model",
        "unknown-model",
        "missing-prompt",
        "response-format-to-gpt-image",
        "qwen-n-2",
        "dall-e-3-n-2",
        "n-too-big",
        "n-bool",
        "bad-output-format",
        "free-size-on-gpt-image-1",
        "size-not-multiple-of-16",
        "size-aspect-too-wide",
        "transparent-jpeg",
        "bad-quality",
        "trigger-word",
        "trigger-word-any-case",
    ],
)
async def test_validation_errors_use_cometapi_envelope(
    session: aiohttp.ClientSession,
    sim: Simulator,
    body: dict[str, Any],
    status: int,
    error_type: str,
    code: str,
    param: str,
) -> None:
    """Invalid requests get CometAPI's error envelope with the right status, type, code and
    param, a request id in the message, and are never billed."""
    got_status, payload, headers = await generate(session, sim, body)
    assert got_status == status
    error = payload["error"]
    assert (error["type"], error["code"], error["param"]) == (error_type, code, param)
    assert error["message"].endswith(f"(request id: {headers['x-request-id']})")
    assert sim.stats.total_billed == 0


async def test_error_messages_match_cometapi_wording(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """Key messages read as CometAPI's do: missing model, unknown model, qwen n, moderation."""
    cases: list[tuple[dict[str, Any], str]] = [
        ({"prompt": "x"}, "model name is required"),
        (
            {"model": "nope", "prompt": "x"},
            "No available channel for model nope under group default",
        ),
        ({"model": "qwen-image", "prompt": "x", "n": 3}, "n>1 is not supported for qwen-image"),
        (
            {"model": "gpt-image-1", "prompt": "forbidden-fruit"},
            "Your request was rejected by the safety system. safety_violations=[sexual]",
        ),
    ]
    for body, message in cases:
        _, payload, _ = await generate(session, sim, body)
        assert payload["error"]["message"].startswith(message)


async def test_non_json_body_is_a_400(session: aiohttp.ClientSession, sim: Simulator) -> None:
    """A body that is not a JSON object gets a 400 in the error envelope."""
    for raw in (b"not json", b"[1, 2]"):
        async with session.post(
            f"{sim.base_url}/v1/images/generations", data=raw, headers=AUTH
        ) as response:
            assert response.status == 400
            assert "error" in await response.json()
    assert sim.stats.total_requests == 2


async def test_dall_e_3_url_and_revised_prompt_serve_png_behind_webp_url(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """dall-e-3 answers url + revised_prompt (no usage); the URL ends in .webp like CometAPI's
    rehosted links but downloads real PNG bytes of the requested size."""
    status, body, _ = await generate(
        session, sim, {"model": "dall-e-3", "prompt": "a lighthouse", "size": "1024x1024"}
    )
    assert status == 200
    assert set(body) == {"created", "data"}
    (item,) = body["data"]
    assert item["revised_prompt"].startswith("a lighthouse")
    assert item["url"].startswith(sim.base_url)
    assert item["url"].endswith(".webp")
    async with session.get(item["url"]) as response:  # no auth needed, like a CDN
        assert response.status == 200
        assert response.content_type.startswith("image/")
        data = await response.read()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(data)).size == (1024, 1024)
    async with session.get(f"{sim.base_url}/files/unknowntoken.png") as response:
        assert response.status == 404


async def test_dall_e_2_qwen_and_seedream_shapes(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """dall-e-2 honours response_format b64_json; qwen-image answers b64_json; seedream
    answers url (with '&' in the signed link) plus size, model and its own usage."""
    status, body, _ = await generate(
        session,
        sim,
        {
            "model": "dall-e-2",
            "prompt": "x",
            "size": "256x256",
            "n": 2,
            "response_format": "b64_json",
        },
    )
    assert status == 200
    assert [decode(item["b64_json"]).size for item in body["data"]] == [(256, 256)] * 2
    assert "usage" not in body
    assert "revised_prompt" not in body["data"][0]

    status, body, _ = await generate(session, sim, {"model": "qwen-image", "prompt": "x"})
    assert status == 200
    assert decode(body["data"][0]["b64_json"]).size == (1024, 1024)

    status, body, _ = await generate(
        session, sim, {"model": "doubao-seedream-4-5-251128", "prompt": "x", "size": "512x384"}
    )
    assert status == 200
    assert body["model"] == "doubao-seedream-4-5-251128"
    (item,) = body["data"]
    assert item["size"] == "512x384"
    assert "&" in item["url"]
    assert body["usage"] == {
        "generated_images": 1,
        "output_tokens": 768,
        "total_tokens": 768,
    }
    async with session.get(item["url"]) as response:
        image = Image.open(io.BytesIO(await response.read()))
    assert (image.format, image.size) == ("JPEG", (512, 384))


@pytest.mark.parametrize("mode", list(RetryAfterMode))
async def test_scripted_429_carries_each_retry_hint(
    session: aiohttp.ClientSession, mode: RetryAfterMode
) -> None:
    """A scripted 429 is rate_limit_exceeded with the configured retry hint (none, seconds,
    milliseconds or an HTTP date), and the next request for that prompt succeeds."""
    config = SimulatorConfig(retry_after=mode, retry_after_seconds=2, scripts={"boat": ["429"]})
    async with Simulator(config) as sim:
        body = {"model": "gpt-image-1", "prompt": "a boat", "size": "256x256"}
        status, payload, headers = await generate(session, sim, body)
        assert status == 429
        assert payload["error"]["code"] == "rate_limit_exceeded"
        assert payload["error"]["type"] == "comet_api_error"
        if mode is RetryAfterMode.NONE:
            assert "Retry-After" not in headers
            assert "retry-after-ms" not in headers
        elif mode is RetryAfterMode.SECONDS:
            assert headers["Retry-After"] == "2"
        elif mode is RetryAfterMode.MS:
            assert headers["retry-after-ms"] == "2000"
        else:
            when = email.utils.parsedate_to_datetime(headers["Retry-After"]).timestamp()
            assert 1 <= when - time.time() <= 3.5
        assert (await generate(session, sim, body))[0] == 200
        assert sim.stats.billed_for("a boat") == 1
        assert sim.stats.faults == {"429": 1}


@pytest.mark.parametrize(
    ("fault", "status", "code", "billed"),
    [
        ("500", 500, "", 0),
        ("500_invalid", 500, "invalid_request", 0),
        ("503", 503, "", 0),
        ("504", 504, "", 1),
        ("401", 401, "", 0),
    ],
)
async def test_scripted_json_errors(
    session: aiohttp.ClientSession, fault: str, status: int, code: str, billed: int
) -> None:
    """Scripted 500 / 500 invalid_request / 503 / 504 / 401 answer in the JSON envelope with
    their code; only the 504 (work done upstream) is billed."""
    async with Simulator(SimulatorConfig(scripts={"cat": [fault]})) as sim:
        got, payload, _ = await generate(
            session, sim, {"model": "gpt-image-1", "prompt": "cat", "size": "256x256"}, AUTH
        )
        assert got == status
        assert payload["error"]["code"] == code
        assert sim.stats.billed_for("cat") == billed
        assert sim.stats.by_status == {status: 1}


async def test_scripted_524_is_cloudflare_html_and_billed(session: aiohttp.ClientSession) -> None:
    """A 524 comes as Cloudflare's HTML page, not JSON, and counts as billed."""
    async with Simulator(SimulatorConfig(scripts={"cat": ["524"]})) as sim:
        async with session.post(
            f"{sim.base_url}/v1/images/generations",
            json={"model": "gpt-image-1", "prompt": "cat", "size": "256x256"},
            headers=AUTH,
        ) as response:
            assert response.status == 524
            assert response.content_type == "text/html"
            assert "Error code 524" in await response.text()
        assert sim.stats.billed_for("cat") == 1


async def test_scripted_drop_disconnects_and_is_billed(session: aiohttp.ClientSession) -> None:
    """A drop closes the connection after reading the request: the client sees a server
    disconnect, and the image counts as billed."""
    async with Simulator(SimulatorConfig(scripts={"cat": ["drop"]})) as sim:
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
            await generate(
                session, sim, {"model": "gpt-image-1", "prompt": "cat", "size": "256x256"}
            )
        assert sim.stats.billed_for("cat") == 1
        assert sim.stats.faults == {"drop": 1}
        assert sim.stats.by_status == {}
        # The server keeps serving after a drop.
        assert (await generate(session, sim, {"model": "gpt-image-1", "prompt": "cat"}))[0] == 200


async def test_scripted_truncate_cuts_the_body_and_is_billed(
    session: aiohttp.ClientSession,
) -> None:
    """A truncated 200 promises the full Content-Length but sends half, so reading it fails
    with ClientPayloadError; the image counts as billed."""
    async with Simulator(SimulatorConfig(scripts={"cat": ["truncate"]})) as sim:
        async with session.post(
            f"{sim.base_url}/v1/images/generations",
            json={"model": "gpt-image-1", "prompt": "cat", "size": "512x512"},
            headers=AUTH,
        ) as response:
            assert response.status == 200
            assert response.content_length
            assert response.content_length > 1000
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
        assert sim.stats.billed_for("cat") == 1


async def test_scripted_bad_b64_is_undecodable_and_billed(session: aiohttp.ClientSession) -> None:
    """bad_b64 gives a well-formed 200 whose b64_json no base64 decoder accepts (and a url
    result that downloads non-image bytes); both are billed."""
    async with Simulator(SimulatorConfig(scripts={"cat": ["bad_b64"]})) as sim:
        status, body, _ = await generate(
            session, sim, {"model": "gpt-image-1", "prompt": "cat", "size": "256x256"}
        )
        assert status == 200
        b64 = body["data"][0]["b64_json"]
        with pytest.raises(binascii.Error):
            base64.b64decode(b64)
        with pytest.raises(binascii.Error):
            base64.b64decode(b64, validate=True)

        status, body, _ = await generate(
            session, sim, {"model": "dall-e-2", "prompt": "bad cat", "size": "256x256"}
        )
        assert status == 200
        async with session.get(body["data"][0]["url"]) as response:
            data = await response.read()
        with pytest.raises(OSError, match="cannot identify"):
            Image.open(io.BytesIO(data))
        assert sim.stats.billed_for("cat") == 1
        assert sim.stats.billed_for("bad cat") == 1


async def test_script_steps_apply_in_order_then_ok(session: aiohttp.ClientSession) -> None:
    """A script gives each request of a matching prompt its next fault, then ok forever;
    prompts have separate positions; scripts beat probabilities; reset rewinds them."""
    config = SimulatorConfig(
        p500=1.0,
        scripts={"boat": ["503", "ok", "500"], "calm": []},
        retry_after=RetryAfterMode.NONE,
    )
    async with Simulator(config) as sim:

        async def status_of(prompt: str) -> int:
            body = {"model": "gpt-image-1", "prompt": prompt, "size": "256x256"}
            return (await generate(session, sim, body))[0]

        assert [await status_of("red boat") for _ in range(4)] == [503, 200, 500, 200]
        assert [await status_of("blue boat") for _ in range(2)] == [503, 200]
        assert await status_of("calm sea") == 200
        assert await status_of("anything else") == 500  # p500=1.0 applies without a script
        assert sim.stats.requests_for("red boat") == 4
        assert sim.stats.billed_for("red boat") == 2
        sim.reset()
        assert sim.stats.total_requests == 0
        assert await status_of("red boat") == 503


async def test_random_faults_are_reproducible_from_the_seed(
    session: aiohttp.ClientSession,
) -> None:
    """With the same seed, random faults hit the same requests in the same order."""

    async def statuses() -> list[int]:
        config = SimulatorConfig(seed=7, p500=0.3, p503=0.2)
        async with Simulator(config) as sim:
            body = {"model": "gpt-image-1", "prompt": "x", "size": "256x256"}
            return [(await generate(session, sim, body))[0] for _ in range(12)]

    first, second = await statuses(), await statuses()
    assert first == second
    assert {200, 500, 503} <= set(first)


async def test_rpm_window_rejects_the_excess(session: aiohttp.ClientSession) -> None:
    """rpm_limit N over a W-second window admits N*W/60 requests per window; the rest get
    429 with a retry hint and count in stats.rate_limited."""
    config = SimulatorConfig(rpm_limit=120, rpm_window=1.0)  # 2 per second
    async with Simulator(config) as sim:
        body = {"model": "gpt-image-1", "prompt": "x", "size": "256x256"}
        results = await asyncio.gather(*(generate(session, sim, body) for _ in range(5)))
        statuses = sorted(status for status, _, _ in results)
        assert statuses == [200, 200, 429, 429, 429]
        rejected = [headers for status, _, headers in results if status == 429]
        assert all(headers["Retry-After"] == "1" for headers in rejected)
        assert sim.stats.rate_limited == 3
        assert sim.stats.billed_for("x") == 2
        await asyncio.sleep(1.05)
        assert (await generate(session, sim, body))[0] == 200
        assert sim.stats.max_arrivals_in(1.0) == 5


async def test_stats_count_requests_billing_and_concurrency(
    session: aiohttp.ClientSession,
) -> None:
    """Stats count requests and billed images per prompt, peak concurrency and arrival times,
    and the same numbers are served at GET /_sim/stats; POST /_sim/reset clears them."""
    async with Simulator(SimulatorConfig(latency=0.2, seed=3)) as sim:
        prompts = [f"prompt {i}" for i in range(5)]
        started = time.monotonic()
        results = await asyncio.gather(
            *(
                generate(session, sim, {"model": "gpt-image-1", "prompt": p, "size": "256x256"})
                for p in prompts
            )
        )
        assert time.monotonic() - started >= 0.2  # latency applied, concurrently
        assert all(status == 200 for status, _, _ in results)
        stats = sim.stats
        assert stats.max_concurrent == 5
        assert stats.in_flight == 0
        assert stats.total_requests == 5 == len(stats.arrivals)
        assert all(stats.requests_for(p) == 1 and stats.billed_for(p) == 1 for p in prompts)
        assert stats.by_status == {200: 5}

        async with session.get(f"{sim.base_url}/_sim/stats") as response:
            served = await response.json()
        assert served["total_billed"] == 5
        assert served["max_concurrent"] == 5
        assert served["by_status"] == {"200": 5}
        assert served["prompts"]["prompt 0"] == {"requests": 1, "billed": 1}

        async with session.post(f"{sim.base_url}/_sim/reset") as response:
            assert response.status == 200
        assert stats.total_requests == 0
        assert stats.total_billed == 0
        assert stats.max_concurrent == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/images/generate"), ("GET", "/v1/images/generations"), ("POST", "/images")],
)
async def test_wrong_path_is_301_html(
    session: aiohttp.ClientSession, sim: Simulator, method: str, path: str
) -> None:
    """Anything not served (wrong path or method) answers 301 with an HTML body, not JSON."""
    async with session.request(
        method, f"{sim.base_url}{path}", headers=AUTH, allow_redirects=False
    ) as response:
        assert response.status == 301
        assert response.content_type == "text/html"
        assert "<html>" in await response.text()
        assert response.headers["x-request-id"]
    assert sim.stats.total_requests == 0


async def test_official_openai_sdk_parses_answers(sim: Simulator) -> None:
    """The official openai SDK parses a gpt-image-2 answer (b64_json + usage) and a dall-e-3
    url answer (url + revised_prompt) from the simulator."""
    client = openai.AsyncOpenAI(base_url=f"{sim.base_url}/v1", api_key=KEY, max_retries=0)
    async with client:
        result = await client.images.generate(
            model="gpt-image-2", prompt="a red kite", size="1024x1024", quality="low"
        )
        assert result.data is not None
        assert result.data[0].b64_json
        assert decode(result.data[0].b64_json).size == (1024, 1024)
        assert result.usage is not None
        assert result.usage.output_tokens == 272
        assert result.usage.input_tokens == 3
        assert result.output_format == "png"

        dalle = await client.images.generate(
            model="dall-e-3", prompt="a lighthouse", response_format="url"
        )
        assert dalle.data is not None
        assert dalle.data[0].url
        assert dalle.data[0].url.endswith(".webp")
        assert dalle.data[0].revised_prompt

    wrong = openai.AsyncOpenAI(base_url=f"{sim.base_url}/v1", api_key="wrong", max_retries=0)
    async with wrong:
        with pytest.raises(openai.AuthenticationError):
            await wrong.images.generate(model="gpt-image-2", prompt="x")


async def test_the_loops_task_factory_is_the_callers_again_after_serving(
    session: aiohttp.ClientSession,
) -> None:
    """On Python 3.11 the simulator starts each handler at once while it serves (a task
    factory of its own, see batch_gen.eager); the loop is given back as it was."""
    loop = asyncio.get_running_loop()
    before = loop.get_task_factory()
    async with Simulator(SimulatorConfig(api_key=KEY, seed=1)) as running:
        if eager.NEEDED:
            assert loop.get_task_factory() is not before
        status, body, _ = await generate(session, running, {"model": "gpt-image-2", "prompt": "p"})
        assert status == 200
        assert body["data"][0]["b64_json"]
    assert loop.get_task_factory() is before


async def test_serve_freezes_what_exists_once_it_listens() -> None:
    """The long-lived simulator of ``batch_gen simulator`` keeps its start-up objects out of
    the cyclic collector's full scans (``gc.freeze``)."""
    gc.unfreeze()
    serving = asyncio.create_task(serve(SimulatorConfig(port=0, api_key=KEY)))
    try:
        for _ in range(500):
            if gc.get_freeze_count() > 0:
                break
            await asyncio.sleep(0.01)
        assert gc.get_freeze_count() > 0
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        gc.unfreeze()
