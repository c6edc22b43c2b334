"""What the simulator's images show: the prompt written on a colour field the prompt picks,
a transparent background where one was asked for, and a bounded cache of the encodings."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest
from PIL import Image, ImageChops

from batch_gen.simulator import Simulator, SimulatorConfig
from batch_gen.simulator.config import ImageMode
from batch_gen.simulator.images import ImageCache, ImageFormat, ImageSpec, render, spec_for
from batch_gen.simulator.pictures import wrap
from batch_gen.simulator.server import STATE_KEY

KEY = "sk-sim-images"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(api_key=KEY)) as running:
        yield running


async def generate(
    session: aiohttp.ClientSession, sim: Simulator, prompt: str, **fields: Any
) -> tuple[int, dict[str, Any]]:
    body = {"model": "gpt-image-1", "prompt": prompt, "size": "1024x1024", **fields}
    url = f"{sim.base_url}/v1/images/generations"
    async with session.post(url, json=body, headers=AUTH) as response:
        return response.status, await response.json()


def decode(answer: Mapping[str, Any]) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(answer["data"][0]["b64_json"])))
    image.load()
    return image


def count_white(image: Image.Image) -> int:
    """Pure white pixels: only the label's text has them (simple mode's bands stop at 240)."""
    colours = image.convert("RGB").getcolors(1 << 24) or []
    return sum(count for count, colour in colours if colour == (255, 255, 255))


async def test_different_prompts_give_visibly_different_images(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """Two prompts of one size differ in most pixels (their colour fields differ), and each
    carries its text; the same prompt again gives the same bytes from the cache."""
    _, fox = await generate(session, sim, "a red fox asleep in the snow")
    _, whale = await generate(session, sim, "a blue whale under the ice")
    _, fox_again = await generate(session, sim, "a red fox asleep in the snow")

    assert fox["data"][0]["b64_json"] != whale["data"][0]["b64_json"]
    assert fox_again["data"][0]["b64_json"] == fox["data"][0]["b64_json"]
    assert sim.app[STATE_KEY].images.renders == 2  # the repeat was served from the cache

    fox_image, whale_image = decode(fox), decode(whale)
    differing = (
        ImageChops.difference(fox_image, whale_image)
        .convert("L")
        .point(lambda value: 255 if value else 0)
    )
    assert differing.histogram()[255] > 0.5 * 1024 * 1024
    assert count_white(fox_image) > 100  # the text


async def test_without_labels_prompts_share_unlabelled_pictures(
    session: aiohttp.ClientSession,
) -> None:
    """image_labels off (the benchmark's setting): no text, and prompts hashed onto one
    variant share one encoding."""
    config = SimulatorConfig(api_key=KEY, image_labels=False, image_variants=1)
    async with Simulator(config) as sim:
        _, fox = await generate(session, sim, "a red fox asleep in the snow")
        _, whale = await generate(session, sim, "a blue whale under the ice")
        assert fox["data"][0]["b64_json"] == whale["data"][0]["b64_json"]
        assert count_white(decode(fox)) == 0
        assert sim.app[STATE_KEY].images.renders == 1


@pytest.mark.parametrize("output_format", ["png", "webp"])
async def test_transparent_background_is_transparent(
    session: aiohttp.ClientSession, sim: Simulator, output_format: str
) -> None:
    """A GPT image model asked for a transparent background in PNG or WebP answers RGBA
    whose corners are fully transparent and whose middle is opaque."""
    status, answer = await generate(
        session, sim, "an icon of a gear", background="transparent", output_format=output_format
    )
    assert status == 200
    assert answer["background"] == "transparent"
    image = decode(answer)
    assert image.mode == "RGBA"
    alpha = image.getchannel("A")
    corners = [(0, 0), (1023, 0), (0, 1023), (1023, 1023)]
    assert [alpha.getpixel(corner) for corner in corners] == [0, 0, 0, 0]
    assert alpha.getpixel((512, 512)) == 255


@pytest.mark.parametrize(
    ("fields", "pillow_format"),
    [
        ({"output_format": "png"}, "PNG"),
        ({"output_format": "png", "background": "opaque"}, "PNG"),
        ({"output_format": "jpeg", "background": "opaque"}, "JPEG"),
        ({"output_format": "jpeg"}, "JPEG"),
    ],
)
async def test_opaque_unless_transparency_was_asked(
    session: aiohttp.ClientSession, sim: Simulator, fields: dict[str, str], pillow_format: str
) -> None:
    """Without ``background: transparent`` (and always for JPEG) the image has no alpha."""
    status, answer = await generate(session, sim, "an icon of a gear", **fields)
    assert status == 200
    image = decode(answer)
    assert (image.format, image.mode) == (pillow_format, "RGB")


async def test_transparent_jpeg_is_refused(session: aiohttp.ClientSession, sim: Simulator) -> None:
    """JPEG has no alpha channel: the request is refused, as OpenAI does."""
    status, answer = await generate(
        session, sim, "an icon", background="transparent", output_format="jpeg"
    )
    assert status == 400
    assert answer["error"]["param"] == "background"


def test_render_keeps_jpeg_opaque_even_when_transparency_is_asked() -> None:
    """The spec's transparency is ignored for an encoding without alpha, never an error."""
    spec = ImageSpec(64, 64, ImageFormat.JPEG, ImageMode.SIMPLE, 0, label="x", transparent=True)
    image = Image.open(io.BytesIO(render(spec).data))
    assert (image.format, image.mode) == ("JPEG", "RGB")


def test_a_midjourney_grid_is_transparent_in_every_cell() -> None:
    """Each cell of a transparent grid is cut out on its own (grids are MJ's, which never
    asks for it, but the spec allows it)."""
    spec = ImageSpec(128, 128, ImageFormat.PNG, ImageMode.SIMPLE, 0, grid=True, transparent=True)
    alpha = Image.open(io.BytesIO(render(spec).data)).getchannel("A")
    assert [alpha.getpixel((x, y)) for x, y in [(0, 0), (64, 64), (127, 0)]] == [0, 0, 0]
    assert [alpha.getpixel((x, y)) for x, y in [(32, 32), (96, 96)]] == [255, 255]


def test_spec_for_labels_with_the_prompt_cut_to_a_bound() -> None:
    """The label is the prompt, cut so a megabyte prompt stays out of the cache key; off
    when image_labels is off."""
    labelled = SimulatorConfig()
    prompt = "word " * 1_000_000
    spec = spec_for(
        labelled, prompt, width=8, height=8, format=ImageFormat.PNG, variant=1, transparent=True
    )
    assert spec.label == prompt[:1000]
    assert (spec.mode, spec.variant, spec.transparent) == (ImageMode.SIMPLE, 1, True)
    unlabelled = SimulatorConfig(image_labels=False, image_mode=ImageMode.PHOTO)
    spec = spec_for(unlabelled, prompt, width=8, height=8, format=ImageFormat.PNG, variant=1)
    assert (spec.label, spec.mode) == ("", ImageMode.PHOTO)


def test_long_prompt_on_a_tiny_image_renders() -> None:
    """A prompt far longer than the picture holds, on pictures too small for any text, still
    renders at the exact size."""
    for width, height in [(1, 1), (16, 16), (64, 24), (300, 40)]:
        spec = ImageSpec(width, height, ImageFormat.PNG, ImageMode.SIMPLE, 0, label="w" * 5000)
        assert Image.open(io.BytesIO(render(spec).data)).size == (width, height)


def fits_10(line: str) -> bool:
    return len(line) <= 10


@pytest.mark.parametrize(
    ("text", "max_lines", "expected"),
    [
        ("", 3, []),
        ("   \n ", 3, []),
        ("a fox", 3, ["a fox"]),
        ("a red fox\nasleep in snow", 3, ["a red fox", "asleep in", "snow"]),
        ("abcdefghijklmnopqrstu", 3, ["abcdefghij", "klmnopqrst", "u"]),
        ("one two three four five six seven", 2, ["one two", "three fou\u2026"]),
        ("aaaaaaaaaa bbbbbbbbbb cccccccccc", 2, ["aaaaaaaaaa", "bbbbbbbbb\u2026"]),
    ],
)
def test_wrap(text: str, max_lines: int, expected: list[str]) -> None:
    """Lines break between words, long words between characters, and cut text ends with an
    ellipsis on a last line that still fits."""
    lines = wrap(text, fits=fits_10, max_lines=max_lines)
    assert lines == expected
    assert all(fits_10(line) for line in lines)


async def test_the_cache_is_bounded_and_least_recently_used_goes_first() -> None:
    """Past its byte budget the cache drops the least recently used image, which is then
    rendered again when asked for."""

    def spec(prompt: str) -> ImageSpec:
        return spec_for(
            SimulatorConfig(), prompt, width=64, height=64, format=ImageFormat.PNG, variant=0
        )

    one_entry = (await ImageCache(max_bytes=1 << 30).get(spec("a"))).cost
    cache = ImageCache(max_bytes=int(one_entry * 2.5))
    first = await cache.get(spec("a"))
    await cache.get(spec("b"))
    assert await cache.get(spec("a")) is first  # a hit, and now the most recent
    await cache.get(spec("c"))  # over budget: "b" goes
    assert (len(cache), cache.renders) == (2, 3)
    assert await cache.get(spec("a")) is first
    await cache.get(spec("b"))
    assert cache.renders == 4
