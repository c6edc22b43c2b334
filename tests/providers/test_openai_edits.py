"""The edits provider: text fields, multipart parts, input checks, and the wire shape.

Where a test sends, it runs the request loop with aioresponses standing in for the network
and asserts how many calls were made. aioresponses records an unmatched URL too (and
answers it with a connection error), so a test that expects a transport failure also checks
that the failure is the mocked one.
"""

from __future__ import annotations

import base64
import json
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from provider_support import MemoryChannel, answer
from provider_support import input_file as _input
from support import API_BASE, API_KEY, PNG, SimFactory, cli_env, run_cli, sent

from batch_gen.errors import InvalidRequestError, ModelNotFoundError, ServerError
from batch_gen.inputs import read_inputs
from batch_gen.models import InputFile, Job
from batch_gen.providers import provider_for
from batch_gen.providers.base import FormPart, inline_bytes
from batch_gen.providers.openai_edits import SPEC, OpenAIEdits, edit_fields, form_parts
from batch_gen.runner.tasks import perform

URL = f"{API_BASE}/v1/images/edits"
KEY = API_KEY
JPEG = b"\xff\xd8\xff\xe0fake-jpeg"


def _job(model: str = "gpt-image-2", *, inputs: tuple[InputFile, ...] = (), **request: Any) -> Job:
    return Job(
        id="j",
        index=1,
        prompt="make it blue",
        request={"model": model, "n": 1, **request},
        api="openai.edits",
        key="k",
        inputs=inputs,
    )


async def _parts(form: aiohttp.FormData) -> list[EmailMessage]:
    """The parts of a FormData as a server would read them."""
    writer = form()
    head = f"Content-Type: {writer.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + await writer.as_bytes())
    assert isinstance(message, EmailMessage)
    return list(message.iter_parts())  # type: ignore[arg-type]


def _answer() -> dict[str, Any]:
    return {
        "created": 1,
        "usage": {"input_tokens": 300, "output_tokens": 196, "total_tokens": 496},
        "data": [{"b64_json": base64.b64encode(PNG).decode()}],
    }


def test_the_registry_serves_the_edits_route() -> None:
    """provider_for("openai.edits") is this provider."""
    assert isinstance(provider_for("openai.edits"), OpenAIEdits)


