"""The simulator's synchronous API families over loopback HTTP: image edits (multipart),
Gemini generateContent, and the model catalogs."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
import openai
import pytest
from PIL import Image

from batch_gen.simulator import Simulator, SimulatorConfig

KEY = "sk-sim-apis-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
GOOG = {"x-goog-api-key": KEY}


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    """A real PNG of the given size and Pillow mode."""
    buffer = io.BytesIO()
    Image.new(mode, (width, height), (10, 20, 30, 0)[: len(mode)]).save(buffer, format="PNG")
    return buffer.getvalue()


def decode(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
    image.load()
    return image


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = SimulatorConfig(api_key=KEY, seed=1, max_image_side=512)
    async with Simulator(config) as running:
        yield running


def edit_form(fields: Mapping[str, str], files: list[tuple[str, str, bytes]]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for part, filename, data in files:
        form.add_field(part, data, filename=filename, content_type="image/png")
    return form


async def post_edit(
    session: aiohttp.ClientSession, sim: Simulator, form: aiohttp.FormData | Any
) -> tuple[int, dict[str, Any]]:
    async with session.post(f"{sim.base_url}/v1/images/edits", data=form, headers=AUTH) as response:
        return response.status, json.loads(await response.read())


# --------------------------------------------------------------------------------------
# Edits


async def test_edit_with_one_image_returns_b64_and_padded_usage(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """An edit with one `image` part answers {created, usage, data[].b64_json} with
    CometAPI's padded usage; size auto follows the input's shape; the upload is recorded."""
    prompt = "add a red ribbon"
    form = edit_form(
        {"model": "gpt-image-1", "prompt": prompt, "quality": "low", "output_format": "jpeg"},
        [("image", "boat.png", png(300, 200))],
    )
    status, body = await post_edit(session, sim, form)
    assert status == 200, body
    assert set(body) == {"created", "usage", "data"}
    image = decode(body["data"][0]["b64_json"])
    assert (image.format, image.size) == ("JPEG", (1536, 1024))  # auto: landscape input
    usage = body["usage"]
    for padding in (
        "prompt_tokens",
        "completion_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
        "claude_cache_creation_5_m_tokens",
        "claude_cache_creation_1_h_tokens",
    ):
        assert padding in usage
    assert usage["input_tokens_details"]["cached_tokens_details"] == {}
    assert usage["input_tokens_details"]["image_tokens"] == 194
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    upload = sim.stats.uploads[prompt]
    assert (upload.images, upload.mask) == (1, False)
    assert upload.names == ("boat.png",)
    assert upload.parts == ("image",)
    assert upload.formats == ("png",)
    assert sim.stats.billed_for(prompt) == 1


async def test_edit_with_two_image_parts_and_a_mask_records_them(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """Two repeated `image[]` parts plus an RGBA mask are accepted; stats record 2 images,
    the mask and the part names; usage counts both input images."""
    prompt = "merge the two scenes"
    form = edit_form(
        {"model": "gpt-image-2", "prompt": prompt, "size": "256x256", "n": "2"},
        [
            ("image[]", "a.png", png(64, 64)),
            ("image[]", "b.png", png(32, 48)),
            ("mask", "mask.png", png(64, 64, "RGBA")),
        ],
    )
    status, body = await post_edit(session, sim, form)
    assert status == 200, body
    assert [decode(item["b64_json"]).size for item in body["data"]] == [(256, 256)] * 2
    assert body["usage"]["input_tokens_details"]["image_tokens"] == 2 * 194
    upload = sim.stats.uploads[prompt]
    assert (upload.images, upload.mask) == (2, True)
    assert upload.parts == ("image[]", "image[]")
    assert upload.names == ("a.png", "b.png")
    assert sim.stats.billed_for(prompt) == 2
    async with session.get(f"{sim.base_url}/_sim/stats") as response:
        served = await response.json()
    assert served["uploads"][prompt]["images"] == 2


@pytest.mark.parametrize(
    ("fields", "files", "param", "code"),
    [
        ({"model": "gpt-image-1", "prompt": "x"}, [], "image", "missing_required_parameter"),
        (
            {"model": "gpt-image-1", "prompt": "x"},
            [("image", "fake.png", b"GIF89a not really an image")],
            "image",
            "invalid_image_format",
        ),
        (
            {"model": "gpt-image-1", "prompt": "x"},
            [("image", "a.png", png(64, 64)), ("mask", "m.png", png(64, 64))],
            "mask",
            "invalid_image_format",
        ),
        (
            {"model": "gpt-image-1", "prompt": "x"},
            [("image", "a.png", png(64, 64)), ("mask", "m.png", png(32, 32, "RGBA"))],
            "mask",
            "invalid_image_format",
        ),
        (
            {"model": "dall-e-3", "prompt": "x"},
            [("image", "a.png", png(64, 64))],
            "model",
            "invalid_value",
        ),
        (
            {"model": "dall-e-2", "prompt": "x"},
            [("image", "a.png", png(64, 32))],
            "image",
            "invalid_image",
        ),
        (
            {"model": "gpt-image-1-mini", "prompt": "x", "input_fidelity": "high"},
            [("image", "a.png", png(64, 64))],
            "input_fidelity",
            "unknown_parameter",
        ),
    ],
    ids=[
        "missing-image",
        "not-an-image",
        "mask-without-alpha",
        "mask-size-mismatch",
        "model-cannot-edit",
        "dall-e-2-not-square",
        "mini-input-fidelity",
    ],
)
async def test_edit_validation_errors_are_400_and_not_billed(
    session: aiohttp.ClientSession,
    sim: Simulator,
    fields: dict[str, str],
    files: list[tuple[str, str, bytes]],
    param: str,
    code: str,
) -> None:
    """Invalid edits (no image, bytes that are not an image, a bad mask, a model that does
    not edit...) get 400 in CometAPI's envelope with the right param, and are not billed."""
    status, body = await post_edit(session, sim, edit_form(fields, files))
    assert status == 400
    assert (body["error"]["param"], body["error"]["code"]) == (param, code)
    assert sim.stats.total_billed == 0


