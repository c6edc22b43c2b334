"""The Flux provider: the body policy, one step per image, the status table, and resuming
a recorded task instead of submitting again.

Answers are read by the provider's pure readers; where a test sends, it runs the request
loop with aioresponses standing in for the network and asserts how many calls were made.
aioresponses records an unmatched URL too (and answers it with a connection error), so a
test that expects a transport failure also checks that the failure is the mocked one.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from provider_support import MemoryChannel, answer, input_file
from support import API_BASE, API_KEY, PNG, sent

from batch_gen.errors import (
    BadResponseError,
    ContentPolicyError,
    InvalidRequestError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
)
from batch_gen.models import InputFile, Job
from batch_gen.providers.base import Ended, Ready, Running
from batch_gen.providers.flux import (
    SPEC,
    Flux,
    image_field,
    read_poll,
    request_body,
    round_side,
    size_fields,
    submit_task_id,
)
from batch_gen.runner.tasks import LOST_TASK_PATIENCE, perform

BASE, KEY = API_BASE, API_KEY
RESULT = f"{BASE}/flux/v1/get_result?id={{}}"
SAMPLE = "https://delivery.eu2.bfl.ai/results/{}/sample.jpeg?se=2026&sig=abc"


def _job(
    model: str = "flux-pro-1.1", *, n: int = 1, inputs: tuple[InputFile, ...] = (), **request: Any
) -> Job:
    return Job(
        id="j",
        index=1,
        prompt="a red fox in snow",
        request={"model": model, "n": n, **request},
        api="flux",
        key="k",
        inputs=inputs,
    )


def _pending(task_id: str) -> dict[str, Any]:
    return {"id": task_id, "status": "Pending", "result": None, "progress": 0.4}


def _ready(task_id: str) -> dict[str, Any]:
    result = {"seed": 4041919005, "prompt": "a red fox", "sample": SAMPLE.format(task_id)}
    return {"id": task_id, "status": "Ready", "result": {**result, "duration": 7.2}}


def _accepted(task_id: str) -> dict[str, Any]:
    # polling_url points elsewhere on purpose: the client must poll CometAPI instead.
    return {"id": task_id, "polling_url": f"https://api.us1.bfl.invalid/v1/get_result?id={task_id}"}


def _posts(mock: aioresponses) -> list[Any]:
    return [call for (verb, _), calls in mock.requests.items() if verb == "POST" for call in calls]


# --- pure request building --------------------------------------------------------------


@pytest.mark.parametrize(
    ("pixels", "side"), [(1024, 1024), (1000, 992), (1008, 1024), (1015, 1024), (1, 32)]
)
def test_sides_round_to_the_nearest_multiple_of_32(pixels: int, side: int) -> None:
    """Flux takes only multiples of 32: the nearest one (halves up), never below 32."""
    assert round_side(pixels) == side


@pytest.mark.parametrize(
    ("model", "size", "fields"),
    [
        ("flux-pro-1.1", "1024x768", {"width": 1024, "height": 768}),
        ("flux-dev", "1000x600", {"width": 992, "height": 608}),
        ("flux-2-pro", "1920x1080", {"width": 1920, "height": 1088}),
        ("flux-pro-1.1-ultra", "1920x1080", {"aspect_ratio": "16:9"}),
        ("flux-kontext-pro", "1024x1024", {"aspect_ratio": "1:1"}),
        ("flux-pro-1.1", "auto", {}),
        ("flux-pro-1.1", None, {}),
    ],
)
def test_size_becomes_pixels_or_a_ratio_by_model(
    model: str, size: Any, fields: dict[str, Any]
) -> None:
    """Pixel models get rounded width/height; Ultra and Kontext an aspect ratio."""
    assert size_fields(model, size) == fields


def test_body_keeps_flux_fields_and_drops_other_apis_fields() -> None:
    """Prompt, size and Flux params go; quality, n, background... don't; params win."""
    job = _job(
        size="1024x768",
        quality="high",
        background="transparent",
        output_format="png",
        seed=7,
        steps=30,
        guidance=3.5,
        safety_tolerance=2,
        prompt_upsampling=True,
        height=512,
    )
    assert request_body(job) == {
        "prompt": "a red fox in snow",
        "width": 1024,
        "height": 512,
        "output_format": "png",
        "seed": 7,
        "steps": 30,
        "guidance": 3.5,
        "safety_tolerance": 2,
        "prompt_upsampling": True,
    }


