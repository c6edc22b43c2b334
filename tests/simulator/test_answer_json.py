"""An OpenAI-style answer's JSON, with its base64 spliced in verbatim: the same document as
the standard library writes, whatever the head and items."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batch_gen.simulator.openai_answers import _json_with_data

HEAD = {"created": 1796031593, "usage": {"input_tokens": 14, "details": [1, 2]}}
CASES: dict[str, tuple[dict[str, Any], list[list[tuple[str, Any]]]]] = {
    "no head, no items": ({}, []),
    "no head": ({}, [[("b64_json", b"QUJD")]]),
    "head, no items": (HEAD, []),
    "two items, text and base64": (
        HEAD,
        [
            [("revised_prompt", 'caf\u00e9 "quoted"'), ("url", "http://a.test/b?c=1&d=2")],
            [("b64_json", b"AAAA"), ("size", "1x1")],
        ],
    ),
    "empty base64": ({"model": "m"}, [[("b64_json", b"")]]),
}


@pytest.mark.parametrize(("head", "items"), CASES.values(), ids=CASES.keys())
def test_the_document_is_the_standard_librarys(
    head: dict[str, Any], items: list[list[tuple[str, Any]]]
) -> None:
    data = [
        {key: value.decode() if isinstance(value, bytes) else value for key, value in item}
        for item in items
    ]
    written = _json_with_data(head, items)
    assert json.loads(written) == {**head, "data": data}
    # The head as json.dumps writes it, then the data without spaces.
    expected_data = json.dumps(data, separators=(",", ":")).encode()
    head_json = json.dumps(head).encode()
    prefix = b"{" if not head else head_json[:-1] + b","
    assert written == prefix + b'"data":' + expected_data + b"}"