async def test_edit_needs_multipart(session: aiohttp.ClientSession, sim: Simulator) -> None:
    """A JSON body on the edits route is a 400, not a crash."""
    async with session.post(
        f"{sim.base_url}/v1/images/edits",
        json={"model": "gpt-image-1", "prompt": "x"},
        headers=AUTH,
    ) as response:
        assert response.status == 400
        assert "multipart/form-data" in (await response.json())["error"]["message"]


async def test_edit_trigger_word_and_dall_e_2_url(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """The trigger word refuses an edit as moderation_blocked; dall-e-2 edits answer a url
    to PNG bytes."""
    image = [("image", "a.png", png(64, 64))]
    status, body = await post_edit(
        session, sim, edit_form({"model": "gpt-image-1", "prompt": "forbidden-fruit"}, image)
    )
    assert (status, body["error"]["code"]) == (400, "moderation_blocked")
    status, body = await post_edit(
        session,
        sim,
        edit_form({"model": "dall-e-2", "prompt": "a hat", "size": "256x256"}, image),
    )
    assert status == 200
    async with session.get(body["data"][0]["url"]) as response:
        assert Image.open(io.BytesIO(await response.read())).size == (256, 256)


async def test_official_sdk_sends_image_array_as_brackets(sim: Simulator) -> None:
    """The openai SDK's images.edit with a list of images reaches the simulator as repeated
    `image[]` parts and parses the answer."""
    client = openai.AsyncOpenAI(base_url=f"{sim.base_url}/v1", api_key=KEY, max_retries=0)
    async with client:
        result = await client.images.edit(
            model="gpt-image-1.5",
            prompt="sdk edit",
            image=[("a.png", png(40, 40), "image/png"), ("b.png", png(40, 40), "image/png")],
            size="1024x1024",
        )
    assert result.data is not None
    assert result.data[0].b64_json
    assert sim.stats.uploads["sdk edit"].parts == ("image[]", "image[]")


# --------------------------------------------------------------------------------------
# Gemini


def gemini_body(prompt: str, *, images: Sequence[bytes] = (), **config: Any) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": prompt}]
    parts += [
        {"inline_data": {"mime_type": "image/png", "data": base64.b64encode(data).decode()}}
        for data in images
    ]
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": parts}]}
    if config:
        body["generationConfig"] = config
    return body


async def generate_content(
    session: aiohttp.ClientSession,
    sim: Simulator,
    model: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str] = GOOG,
) -> tuple[int, dict[str, Any], Mapping[str, str]]:
    async with session.post(
        f"{sim.base_url}/v1beta/models/{model}:generateContent", json=body, headers=headers
    ) as response:
        return response.status, json.loads(await response.read()), response.headers