@pytest.mark.parametrize(("fmt", "sent"), [("jpeg", "jpeg"), ("png", "png"), ("webp", None)])
def test_only_formats_flux_makes_are_sent(fmt: str, sent: str | None) -> None:
    """jpeg and png are sent; webp (a manifest-wide default) is dropped, not an error."""
    assert request_body(_job(output_format=fmt)).get("output_format") == sent


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ("flux-kontext-pro", "input_image"),
        ("flux-2-flex", "input_image"),
        ("flux-pro-1.0-fill", "image"),
        ("flux-pro-1.0-canny", "control_image"),
        ("flux-pro-1.1", "image_prompt"),
    ],
)
def test_input_image_field_by_model(model: str, field: str) -> None:
    """Each model family reads its input image from its own field."""
    assert image_field(model) == field


def test_one_step_per_image_and_only_the_missing_ones() -> None:
    """n images are n tasks; a one-image job's step is ``submit``; resuming asks only
    for the missing image numbers."""
    provider = Flux()
    assert [r.step for r in provider.requests_for(_job(), 1)] == ["submit"]
    job = _job("flux-dev", n=3)
    assert [r.step for r in provider.requests_for(job, 3)] == ["submit:1", "submit:2", "submit:3"]
    requests = provider.requests_for(job, 2)
    assert [r.step for r in requests] == ["submit:2", "submit:3"]
    assert {(r.endpoint, r.images) for r in requests} == {("/flux/v1/flux-dev", 1)}
    assert provider.requests_for(job, 0) == []
    assert SPEC.request_count(job, 2) == 2


# --- sending ----------------------------------------------------------------------------


async def test_submit_records_then_polls_cometapi_until_ready(
    session: aiohttp.ClientSession,
) -> None:
    """POST /flux/v1/{model}; the id is recorded before the first poll; get_result is
    polled on the API (never polling_url) until Ready; the image is result.sample."""
    channel = MemoryChannel(session)
    request = Flux().requests_for(_job(size="1024x768", seed=3), 1)[0]
    with aioresponses() as mock:
        mock.post(f"{BASE}/flux/v1/flux-pro-1.1", payload=_accepted("abc-1"))
        mock.get(RESULT.format("abc-1"), payload=_pending("abc-1"))
        mock.get(RESULT.format("abc-1"), payload=_pending("abc-1"))
        mock.get(RESULT.format("abc-1"), payload=_ready("abc-1"))
        generation = await perform(Flux(), request, channel)
        assert len(sent(mock)) == 4
        [submit] = _posts(mock)
    assert submit.kwargs["json"] == {
        "prompt": "a red fox in snow",
        "width": 1024,
        "height": 768,
        "seed": 3,
    }
    assert submit.kwargs["headers"]["Authorization"] == f"Bearer {KEY}"
    assert channel.log == ["record submit abc-1", "poll 1", "poll 2", "poll 3"]
    assert channel.tasks() == {"submit": "abc-1"}
    assert [image.url for image in generation.images] == [SAMPLE.format("abc-1")]
    assert generation.request_id == "abc-1"
    assert generation.extra == {
        "task_id": "abc-1",
        "step": "submit",
        "seed": 4041919005,
        "duration": 7.2,
    }


async def test_a_recorded_task_is_polled_without_a_submit(session: aiohttp.ClientSession) -> None:
    """Resuming after a crash: the recorded task of the step is polled, not paid again."""
    channel = MemoryChannel(session, submit_2="t2")
    request = Flux().requests_for(_job(n=2), 1)[0]
    assert request.step == "submit:2"
    with aioresponses() as mock:
        mock.get(RESULT.format("t2"), payload=_ready("t2"))
        generation = await perform(Flux(), request, channel)
        assert len(sent(mock)) == 1
    assert generation.images[0].url == SAMPLE.format("t2")
    assert channel.log == ["poll 1"]


_ENDINGS = [
    ({"status": "Error", "result": None, "details": "GPU fault"}, ServerError, True, False),
    (
        {"status": "Request Moderated", "result": None, "details": {"reasons": ["x"]}},
        ContentPolicyError,
        False,
        False,
    ),
    (
        {"status": "Content Moderated", "result": None, "details": {"reasons": ["y"]}},
        ContentPolicyError,
        False,
        False,
    ),
    ({"status": "Task not found"}, BadResponseError, True, True),
]


@pytest.mark.parametrize(("document", "error", "retryable", "lost"), _ENDINGS)
def test_the_status_table(
    document: dict[str, Any], error: type[ProviderError], retryable: bool, lost: bool
) -> None:
    """Error (retryable), moderation (permanent, with details) end the task as refused;
    Task not found ends it as lost (expired: it was paid for)."""
    poll = read_poll(answer({"id": "t1", **document}), "t1", secret=KEY)
    assert isinstance(poll, Ended)
    assert type(poll.error) is error
    assert poll.error.retryable is retryable
    assert poll.lost is lost
    if error is ContentPolicyError:
        assert "reasons" in poll.error.message


