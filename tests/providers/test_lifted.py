"""Decoding an answer around its big base64 strings (pure): lifted only when exact,
otherwise decoded whole, so that the result is always what a plain decode gives."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from batch_gen.providers.lifted import decode_lifting
from batch_gen.providers.openai_images import parse_generation


def _lifted(document: Any) -> tuple[Any, list[bytes]]:
    found = decode_lifting(json.dumps(document).encode(), "b64_json", ("data",))
    return found.document, [bytes(value) for value in found.values]


def test_each_image_is_lifted_in_order_and_the_rest_decoded() -> None:
    document, values = _lifted(
        {"created": 7, "data": [{"b64_json": "QUJD"}, {"b64_json": "REVG", "revised_prompt": "r"}]}
    )
    assert values == [b"QUJD", b"REVG"]
    assert document["created"] == 7
    assert document["data"][1]["revised_prompt"] == "r"


@pytest.mark.parametrize(
    "answer",
    [
        {"data": [{"b64_json": "QU\\/J"}]},  # an escape: decoded as JSON
        {"data": [{"url": "https://x"}], "meta": {"b64_json": "QUJD"}},  # not an image's
        {"data": [{"b64_json": 5}]},  # not a string
        {"error": {"message": "no"}},
    ],
)
def test_anything_unexpected_is_decoded_whole(answer: Any) -> None:
    body = json.dumps(answer).encode()
    found = decode_lifting(body, "b64_json", ("data",))
    assert found.values == ()
    assert found.document == msgspec.json.decode(body)


def test_a_truncated_answer_raises_as_a_plain_decode_does() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_lifting(b'{"data": [{"b64_json": "QUJD"}', "b64_json", ("data",))


def test_a_generation_reads_the_same_lifted_or_not() -> None:
    """The image's base64 decodes to the same bytes; the other fields are untouched."""
    plain = {"created": 1, "data": [{"b64_json": "iVBORw==", "revised_prompt": "a cat"}]}
    escaped = {"created": 1, "data": [{"b64_json": "iVBORw\\u003d\\u003d"}]}
    lifted = parse_generation(json.dumps(plain).encode())
    assert isinstance(lifted.images[0].b64, memoryview)
    assert bytes(lifted.images[0].b64) == b"iVBORw=="
    assert lifted.images[0].revised_prompt == "a cat"
    assert lifted.created == 1
    whole = parse_generation(json.dumps(escaped).encode().replace(b"\\\\", b"\\"))
    assert whole.images[0].b64 == "iVBORw=="
