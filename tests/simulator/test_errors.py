"""The error families: each renders its own body shape, and the gateway's refusals pick
the family of the route."""

from __future__ import annotations

from typing import Any

import pytest

from batch_gen.simulator.config import RetryAfterMode
from batch_gen.simulator.errors import (
    ApiError,
    CometError,
    ErrorFamily,
    GoogleError,
    MjError,
    bad_json_body,
    bria_invalid,
    bria_moderated,
    flux_invalid,
    model_not_found,
    retry_headers,
)

RID = "20250101000000000001123456"


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (
            CometError(400, "bad", param="size", code="invalid_value"),
            400,
            {
                "error": {
                    "message": f"bad (request id: {RID})",
                    "type": "invalid_request_error",
                    "param": "size",
                    "code": "invalid_value",
                }
            },
        ),
        (
            GoogleError(429, "exhausted"),
            429,
            {"error": {"code": 429, "message": "exhausted", "status": "RESOURCE_EXHAUSTED"}},
        ),
        (
            GoogleError(418, "teapot"),
            418,
            {"error": {"code": 418, "message": "teapot", "status": "UNKNOWN"}},
        ),
        (
            MjError("task_no_found"),
            400,
            {"description": "task_no_found ", "type": "upstream_error", "code": 4},
        ),
        (
            MjError("busy", code=30, status=429, result="x"),
            429,
            {"description": "busy x", "type": "upstream_error", "code": 30},
        ),
        (
            model_not_found("nope"),
            503,
            {
                "error": {
                    "message": f"No available channel for model nope under group default "
                    f"(request id: {RID})",
                    "type": "comet_api_error",
                    "param": "",
                    "code": "model_not_found",
                }
            },
        ),
    ],
    ids=["comet", "google", "google-unknown-status", "mj", "mj-code-30", "model-not-found"],
)
def test_each_family_renders_its_shape(error: ApiError, status: int, body: Any) -> None:
    assert error.status == status
    assert error.body(RID) == body


@pytest.mark.parametrize(
    ("family", "kind", "status", "marker"),
    [
        (ErrorFamily.COMET, CometError, 400, "bad_request_body"),
        (ErrorFamily.GOOGLE, GoogleError, 400, "INVALID_ARGUMENT"),
        (ErrorFamily.MJ, MjError, 400, "bind_request_body_failed"),
    ],
)
def test_a_body_that_is_not_json_is_refused_in_the_routes_family(
    family: ErrorFamily, kind: type[ApiError], status: int, marker: str
) -> None:
    error = bad_json_body(family)
    assert type(error) is kind
    assert error.status == status
    assert marker in str(error.body(RID))


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (flux_invalid("width", "Input should be a multiple of 32"), 422, "invalid_value"),
        (bria_invalid("seed", "seed must be a non-negative integer"), 400, "invalid_value"),
        (bria_moderated(), 422, "content_moderation"),
    ],
    ids=["flux-422", "bria-400", "bria-moderated"],
)
def test_flux_and_bria_speak_the_cometapi_envelope(
    error: CometError, status: int, code: str
) -> None:
    assert error.status == status
    assert error.body(RID)["error"]["code"] == code


@pytest.mark.parametrize(
    ("mode", "seconds", "expected"),
    [
        (RetryAfterMode.SECONDS, 1.2, {"Retry-After": "2"}),
        (RetryAfterMode.SECONDS, -3.0, {"Retry-After": "0"}),
        (RetryAfterMode.MS, 1.2345, {"retry-after-ms": "1234"}),
        (RetryAfterMode.NONE, 5.0, {}),
    ],
)
def test_retry_hints(mode: RetryAfterMode, seconds: float, expected: dict[str, str]) -> None:
    assert retry_headers(mode, seconds) == expected


def test_retry_hint_as_a_date_is_an_http_date() -> None:
    ((name, value),) = retry_headers(RetryAfterMode.DATE, 1.0).items()
    assert name == "Retry-After"
    assert value.endswith(" GMT")