def test_ready_pending_and_unknown_statuses() -> None:
    """Ready carries the sample, its seed and duration; Pending and statuses this client
    does not know are still running."""
    ready = read_poll(answer(_ready("t1")), "t1", secret=KEY)
    assert isinstance(ready, Ready)
    assert [image.url for image in ready.generation.images] == [SAMPLE.format("t1")]
    assert ready.generation.request_id == "t1"
    assert ready.generation.extra == {"seed": 4041919005, "duration": 7.2}  # the loop adds the task
    for status in ("Pending", "Processing"):
        document = {"id": "t1", "status": status}
        assert read_poll(answer(document), "t1", secret=KEY) == Running(document)


def test_submit_answers() -> None:
    """The task id (a number becomes a string); 402 is an exhausted quota; a 200 without
    an id may have started a paid task: ambiguous."""
    assert submit_task_id(answer({"id": 42}), secret=KEY) == "42"
    assert submit_task_id(answer(_accepted("abc")), secret=KEY) == "abc"
    with pytest.raises(QuotaExhaustedError):
        submit_task_id(answer({"detail": "no credits"}, status=402), secret=KEY)
    with pytest.raises(BadResponseError) as caught:
        submit_task_id(answer({"id": ""}), secret=KEY)
    assert caught.value.ambiguous


@pytest.mark.parametrize(("document", "error", "retryable", "lost"), _ENDINGS)
async def test_a_task_that_ends_without_an_image_is_forgotten(
    session: aiohttp.ClientSession,
    document: dict[str, Any],
    error: type[ProviderError],
    retryable: bool,
    lost: bool,
) -> None:
    """An ended task is forgotten, so a later try submits again. It was paid for and made
    no image: possibly billed, whatever the ending. A task not found is looked for again
    (the polls back off) before it counts as lost."""
    channel = MemoryChannel(session, submit="t1")
    request = Flux().requests_for(_job(), 1)[0]
    polls = 1 + (LOST_TASK_PATIENCE if lost else 0)
    with aioresponses() as mock:
        mock.get(RESULT.format("t1"), payload={"id": "t1", **document}, repeat=True)
        with pytest.raises(error) as caught:
            await perform(Flux(), request, channel)
        assert len(sent(mock)) == polls
    assert caught.value.retryable is retryable
    assert caught.value.ambiguous
    assert channel.tasks() == {}
    assert channel.log == [*(f"poll {n}" for n in range(1, polls + 1)), "record submit None"]


async def test_a_task_not_found_while_young_is_found_on_a_later_poll(
    session: aiohttp.ClientSession,
) -> None:
    """A gateway may not show a task it just accepted: "Task not found" twice, then Ready,
    costs no new task."""
    channel = MemoryChannel(session, submit="t1")
    request = Flux().requests_for(_job(), 1)[0]
    with aioresponses() as mock:
        for _ in range(2):
            mock.get(RESULT.format("t1"), payload={"id": "t1", "status": "Task not found"})
        mock.get(RESULT.format("t1"), payload=_ready("t1"))
        generation = await perform(Flux(), request, channel)
        assert len(sent(mock)) == 3
    assert generation.request_id == "t1"
    assert channel.billable == []  # nothing submitted again
    assert channel.tasks() == {"submit": "t1"}


async def test_a_lost_task_is_replaced_once_per_run(session: aiohttp.ClientSession) -> None:
    """The first lost task may be replaced within the run; a second is not (the error is
    retryable by a later run only)."""
    channel = MemoryChannel(session, submit="t1")
    request = Flux().requests_for(_job(), 1)[0]
    gone = {"id": "t1", "status": "Task not found"}
    with aioresponses() as mock:
        mock.get(RESULT.format("t1"), payload=gone, repeat=True)
        with pytest.raises(BadResponseError) as first:
            await perform(Flux(), request, channel)
        channel.record_task("submit", "t1")
        with pytest.raises(BadResponseError) as second:
            await perform(Flux(), request, channel)
    assert first.value.retry_in_run
    assert not second.value.retry_in_run
    assert "run again later" in second.value.message


async def test_unknown_statuses_keep_polling(session: aiohttp.ClientSession) -> None:
    """A status this client does not know is treated as still running."""
    channel = MemoryChannel(session, submit="t1")
    request = Flux().requests_for(_job(), 1)[0]
    with aioresponses() as mock:
        mock.get(RESULT.format("t1"), payload={"id": "t1", "status": "Processing"})
        mock.get(RESULT.format("t1"), payload=_ready("t1"))
        await perform(Flux(), request, channel)
        assert len(sent(mock)) == 2


async def test_ready_without_a_sample_keeps_the_task(session: aiohttp.ClientSession) -> None:
    """Ready with no result.sample is retryable and keeps the task for the retry."""
    channel = MemoryChannel(session, submit="t1")
    request = Flux().requests_for(_job(), 1)[0]
    with aioresponses() as mock:
        mock.get(RESULT.format("t1"), payload={"id": "t1", "status": "Ready", "result": {}})
        with pytest.raises(BadResponseError):
            await perform(Flux(), request, channel)
        assert len(sent(mock)) == 1
    assert channel.tasks() == {"submit": "t1"}