async def test_gemini_answers_text_then_thought_image_then_final_image(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """gemini-3.1 answers a text part, a smaller `thought: true` image, then the final image
    with a thoughtSignature at the configured aspect ratio and size; usageMetadata counts
    thoughts; the reference image is recorded and one image is billed."""
    prompt = "a lighthouse in fog"
    body = gemini_body(
        prompt,
        images=[png(30, 20)],
        responseModalities=["TEXT", "IMAGE"],
        imageConfig={"aspectRatio": "16:9", "imageSize": "2K"},
    )
    status, answer, _ = await generate_content(session, sim, "gemini-3.1-flash-image-preview", body)
    assert status == 200, answer
    (candidate,) = answer["candidates"]
    assert candidate["finishReason"] == "STOP"
    text, thought, final = candidate["content"]["parts"]
    assert "text" in text
    assert thought["thought"] is True
    assert "thoughtSignature" in final
    assert "thought" not in final
    assert decode(final["inlineData"]["data"]).size == (512, 288)  # 2K capped at 512
    assert decode(thought["inlineData"]["data"]).size == (256, 144)
    usage = answer["usageMetadata"]
    assert usage["thoughtsTokenCount"] > 0
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )
    assert sim.stats.uploads[prompt].parts == ("inline_data",)
    assert sim.stats.billed_for(prompt) == 1


