"""The model catalog value: parsing, suggestions, checks and presentation."""

from __future__ import annotations

import json

import pytest

from batch_gen.errors import ConfigurationError
from batch_gen.pricing.catalog import (
    Catalog,
    ModelInfo,
    Pricing,
    check_models,
    format_models,
    format_price,
    format_usd,
    models_to_json,
    parse_catalog,
    unknown_models,
)

GPT_IMAGE_2 = {
    "id": "gpt-image-2",
    "provider": "OpenAI",
    "model_type": "image",
    "features": ["text-to-image"],
    "pricing": {
        "currency": "USD / M Tokens",
        "input": 4,
        "output": 24,
        "per_request": None,
        "per_second": None,
    },
    "api_doc_url": "https://apidoc.cometapi.com/api/image/openai/images",
}
MJ = {
    "id": "mj_fast_imagine",
    "provider": "Midjourney",
    "model_type": "image",
    "features": ["text-to-image"],
    "pricing": {"currency": "USD", "input": None, "output": None, "per_request": "0.168"},
    "api_doc_url": None,
    "released": "2025-01-01",  # an unknown field: ignored
}
CHAT = {"id": "gpt-5", "model_type": "text"}  # optional fields missing
DOCUMENT = {"success": True, "page": 0, "page_size": 0, "total": 3, "data": [GPT_IMAGE_2, MJ, CHAT]}


def _catalog(*records: object) -> Catalog:
    return parse_catalog({"success": True, "data": list(records)}, fetched_at=0.0, source="test")


# --- parsing ------------------------------------------------------------------------------


def test_parse_reads_every_field_of_a_full_record() -> None:
    """A record as CometAPI documents it becomes a ModelInfo with per-million token prices."""
    catalog = parse_catalog(DOCUMENT, fetched_at=5.0, source="https://x/api/models")
    assert catalog.get("gpt-image-2") == ModelInfo(
        id="gpt-image-2",
        provider="OpenAI",
        model_type="image",
        features=("text-to-image",),
        pricing=Pricing("USD / M Tokens", 4.0, 24.0, None, None),
        api_doc_url="https://apidoc.cometapi.com/api/image/openai/images",
    )
    assert (catalog.fetched_at, catalog.source) == (5.0, "https://x/api/models")


def test_parse_tolerates_missing_fields_extra_fields_and_string_prices() -> None:
    """Missing optional fields get empty values; numeric strings are prices; extras are ignored."""
    catalog = parse_catalog(DOCUMENT, fetched_at=0.0, source="test")
    assert catalog.get("gpt-5") == ModelInfo("gpt-5", "", "text", (), None, None)
    mj = catalog.get("mj_fast_imagine")
    assert mj is not None
    assert mj.pricing == Pricing("USD", None, None, 0.168, None)  # per_second absent


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (4, 4.0),
        (0.5, 0.5),
        ("24", 24.0),
        (" 0.168 ", 0.168),
        ("$1.5", 1.5),
        (0, 0.0),
        (None, None),
        ("", None),
        ("free", None),
        (True, None),
        (-1, None),
        ("nan", None),
        ("inf", None),
        ([4], None),
    ],
)
def test_price_values(raw: object, expected: float | None) -> None:
    """Prices are numbers or numeric strings; anything else, negative or non-finite is None."""
    catalog = _catalog({"id": "m", "pricing": {"per_request": raw}})
    info = catalog.get("m")
    assert info is not None
    assert info.pricing is not None
    assert info.pricing.per_request == expected


def test_parse_skips_records_it_cannot_identify_and_keeps_the_first_duplicate() -> None:
    """Records without a string id are skipped; of two records with one id the first wins."""
    catalog = _catalog(
        {"id": "a", "provider": "first"},
        {"id": "a", "provider": "second"},
        {"id": 7},
        {"provider": "no id"},
        "not a record",
        {"id": "  "},
        {"id": "b", "features": "not-a-list", "pricing": "not-a-dict"},
    )
    assert sorted(catalog.models) == ["a", "b"]
    assert catalog.models["a"].provider == "first"
    assert catalog.models["b"].features == ()
    assert catalog.models["b"].pricing is None


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ([GPT_IMAGE_2], "not a JSON object (got list)"),
        ("<html>", "not a JSON object (got str)"),
        (None, "not a JSON object (got NoneType)"),
        ({"success": False, "message": "maintenance"}, "reported failure: maintenance"),
        ({"success": False}, "reported failure: no reason given"),
        ({"success": True}, "has no 'data' list"),
        ({"success": True, "data": {"id": "x"}}, "has no 'data' list"),
    ],
)
def test_a_malformed_envelope_is_a_configuration_error(document: object, fragment: str) -> None:
    """A wrong envelope raises ConfigurationError naming where the catalog came from."""
    with pytest.raises(ConfigurationError) as caught:
        parse_catalog(document, fetched_at=0.0, source="https://h/api/models")
    assert fragment in str(caught.value)
    assert "https://h/api/models" in str(caught.value)