@pytest.mark.parametrize("status", [500, 503, 524])
async def test_a_failed_poll_keeps_the_task_and_is_not_ambiguous(
    session: aiohttp.ClientSession, status: int
) -> None:
    """A 5xx while polling is retryable and not ambiguous (polls are free); the retry
    polls the same task."""
    channel = MemoryChannel(session, submit="t1")
    request = Flux().requests_for(_job(), 1)[0]
    with aioresponses() as mock:
        mock.get(RESULT.format("t1"), status=status, body="<html>timeout</html>")
        with pytest.raises(ServerError) as caught:
            await perform(Flux(), request, channel)
        mock.get(RESULT.format("t1"), payload=_ready("t1"))
        await perform(Flux(), request, channel)
        assert len(sent(mock)) == 2
    assert caught.value.retryable
    assert not caught.value.ambiguous
    assert channel.tasks() == {"submit": "t1"}


@pytest.mark.parametrize(
    ("status", "document", "error"),
    [
        (402, {"detail": "Insufficient credits"}, QuotaExhaustedError),
        (422, {"error": {"message": "width: multiple of 32", "code": "invalid_value"}}, None),
        (429, {"error": {"message": "slow down", "code": ""}}, RateLimitError),
        (500, {"error": {"message": "upstream", "code": ""}}, ServerError),
        (200, {"polling_url": "https://x"}, BadResponseError),
    ],
)
async def test_refused_submits_record_nothing(
    session: aiohttp.ClientSession,
    status: int,
    document: dict[str, Any],
    error: type[ProviderError] | None,
) -> None:
    """No task was created: nothing recorded, nothing polled. 402 aborts the run (no
    credits); 422 is permanent; 429/5xx retryable; a 200 without an id is ambiguous."""
    channel = MemoryChannel(session)
    request = Flux().requests_for(_job(), 1)[0]
    expected = error or InvalidRequestError
    with aioresponses() as mock:
        mock.post(f"{BASE}/flux/v1/flux-pro-1.1", status=status, payload=document)
        with pytest.raises(expected) as caught:
            await perform(Flux(), request, channel)
        assert len(sent(mock)) == 1
    assert channel.log == []
    assert caught.value.ambiguous is (expected is BadResponseError)


async def test_an_input_image_goes_inline_in_the_models_field(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Kontext reads its input image from ``input_image``, as plain base64."""
    reference = input_file(tmp_path, "ref.png", PNG)
    request = Flux().requests_for(_job("flux-kontext-pro", inputs=(reference,)), 1)[0]
    with aioresponses() as mock:
        mock.post(f"{BASE}/flux/v1/flux-kontext-pro", payload=_accepted("k1"))
        mock.get(RESULT.format("k1"), payload=_ready("k1"))
        await perform(Flux(), request, MemoryChannel(session))
        assert len(sent(mock)) == 2
        [submit] = _posts(mock)
    assert submit.kwargs["json"]["input_image"] == base64.b64encode(PNG).decode()


async def test_an_input_changed_since_the_manifest_is_refused_before_sending(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The input is read through the checked reader: a file edited after the manifest was
    read would be paid under the old key, so nothing is sent and nothing recorded."""
    reference = input_file(tmp_path, "ref.png", PNG)
    request = Flux().requests_for(_job("flux-kontext-pro", inputs=(reference,)), 1)[0]
    reference.path.write_bytes(PNG + b"edited")
    channel = MemoryChannel(session)
    with aioresponses() as mock:
        mock.post(f"{BASE}/flux/v1/flux-kontext-pro", payload=_accepted("k1"))
        with pytest.raises(InvalidRequestError, match=r"ref\.png changed since the manifest"):
            await perform(Flux(), request, channel)
        assert len(sent(mock)) == 0
    assert channel.log == []


async def test_a_poll_answer_without_status_is_retried_not_polled_forever(
    session: aiohttp.ClientSession,
) -> None:
    """A 200 without ``status`` (an error envelope) raises a retryable error at once and
    keeps the task, instead of being polled as "running" until the task deadline."""
    channel = MemoryChannel(session, submit="t1")
    request = Flux().requests_for(_job(), 1)[0]
    with aioresponses() as mock:
        mock.get(RESULT.format("t1"), payload={"error": {"message": "busy", "code": ""}})
        with pytest.raises(BadResponseError, match="busy") as caught:
            await perform(Flux(), request, channel)
        assert len(sent(mock)) == 1
    assert caught.value.retryable
    assert channel.tasks() == {"submit": "t1"}