@pytest.mark.parametrize(
    ("model", "fields", "expected"),
    [
        (
            "gpt-image-2",
            {
                "size": "1024x1024",
                "response_format": "url",
                "moderation": "low",
                "style": "vivid",
                "input_fidelity": "high",
                "background": "transparent",
            },
            {
                "prompt": "make it blue",
                "model": "gpt-image-2",
                "size": "1024x1024",
                "input_fidelity": "high",
                "background": "transparent",
            },
        ),
        (
            "gpt-image-1-mini",
            {"input_fidelity": "high", "quality": "low"},
            {"prompt": "make it blue", "model": "gpt-image-1-mini", "quality": "low"},
        ),
        (
            "dall-e-2",
            {"quality": "low", "output_format": "png", "input_fidelity": "high"},
            {"prompt": "make it blue", "model": "dall-e-2"},
        ),
    ],
)
def test_only_fields_the_edits_route_accepts_are_sent(
    model: str, fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    """The generations family policy applies, minus moderation/style, and input_fidelity
    only for full GPT image models."""
    assert edit_fields(_job(model, **fields), 1) == expected


def test_n_is_sent_only_above_one_and_qwen_is_split(tmp_path: Path) -> None:
    """gpt-image asks for all images in one request; qwen-image-edit gets one per image."""
    image = _input(tmp_path, "a.png", PNG)
    provider = OpenAIEdits()
    (batch,) = provider.requests_for(_job(n=3, inputs=(image,)), 3)
    assert batch.body["n"] == 3
    assert batch.images == 3
    assert batch.files == (image,)
    split = provider.requests_for(_job("qwen-image-edit", n=2, inputs=(image,)), 2)
    assert [request.images for request in split] == [1, 1]
    assert all("n" not in request.body for request in split)
    assert SPEC.request_count(_job("qwen-image-edit", n=2), 2) == 2
    assert SPEC.request_count(_job(n=2), 2) == 1
    assert provider.requests_for(_job(), 0) == []


def test_part_names_follow_the_number_of_images(tmp_path: Path) -> None:
    """One image is part "image"; several are repeated "image[]"; the mask is "mask"."""
    one = _input(tmp_path, "one.png", PNG)
    two = _input(tmp_path, "two.jpg", JPEG)
    mask = _input(tmp_path, "mask.png", PNG, role="mask")
    (single,) = OpenAIEdits().requests_for(_job(inputs=(one,)), 1)
    files = [part for part in form_parts(single, [PNG]) if part.filename]
    assert [(part.name, part.content_type) for part in files] == [("image", "image/png")]

    (several,) = OpenAIEdits().requests_for(_job(inputs=(one, two, mask)), 1)
    parts = form_parts(several, [PNG, JPEG, PNG])
    files = [part for part in parts if part.filename]
    assert [(part.name, part.filename, part.content_type) for part in files] == [
        ("image[]", "one.png", "image/png"),
        ("image[]", "two.jpg", "image/jpeg"),
        ("mask", "mask.png", "image/png"),
    ]
    assert [part.value for part in files] == [PNG, JPEG, PNG]


def test_text_fields_are_strings() -> None:
    """Numbers, booleans and objects become the text a form field carries."""
    job = _job(n=2, output_compression=80, watermark=False, extra={"a": 1})
    (request,) = OpenAIEdits().requests_for(job, 2)
    texts = {part.name: part.value for part in form_parts(request, [])}
    assert texts["n"] == "2"
    assert texts["output_compression"] == "80"
    assert texts["watermark"] == "false"
    assert texts["extra"] == '{"a":1}'


def test_the_call_carries_the_bytes_it_is_given(tmp_path: Path) -> None:
    """build_call is pure: the parts hold the bytes the loop read and checked, and the
    file is not read again (here it is already gone)."""
    image = _input(tmp_path, "a.png", PNG)
    provider = OpenAIEdits()
    (request,) = provider.requests_for(_job(inputs=(image,)), 1)
    image.path.unlink()
    call = provider.build_call(request, [PNG], None)
    assert (call.method, call.path) == ("POST", "/v1/images/edits")
    assert (call.json, call.data) == (None, None)
    assert call.form is not None
    assert call.form[-1] == FormPart("image", PNG, filename="a.png", content_type="image/png")


def test_a_changed_input_file_is_a_permanent_error_naming_it(tmp_path: Path) -> None:
    """A file edited since the manifest was read would be paid under the old key: refuse."""
    image = _input(tmp_path, "a.png", PNG)
    assert read_inputs([image]) == [PNG]
    image.path.write_bytes(PNG + b"changed")
    with pytest.raises(InvalidRequestError, match=r"a\.png changed since the manifest") as caught:
        read_inputs([image])
    assert not caught.value.retryable
    image.path.unlink()
    with pytest.raises(InvalidRequestError, match=r"cannot read the input image .*a\.png"):
        read_inputs([image])


async def test_request_shape_on_the_wire(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    """One multipart POST with a Bearer key: text fields, two image[] parts and a mask."""
    one = _input(tmp_path, "one.png", PNG)
    two = _input(tmp_path, "two.jpg", JPEG)
    mask = _input(tmp_path, "mask.png", PNG, role="mask")
    provider = OpenAIEdits()
    (request,) = provider.requests_for(_job(inputs=(one, two, mask), size="1024x1024"), 1)
    with aioresponses() as mock:
        mock.post(URL, payload=_answer(), headers={"x-request-id": "req-9"})
        generation = await perform(provider, request, MemoryChannel(session))
        (call,) = sent(mock)
    assert call.kwargs["headers"] == {"Authorization": f"Bearer {KEY}"}
    parts = await _parts(call.kwargs["data"])
    named = [(part.get_param("name", header="content-disposition"), part) for part in parts]
    fields = {name: part.get_content() for name, part in named if not part.get_filename()}
    assert fields == {"prompt": "make it blue", "model": "gpt-image-2", "size": "1024x1024"}
    files = [
        (name, part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        for name, part in named
        if part.get_filename()
    ]
    assert files == [
        ("image[]", "one.png", "image/png", PNG),
        ("image[]", "two.jpg", "image/jpeg", JPEG),
        ("mask", "mask.png", "image/png", PNG),
    ]
    assert inline_bytes(generation.images[0]) == PNG
    assert generation.usage is not None
    assert generation.usage["total_tokens"] == 496
    assert generation.request_id == "req-9"


async def test_a_single_image_goes_in_part_image(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """With one input image the part is named "image", without brackets."""
    image = _input(tmp_path, "only.png", PNG)
    provider = OpenAIEdits()
    (request,) = provider.requests_for(_job(inputs=(image,)), 1)
    with aioresponses() as mock:
        mock.post(URL, payload=_answer())
        await perform(provider, request, MemoryChannel(session))
        (call,) = sent(mock)
    parts = await _parts(call.kwargs["data"])
    names = [part.get_param("name", header="content-disposition") for part in parts]
    assert names == ["prompt", "model", "image"]


async def test_a_changed_file_is_refused_before_anything_is_sent(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The check happens at send time, and nothing reaches the API (nothing is paid)."""
    image = _input(tmp_path, "a.png", PNG)
    provider = OpenAIEdits()
    (request,) = provider.requests_for(_job(inputs=(image,)), 1)
    image.path.write_bytes(JPEG)
    with aioresponses() as mock:
        mock.post(URL, payload=_answer())
        with pytest.raises(InvalidRequestError, match="changed since the manifest"):
            await perform(provider, request, MemoryChannel(session))
        assert sent(mock) == []


@pytest.mark.parametrize(
    ("status", "body", "expected", "retryable"),
    [
        (
            400,
            {"error": {"message": "Invalid 'mask'", "code": "invalid_value"}},
            InvalidRequestError,
            False,
        ),
        (503, {"error": {"message": "busy", "code": ""}}, ServerError, True),
        (
            503,
            {"error": {"message": "No available channel for model x", "code": "model_not_found"}},
            ModelNotFoundError,
            False,
        ),
    ],
)
def test_errors_are_translated_like_generations(
    tmp_path: Path,
    status: int,
    body: dict[str, Any],
    expected: type[Exception],
    retryable: bool,
) -> None:
    """Unsuccessful answers go through the shared classification table."""
    image = _input(tmp_path, "a.png", PNG)
    provider = OpenAIEdits()
    (request,) = provider.requests_for(_job(inputs=(image,)), 1)
    with pytest.raises(expected) as caught:
        provider.read_answer(answer(body, status=status), request, secret=KEY)
    assert type(caught.value) is expected
    assert getattr(caught.value, "retryable", None) is retryable
    assert KEY not in str(caught.value)


# --- End to end: the real CLI against the simulator, one manifest for every new route ---

E2E_MANIFEST = """\
version: 1
defaults:
  model: gpt-image-2
  size: 256x256
  quality: low
output:
  dir: out
jobs:
  - id: edit-one
    prompt: "Paint the vase blue"
    image: inputs/photo.png
  - id: edit-two
    prompt: "Put the two objects side by side"
    image: [inputs/photo.png, inputs/second.jpg]
    mask: inputs/mask.png
  - id: gemini
    prompt: "A red kite over the dunes"
    model: gemini-3.1-flash-image-preview
    image: inputs/photo.png
  - id: bria
    prompt: "A lighthouse at dawn"
    model: bria-text-to-image
    n: 2
  - id: bria-edit
    prompt: "A bunch of tulips in the vase"
    model: bria-gen-fill
    action: gen_fill
    image: inputs/photo.png
    mask: inputs/bria-mask.png
"""


def _write_inputs(folder: Path) -> None:
    from PIL import Image

    folder.mkdir()
    Image.new("RGB", (64, 64), (200, 120, 40)).save(folder / "photo.png")
    Image.new("RGB", (64, 64), (40, 120, 200)).save(folder / "second.jpg", quality=90)
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (16, 16, 48, 48))  # transparent: OpenAI edits there
    mask.save(folder / "mask.png")
    bria_mask = Image.new("L", (64, 64), 0)
    bria_mask.paste(255, (16, 16, 48, 48))  # white: Bria edits there
    bria_mask.save(folder / "bria-mask.png")


async def test_every_new_route_end_to_end(tmp_path: Path, simulator: SimFactory) -> None:
    """The CLI runs edits (one image; two images and a mask), Gemini and both Bria routes
    against the simulator: right files and formats, uploads as sent, each paid once, and a
    second run sends nothing."""
    from PIL import Image

    _write_inputs(tmp_path / "inputs")
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(E2E_MANIFEST)
    args = ["run", str(manifest), "--poll-interval", "0.05", "--report", "report.json"]
    async with simulator(max_image_side=256) as sim:
        result = await run_cli(args, cwd=tmp_path, env=cli_env(sim.base_url))
        assert result.code == 0, result.text
        stats = sim.stats
        billed = {
            prompt: stats.billed_for(prompt)
            for prompt in (
                "Paint the vase blue",
                "Put the two objects side by side",
                "A red kite over the dunes",
                "A lighthouse at dawn",
                "A bunch of tulips in the vase",
            )
        }
        uploads = {prompt: upload.to_json() for prompt, upload in stats.uploads.items()}
        submits = stats.submits_for("A bunch of tulips in the vase")
        report = json.loads((tmp_path / "report.json").read_text())
        again = await run_cli(args, cwd=tmp_path, env=cli_env(sim.base_url))
        assert again.code == 0, again.text
        assert stats.total_billed == sum(billed.values())
    assert billed == {
        "Paint the vase blue": 1,
        "Put the two objects side by side": 1,
        "A red kite over the dunes": 1,
        "A lighthouse at dawn": 2,
        "A bunch of tulips in the vase": 1,
    }
    assert submits == 1
    one = uploads["Paint the vase blue"]
    assert (one["images"], one["mask"], one["parts"], one["formats"]) == (
        1,
        False,
        ["image"],
        ["png"],
    )
    two = uploads["Put the two objects side by side"]
    assert (two["images"], two["mask"], two["parts"], two["formats"]) == (
        2,
        True,
        ["image[]", "image[]"],
        ["png", "jpeg"],
    )
    kite = uploads["A red kite over the dunes"]
    assert (kite["images"], kite["parts"], kite["formats"]) == (1, ["inline_data"], ["png"])
    tulips = uploads["A bunch of tulips in the vase"]
    assert (tulips["images"], tulips["mask"]) == (1, True)

    out = tmp_path / "out"
    expected = ["bria-1.png", "bria-2.png", "bria-edit.png", "edit-one.png", "edit-two.png"]
    expected.append("gemini.png")
    assert sorted(path.name for path in out.glob("*.png")) == sorted(expected)
    for name in expected:
        with Image.open(out / name) as image:
            assert image.format == "PNG", name
            image.load()
    with Image.open(out / "gemini.png") as image:
        assert image.size == (256, 256)  # the final image, not the half-size thought draft
    assert report["succeeded"] == 5
    assert report["requests"] == 5  # the Bria edit's polls are not requests
    jobs = {job["id"]: job for job in report["jobs"]}
    assert jobs["gemini"]["usage"]["output_tokens"] > 0  # usageMetadata, under our names
    assert jobs["edit-two"]["usage"]["output_tokens"] > 0
    second = json.loads((tmp_path / "report.json").read_text())
    assert (second["succeeded"], second["requests"]) == (0, 0)  # all done: nothing sent