def test_an_empty_data_list_is_an_empty_catalog() -> None:
    """No models is odd but well-formed; checking ids against it reports every id."""
    catalog = parse_catalog({"success": True, "data": []}, fetched_at=0.0, source="t")
    assert catalog.models == {}
    assert check_models(["gpt-image-2"], catalog) == [
        "unknown model 'gpt-image-2': not in the model catalog"
    ]


# --- suggestions and checks ------------------------------------------------------------------

IDS = ["gpt-image-2", "gpt-image-1.5", "dall-e-3", "mj_fast_imagine", "flux-pro-1.1", "qwen-image"]


@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [
        ("gpt-image2", "gpt-image-2"),
        ("GPT-IMAGE-2", "gpt-image-2"),
        ("gpt_image_2", "gpt-image-2"),
        ("dalle-3", "dall-e-3"),
        ("mj-fast-imagine", "mj_fast_imagine"),
        ("flux-pro-1.1-ultr", "flux-pro-1.1"),
        ("qwen-img", "qwen-image"),
        ("stable-diffusion-xl", None),
        ("", None),
    ],
)
def test_suggest(typed: str, suggestion: str | None) -> None:
    """The closest id ignoring case, or None when nothing is close."""
    catalog = _catalog(*({"id": model_id} for model_id in IDS))
    assert catalog.suggest(typed) == suggestion


def test_unknown_models_lists_each_unknown_id_once_with_its_suggestion() -> None:
    """Known and empty ids pass; each unknown id appears once, in first-seen order."""
    catalog = _catalog(*({"id": model_id} for model_id in IDS))
    ids = ["gpt-image-2", "gpt-image2", "", "sdxl", "gpt-image2", "dall-e-3"]
    assert unknown_models(ids, catalog) == [("gpt-image2", "gpt-image-2"), ("sdxl", None)]
    assert check_models(ids, catalog) == [
        "unknown model 'gpt-image2': not in the model catalog; did you mean 'gpt-image-2'?",
        "unknown model 'sdxl': not in the model catalog",
    ]


def test_of_type_filters_ignoring_case_and_sorts_by_id() -> None:
    """of_type('image') keeps image models sorted by id; None keeps every model."""
    catalog = parse_catalog(DOCUMENT, fetched_at=0.0, source="t")
    assert [m.id for m in catalog.of_type("IMAGE")] == ["gpt-image-2", "mj_fast_imagine"]
    assert [m.id for m in catalog.of_type(None)] == ["gpt-5", "gpt-image-2", "mj_fast_imagine"]
    assert catalog.of_type("video") == []


# --- presentation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "$0.00"),
        (1.234, "$1.23"),
        (4, "$4.00"),
        (1234.5, "$1,234.50"),
        (0.5, "$0.50"),
        (0.168, "$0.168"),
        (0.1, "$0.10"),
        (0.04224, "$0.0422"),
        (0.004, "$0.004"),
        (0.000012, "$0.000012"),
        (0.9999, "$1.00"),
        (-0.5, "-$0.50"),
        (float("nan"), "$nan"),
    ],
)
def test_format_usd(amount: float, text: str) -> None:
    """Cents above a dollar; three significant digits below, so small prices stay visible."""
    assert format_usd(amount) == text


@pytest.mark.parametrize(
    ("pricing", "text"),
    [
        (None, "—"),
        (Pricing("USD / M Tokens", 4, 24, None, None), "$4.00 / $24.00 per 1M in/out tokens"),
        (Pricing("USD", None, None, 0.168, None), "$0.168 per request"),
        (Pricing("", None, 40, None, None), "— / $40.00 per 1M in/out tokens"),
        (Pricing("USD", None, None, None, 0.1), "$0.10 per second"),
        (Pricing("USD", None, None, None, None), "—"),
        (Pricing("CNY", None, None, 1.2, None), "1.2 per request (CNY)"),
    ],
)
def test_format_price(pricing: Pricing | None, text: str) -> None:
    """One line per model: per request, per 1M tokens in/out, per second, or a dash."""
    assert format_price(pricing) == text


def test_format_models_aligns_columns() -> None:
    """A header and one row per model, columns padded to the widest cell."""
    catalog = parse_catalog(DOCUMENT, fetched_at=0.0, source="t")
    assert format_models(catalog.of_type("image")) == (
        "ID               TYPE   PROVIDER    PRICE\n"
        "gpt-image-2      image  OpenAI      $4.00 / $24.00 per 1M in/out tokens\n"
        "mj_fast_imagine  image  Midjourney  $0.168 per request"
    )
    assert format_models([]) == "no models"


def test_models_to_json_round_trips_through_json() -> None:
    """--json output uses the dataclass field names and is plain JSON."""
    catalog = parse_catalog(DOCUMENT, fetched_at=0.0, source="t")
    document = json.loads(json.dumps(models_to_json(catalog.of_type(None))))
    assert document[0] == {
        "id": "gpt-5",
        "provider": "",
        "model_type": "text",
        "features": [],
        "pricing": None,
        "api_doc_url": None,
    }
    assert document[1]["pricing"] == {
        "currency": "USD / M Tokens",
        "input_per_million": 4.0,
        "output_per_million": 24.0,
        "per_request": None,
        "per_second": None,
    }
