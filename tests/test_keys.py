"""Job keys decide what runs again; job ids name files. Both must be stable and exact."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

import pytest

from batch_gen.keys import KEY_FORMAT_VERSION, KeyTemplate, derive_id, job_key, short_key

REQUEST: dict[str, Any] = {
    "model": "gpt-image-2",
    "n": 1,
    "size": "1024x1024",
    "quality": "low",
    "background": "transparent",
    "extra": {"b": [1, 2.5, None, True], "a": "é"},
}
BASE: dict[str, Any] = {
    "provider": "cometapi",
    "api": "openai.generations",
    "endpoint": "/v1/images/generations",
    "prompt": "A paper boat floating on calm water at sunrise.",
    "request": REQUEST,
}


def test_key_is_pinned() -> None:
    """The key algorithm never changes by accident: a change re-runs every user's jobs."""
    assert KEY_FORMAT_VERSION == 1
    assert job_key(**BASE) == "fd197ea391fd26f7f580f15dd956ef46ecd7ce1248ad265c4b19f1e5960b585a"


def test_key_ignores_insertion_order() -> None:
    """Reordering fields, at any depth, gives the same key."""
    reordered = {key: REQUEST[key] for key in reversed(REQUEST)}
    reordered["extra"] = {"a": "é", "b": [1, 2.5, None, True]}
    assert job_key(**{**BASE, "request": reordered}) == job_key(**BASE)


def test_no_inputs_equals_empty_inputs() -> None:
    """Jobs without input files have one key whether inputs is omitted or empty."""
    assert job_key(**BASE, inputs={}) == job_key(**BASE) == job_key(**BASE, inputs=None)


def test_key_accepts_any_mapping() -> None:
    """A read-only mapping hashes like the equal dict."""
    frozen = MappingProxyType({**REQUEST, "extra": MappingProxyType(REQUEST["extra"])})
    assert job_key(**{**BASE, "request": frozen}) == job_key(**BASE)


def test_key_rejects_nan() -> None:
    """NaN has no canonical JSON spelling, so it cannot be part of a key."""
    with pytest.raises(ValueError, match="cannot be part of a job key"):
        job_key(**{**BASE, "request": {**REQUEST, "x": float("nan")}})


@pytest.mark.parametrize(
    "change",
    [
        {"provider": "openai"},
        {"api": "openai.edits"},
        {"endpoint": "/v1/images/edits"},
        {"prompt": "A paper boat floating on calm water at sunset."},
        {"prompt": "A paper boat floating on calm water at sunrise. "},
        {"request": {**REQUEST, "model": "gpt-image-1"}},
        {"request": {**REQUEST, "n": 2}},
        {"request": {**REQUEST, "size": "1536x1024"}},
        {"request": {**REQUEST, "quality": "high"}},
        {"request": {**REQUEST, "background": "opaque"}},
        {"request": {**REQUEST, "output_format": "webp"}},
        {"request": {**REQUEST, "n": "1"}},
        {"request": {**REQUEST, "extra": {"b": [1, 2.5, None, False], "a": "é"}}},
        {"request": {**REQUEST, "extra": {"b": [2.5, 1, None, True], "a": "é"}}},
        {"request": {key: value for key, value in REQUEST.items() if key != "quality"}},
        {"inputs": {"image": "0" * 64}},
    ],
    ids=lambda change: ",".join(change),
)
def test_key_changes_with_any_field(change: dict[str, Any]) -> None:
    """Every single thing that decides the image changes the key."""
    assert job_key(**{**BASE, **change}) != job_key(**BASE)


def test_key_changes_with_input_contents() -> None:
    """Another input file content (same name) is another image."""
    first = job_key(**BASE, inputs={"image": "a" * 64})
    assert first != job_key(**BASE, inputs={"image": "b" * 64})


def test_short_key() -> None:
    """The {key} placeholder is the key's first 12 characters."""
    assert short_key("0123456789abcdef" * 4) == "0123456789ab"


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        (
            "A paper boat floating on calm water at sunrise.",
            "a-paper-boat-floating-on-calm-water-at-2bccd3",
        ),
        ("一只纸船", "job-c6671d"),
        ("Café crème: l'été!", "cafe-creme-l-ete-ecf6db"),
        (
            "A very long prompt describing a lighthouse on a rocky coast at dusk with gulls",
            "a-very-long-prompt-describing-a-f3d87b",
        ),
        (
            "Supercalifragilisticexpialidociousnessandmorewordsinone huge",
            "supercalifragilisticexpialidociousnessan-4f8201",
        ),
        ("--- ??? ---", "job-995d8a"),
    ],
)
def test_derive_id(prompt: str, expected: str) -> None:
    """Derived ids: a readable ASCII slug of the first words (<= 40 chars) plus a short hash."""
    derived = derive_id(prompt)
    assert derived == expected
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", derived)
    assert len(derived.rpartition("-")[0]) <= 40


def test_derive_id_separates_prompts_with_the_same_start() -> None:
    """Prompts that share their first words still get different ids."""
    start = "A clean product photo of a glass teapot on a white table, "
    assert derive_id(start + "front view") != derive_id(start + "side view")


@pytest.mark.parametrize(
    "request_fields",
    [
        REQUEST,
        {"model": "m", "n": 1},
        {"model": "flux-dev", "n": 2, "params": {"z": [1, {"y": None}], "a": "\u2028"}},
        {},
    ],
)
@pytest.mark.parametrize(
    "prompt", ["", "plain", 'quotes " and \\ back', "é\n\ttab \x00 \U0001f600", "x" * 5000]
)
@pytest.mark.parametrize("provider", ["cometapi", "simulator:offline", 'odd "provider"'])
def test_key_template_gives_job_key(
    request_fields: dict[str, Any], prompt: str, provider: str
) -> None:
    """Jobs that share all but their prompt get the key job_key gives each of them."""
    template = KeyTemplate(
        provider=provider, api="openai.generations", endpoint="/v1/x", request=request_fields
    )
    expected = job_key(
        provider=provider,
        api="openai.generations",
        endpoint="/v1/x",
        prompt=prompt,
        request=request_fields,
    )
    assert template.key(prompt) == expected


def test_key_template_checks_the_request_as_job_key_does() -> None:
    """NaN has no JSON spelling: refused when the template is made, as by job_key."""
    with pytest.raises(ValueError, match="cannot be part of a job key"):
        KeyTemplate(provider="p", api="a", endpoint="e", request={"x": float("nan")})