async def test_gemini_2_5_has_no_thought_and_keeps_the_reference_shape(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """gemini-2.5-flash-image (camelCase inlineData, Bearer auth) answers text then the
    image, with no thought part; without aspectRatio the output keeps the reference shape."""
    data = base64.b64encode(png(20, 40)).decode()
    body = {
        "contents": [
            {
                "parts": [
                    {"text": "make it blue"},
                    {"inlineData": {"mimeType": "image/png", "data": data}},
                ]
            }
        ]
    }
    status, answer, _ = await generate_content(session, sim, "gemini-2.5-flash-image", body, AUTH)
    assert status == 200
    parts = answer["candidates"][0]["content"]["parts"]
    assert not any(part.get("thought") for part in parts)
    images = [part for part in parts if "inlineData" in part]
    assert len(images) == 1
    assert decode(images[-1]["inlineData"]["data"]).size == (256, 512)
    assert sim.stats.uploads["make it blue"].parts == ("inlineData",)


async def test_gemini_blocks_come_back_as_200(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """The trigger word gives 200 with only promptFeedback.blockReason SAFETY (no
    candidates); the no-image word gives finishReason IMAGE_SAFETY with text only. Neither
    is billed."""
    model = "gemini-3-pro-image-preview"
    status, answer, _ = await generate_content(
        session, sim, model, gemini_body("a forbidden-fruit scene")
    )
    assert status == 200
    assert "candidates" not in answer
    assert answer["promptFeedback"]["blockReason"] == "SAFETY"

    status, answer, _ = await generate_content(
        session, sim, model, gemini_body("no-image-please, a cat")
    )
    assert status == 200
    (candidate,) = answer["candidates"]
    assert candidate["finishReason"] == "IMAGE_SAFETY"
    assert all("inlineData" not in part for part in candidate["content"]["parts"])
    assert sim.stats.total_billed == 0


async def test_gemini_errors_come_in_both_shapes(session: aiohttp.ClientSession) -> None:
    """Invalid Gemini requests get Google-style INVALID_ARGUMENT; an unknown model is the
    gateway's 503 CometAPI envelope; injected 429s are Google-style with a retry hint while
    500 invalid_request stays in the CometAPI envelope."""
    config = SimulatorConfig(
        api_key=KEY, max_image_side=256, scripts={"busy": ["429"], "odd": ["500_invalid"]}
    )
    async with Simulator(config) as sim:
        model = "gemini-3.1-flash-image-preview"
        bad_ratio = gemini_body("x", imageConfig={"aspectRatio": "7:3"})
        status, answer, _ = await generate_content(session, sim, model, bad_ratio)
        assert status == 400
        assert answer["error"]["status"] == "INVALID_ARGUMENT"
        assert answer["error"]["code"] == 400

        not_image = {
            "contents": [
                {
                    "parts": [
                        {"text": "x"},
                        {"inline_data": {"mime_type": "image/png", "data": "aGk="}},
                    ]
                }
            ]
        }
        status, answer, _ = await generate_content(session, sim, model, not_image)
        assert (status, answer["error"]["status"]) == (400, "INVALID_ARGUMENT")

        status, answer, _ = await generate_content(session, sim, "gemini-9", gemini_body("x"))
        assert (status, answer["error"]["code"]) == (503, "model_not_found")

        status, answer, headers = await generate_content(session, sim, model, gemini_body("busy"))
        assert (status, answer["error"]["status"]) == (429, "RESOURCE_EXHAUSTED")
        assert headers["Retry-After"] == "1"

        status, answer, _ = await generate_content(session, sim, model, gemini_body("odd"))
        assert (status, answer["error"]["code"]) == (500, "invalid_request")
        assert sim.stats.total_billed == 0


# --------------------------------------------------------------------------------------
# Catalogs


async def test_public_catalog_needs_no_key_and_has_null_pricing(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """GET /api/models answers without a key: success, page 0, total = len(data); token
    models fill input/output, per-call models per_request, the rest null; it lists every
    family the simulator serves and is not counted in the stats."""
    async with session.get(f"{sim.base_url}/api/models") as response:
        assert response.status == 200
        catalog = await response.json()
    assert (catalog["success"], catalog["page"], catalog["page_size"]) == (True, 0, 0)
    assert catalog["total"] == len(catalog["data"])
    records = {record["id"]: record for record in catalog["data"]}
    for model in (
        "gpt-image-2",
        "dall-e-3",
        "qwen-image-edit",
        "doubao-seedream-5-0-260128",
        "gemini-3-pro-image-preview",
        "flux-pro-1.1",
        "mj_turbo_imagine",
        "mj_fast_upscale",
        "bria-text-to-image",
        "bria-gen-fill",
    ):
        assert model in records
    assert {"text", "image"} <= {record["model_type"] for record in records.values()}
    gpt = records["gpt-image-2"]
    assert set(gpt) == {"id", "provider", "model_type", "features", "pricing", "api_doc_url"}
    assert gpt["pricing"] == {
        "currency": "USD / M Tokens",
        "input": 4,
        "output": 24,
        "per_request": None,
        "per_second": None,
    }
    mj = records["mj_turbo_imagine"]["pricing"]
    assert mj["per_request"] > 0
    assert (mj["input"], mj["output"], mj["per_second"]) == (None, None, None)
    assert all(record["pricing"]["per_second"] is None for record in records.values())
    assert sim.stats.total_requests == 0


async def test_v1_models_needs_the_key(session: aiohttp.ClientSession, sim: Simulator) -> None:
    """GET /v1/models is 401 without a key and an OpenAI-style list with one."""
    async with session.get(f"{sim.base_url}/v1/models") as response:
        assert response.status == 401
    async with session.get(f"{sim.base_url}/v1/models", headers=AUTH) as response:
        listing = await response.json()
    assert listing["object"] == "list"
    ids = {item["id"] for item in listing["data"]}
    assert {"gpt-image-1", "flux-dev", "gemini-2.5-flash-image"} <= ids
    assert all(item["object"] == "model" for item in listing["data"])
