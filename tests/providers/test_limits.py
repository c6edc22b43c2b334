"""Each API's documented limits, as its spec declares them (``ApiSpec.limits``): a prompt
too long or a size the model does not make is a problem before anything is sent; a model
family no source documents has none (docs/protocols/*.md, "Limits")."""

from __future__ import annotations

import pytest

from batch_gen import routing
from batch_gen.providers.base import ApiSpec
from batch_gen.providers.registry import SPECS

OPENAI_LIMITS = [spec for spec in SPECS if spec.api in ("openai.generations", "openai.edits")]

# (model, prompt length, size) -> the problems' fields, and a fragment of the first.
CASES = [
    pytest.param("gpt-image-2", 32_000, "1024x1024", [], "", id="gpt-image-at-limit"),
    pytest.param(
        "gpt-image-2",
        32_001,
        "1024x1024",
        ["prompt"],
        "prompt is 32,001 characters; gpt-image-2 takes at most 32,000",
        id="gpt-image-over",
    ),
    pytest.param(
        "chatgpt-image-latest", 32_001, None, ["prompt"], "at most 32,000", id="chatgpt-image"
    ),
    pytest.param("GPT-Image-1", 32_001, None, ["prompt"], "at most 32,000", id="case-folded"),
    pytest.param("dall-e-3", 4_000, "1792x1024", [], "", id="dall-e-3-at-limit"),
    pytest.param("dall-e-3", 4_001, None, ["prompt"], "dall-e-3 takes at most 4,000", id="d3"),
    pytest.param("dall-e-2", 1_000, "512x512", [], "", id="dall-e-2-at-limit"),
    pytest.param("dall-e-2", 1_001, None, ["prompt"], "dall-e-2 takes at most 1,000", id="d2"),
    pytest.param(
        "dall-e-3",
        4_001,
        "1536x1024",
        ["prompt", "size"],
        "at most 4,000",
        id="both-at-once",
    ),
    pytest.param(
        "dall-e-3",
        1,
        "1536x1024",
        ["size"],
        "dall-e-3 cannot make size '1536x1024': use 1024x1024, 1792x1024, 1024x1792 or auto",
        id="dall-e-3-size",
    ),
    pytest.param(
        "dall-e-2", 1, "1024x1792", ["size"], "use 256x256, 512x512, 1024x1024", id="d2-size"
    ),
    pytest.param(
        "gpt-image-1",
        1,
        "1792x1024",
        ["size"],
        "gpt-image-1 cannot make size '1792x1024': use 1024x1024, 1536x1024, 1024x1536 or auto",
        id="gpt-image-1-size",
    ),
    pytest.param("gpt-image-1.5", 1, "1536x1024", [], "", id="gpt-image-1.5-size"),
    pytest.param("gpt-image-1-mini", 1, "2048x2048", ["size"], "use 1024x1024", id="mini"),
    pytest.param("dall-e-3", 1, "auto", [], "", id="auto-everywhere"),
    pytest.param("gpt-image-2", 1, "1792x1024", [], "", id="gpt-image-2-free"),
    pytest.param("gpt-image-2", 1, "3840x2160", [], "", id="gpt-image-2-largest"),
    pytest.param("gpt-image-2", 1, "2160x3840", [], "", id="gpt-image-2-portrait"),
    pytest.param("gpt-image-2", 1, "2560x2560", [], "", id="gpt-image-2-square-under-cap"),
    pytest.param("gpt-image-2", 1, "3072x1024", [], "", id="gpt-image-2-3-to-1"),
    pytest.param("gpt-image-2", 1, "256x256", [], "", id="gpt-image-2-no-minimum"),
    pytest.param("gpt-image-2-2026-04-21", 1, "1024x512", [], "", id="dated-gpt-image-2"),
    pytest.param(
        "gpt-image-2",
        1,
        "1000x1000",
        ["size"],
        "gpt-image-2 cannot make size '1000x1000': both sides must be multiples of 16",
        id="not-16",
    ),
    pytest.param("gpt-image-2", 1, "0x1024", ["size"], "multiples of 16", id="zero-side"),
    pytest.param(
        "gpt-image-2", 1, "3088x1024", ["size"], "at most 3 times the short one", id="ratio"
    ),
    pytest.param(
        "gpt-image-2", 1, "4096x2304", ["size"], "at most 3840 pixels on the long side", id="side"
    ),
    pytest.param("gpt-image-2", 1, "3200x3200", ["size"], "8,294,400 in all", id="pixels"),
    pytest.param(
        "gpt-image-2", 1, "1024X1024", ["size"], "write it as WIDTHxHEIGHT", id="capital-x"
    ),
    pytest.param("gpt-image-2", 1, "big", ["size"], "write it as WIDTHxHEIGHT", id="word"),
    # Families no source documents: no limit, the upstream decides.
    pytest.param("qwen-image", 5_000_000, "999x999", [], "", id="qwen-undocumented"),
    pytest.param("doubao-seedream-4-5-251128", 5_000_000, "4K", [], "", id="seedream"),
    pytest.param("some-future-model", 5_000_000, "1x1", [], "", id="unknown-model"),
]


@pytest.mark.parametrize("spec", OPENAI_LIMITS, ids=lambda spec: spec.api)
@pytest.mark.parametrize(("model", "length", "size", "fields", "fragment"), CASES)
def test_openai_limits(
    spec: ApiSpec, model: str, length: int, size: str | None, fields: list[str], fragment: str
) -> None:
    """Generations and edits serve the same models: one table of documented limits."""
    request = {"model": model, "n": 1} if size is None else {"model": model, "size": size}
    too_long = routing.prompt_problem(request, "x" * length, limit=spec.prompt_limit(request))
    problems = [*([too_long] if too_long else []), *spec.limits(request)]
    assert [field for field, _ in problems] == fields
    if fragment:
        assert fragment in problems[0][1]


@pytest.mark.parametrize(
    "spec", [spec for spec in SPECS if spec not in OPENAI_LIMITS], ids=lambda spec: spec.api
)
def test_apis_without_documented_limits_send_any_prompt(spec: ApiSpec) -> None:
    """Midjourney, Flux, Gemini and Bria document no prompt length or size rule that
    batch_gen could check: even a 5 MB prompt is theirs to refuse."""
    request = {"model": "m", "size": "99999x1"}
    assert spec.prompt_limit(request) is None
    assert spec.limits(request) == []
