"""Midjourney's bulk poll (pure): the ``list-by-condition`` call, and its answers read as
the gateway gives them: tasks matched by id in any order, unknown ids left out, a route
the gateway lacks told apart from a passing failure."""

from __future__ import annotations

from typing import Any

import pytest
from provider_support import answer

from batch_gen.errors import (
    AuthenticationError,
    BadResponseError,
    RateLimitError,
    ServerError,
)
from batch_gen.providers.base import Ended, Ready, Running, bulk_polling
from batch_gen.providers.midjourney import BULK_POLL_IDS, SPEC, Midjourney
from batch_gen.providers.midjourney_answers import bulk_refused, read_list

KEY = "sk-test-0123456789abcdefghijkl"


def _task(task_id: Any, status: str, **fields: Any) -> dict[str, Any]:
    return {"id": task_id, "status": status, "progress": "0%", "imageUrl": "", **fields}


def test_midjourney_declares_bulk_polls_of_100_ids() -> None:
    assert SPEC.bulk_poll == BULK_POLL_IDS == 100
    provider = Midjourney()
    assert bulk_polling(provider) is provider
    call = provider.bulk_poll_call(["1", "2"])
    assert (call.method, call.path, call.json) == (
        "POST",
        "/mj/task/list-by-condition",
        {"ids": ["1", "2"]},
    )


def test_a_list_is_read_by_id_in_any_order() -> None:
    """Tasks come in no order, ids as numbers in old proxies; ids not asked about are
    ignored, and ids the gateway left out are simply not in the result."""
    listed = [
        _task(3, "IN_PROGRESS"),
        _task("9", "SUCCESS", imageUrl="https://x/mj/image/9"),
        _task("1", "FAILURE", failReason="Job failed to process"),
        _task("77", "SUCCESS", imageUrl="https://x/mj/image/77"),  # not asked about
        "not a task",
    ]
    found = read_list(answer(listed), ["1", "3", "9", "5"], secret=KEY)
    assert found is not None
    assert set(found) == {"1", "3", "9"}
    assert isinstance(found["3"], Running)
    assert isinstance(found["9"], Ready)
    assert isinstance(found["1"], Ended)
    assert not found["1"].lost


def test_a_task_that_cannot_be_read_carries_its_error() -> None:
    """A SUCCESS without imageUrl is that task's error (retried, task kept), not the
    whole answer's."""
    found = read_list(
        answer([_task("1", "SUCCESS"), _task("2", "NOT_START")]), ["1", "2"], secret=KEY
    )
    assert found is not None
    assert isinstance(found["1"], BadResponseError)
    assert isinstance(found["2"], Running)


@pytest.mark.parametrize("status", [400, 404, 405, 410, 422, 501])
def test_a_gateway_without_the_route_refuses_it(status: int) -> None:
    assert bulk_refused(status)
    body = {"error": {"message": "Invalid URL (POST /mj/task/list-by-condition)"}}
    assert read_list(answer(body, status=status), ["1"], secret=KEY) is None


@pytest.mark.parametrize(
    "body", [{"code": 4, "description": "do_request_failed"}, "<html>no</html>", "null"]
)
def test_a_200_that_is_not_a_list_refuses_the_route(body: Any) -> None:
    text = body if isinstance(body, str) else None
    given = answer(None if text else body, body=text)
    assert read_list(given, ["1"], secret=KEY) is None


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (429, RateLimitError), (500, ServerError), (502, ServerError)],
)
def test_passing_failures_and_auth_errors_are_raised_not_refusals(
    status: int, error: type[Exception]
) -> None:
    assert not bulk_refused(status)
    with pytest.raises(error):
        read_list(answer({"error": {"message": "no"}}, status=status), ["1"], secret=KEY)
