"""The Bria providers: bodies, the submit-record-poll cycle, and status classification.

Answers are read by the providers' pure readers; where a test sends, it runs the request
loop with aioresponses standing in for the network and asserts how many calls were made.
aioresponses records an unmatched URL too (and answers it with a connection error), so a
test that expects a transport failure also checks that the failure is the mocked one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from provider_support import MemoryChannel, answer, input_file
from support import API_BASE, API_KEY, PNG, SimFactory, cli_env, run_cli, start_cli

from batch_gen.errors import (
    AuthenticationError,
    BadResponseError,
    ContentPolicyError,
    InvalidRequestError,
    ProviderError,
    RateLimitError,
    ServerError,
    TransportError,
)
from batch_gen.models import InputFile, Job
from batch_gen.providers import provider_for
from batch_gen.providers.base import Ended, Ready, Running
from batch_gen.providers.bria import (
    EDIT_SPEC,
    SPEC,
    BriaEdit,
    BriaTextToImage,
    aspect_ratio,
    with_images,
)
from batch_gen.providers.bria_answers import parse_status, task_error
from batch_gen.runner.tasks import LOST_TASK_PATIENCE, perform

BASE = API_BASE
KEY = API_KEY
T2I = f"{BASE}/bria/text-to-image"
TASK = "3f2a9c"
STATUS = f"{BASE}/bria/{TASK}"
MASK = b"\x89PNG\r\n\x1a\nmask"


def _job(api: str = "bria", *, inputs: tuple[InputFile, ...] = (), **request: Any) -> Job:
    return Job(
        id="j",
        index=1,
        prompt="a lighthouse at dawn",
        request={"model": "bria-text-to-image", "n": 1, **request},
        api=api,
        key="k",
        inputs=inputs,
    )


def _edit_job(folder: Path, action: str = "gen_fill", **request: Any) -> Job:
    inputs = (
        input_file(folder, "photo.png", PNG),
        input_file(folder, "mask.png", MASK, role="mask"),
    )
    return _job("bria.edit", inputs=inputs, action=action, **request)


def _calls(mock: aioresponses) -> list[tuple[str, str, Any]]:
    return [
        (method, str(url), call) for (method, url), calls in mock.requests.items() for call in calls
    ]


def test_the_registry_serves_both_routes() -> None:
    """provider_for maps "bria" and "bria.edit" to the two classes."""
    assert isinstance(provider_for("bria"), BriaTextToImage)
    assert isinstance(provider_for("bria.edit"), BriaEdit)


@pytest.mark.parametrize(
    ("request_fields", "expected"),
    [
        ({"size": "1024x1024"}, "1:1"),
        ({"size": "1536x1024"}, "3:2"),
        ({"size": "1920x1080"}, "16:9"),
        ({"size": "2560x1080"}, "16:9"),  # 21:9 is not Bria's: the closest it has
        ({"size": "1024x1024", "aspect_ratio": "4:5"}, "4:5"),
        ({"size": "auto"}, None),
        ({}, None),
    ],
)
def test_aspect_ratio_from_size_or_param(
    request_fields: dict[str, Any], expected: str | None
) -> None:
    """size maps to the closest Bria ratio; an explicit aspect_ratio param wins."""
    assert aspect_ratio(request_fields) == expected


def test_text_to_image_body_and_split() -> None:
    """num_results is the images asked (at most 4 a call); OpenAI fields are not sent."""
    job = _job(n=6, size="1024x1536", quality="low", seed=7, medium="photography")
    provider = BriaTextToImage()
    requests = provider.requests_for(job, 6)
    assert [request.images for request in requests] == [4, 2]
    assert SPEC.request_count(job, 6) == 2
    assert SPEC.request_count(job, 4) == 1
    assert requests[0].body == {
        "prompt": "a lighthouse at dawn",
        "num_results": 4,
        "seed": 7,
        "medium": "photography",
        "aspect_ratio": "2:3",
        "sync": True,
    }


async def test_text_to_image_on_the_wire(session: aiohttp.ClientSession) -> None:
    """One POST with a Bearer key; every url of every result is an image to download."""
    provider = BriaTextToImage()
    (request,) = provider.requests_for(_job(n=2), 2)
    answer = {
        "result": [
            {"urls": ["https://cdn.test/a.png"], "seed": 1, "uuid": "u_1"},
            {"urls": ["https://cdn.test/b.png"], "seed": 2, "uuid": "u_2"},
        ]
    }
    with aioresponses() as mock:
        mock.post(T2I, payload=answer)
        generation = await perform(provider, request, MemoryChannel(session))
        ((method, _, call),) = _calls(mock)
    assert method == "POST"
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {KEY}"
    assert json.loads(call.kwargs["data"]) == {
        "prompt": "a lighthouse at dawn",
        "num_results": 2,
        "sync": True,
    }
    assert [image.url for image in generation.images] == [
        "https://cdn.test/a.png",
        "https://cdn.test/b.png",
    ]
    assert generation.extra == {"seeds": [1, 2]}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            422,
            {
                "error": {
                    "message": "Request blocked by content moderation",
                    "code": "content_moderation",
                }
            },
            ContentPolicyError,
        ),
        (
            400,
            {"error": {"message": "num_results must be 1..4", "code": "invalid_value"}},
            InvalidRequestError,
        ),
        (401, {"error": {"message": "invalid token", "code": ""}}, AuthenticationError),
        (429, {"error": {"message": "slow down", "code": ""}}, RateLimitError),
        (500, {"error": {"message": "oops", "code": ""}}, ServerError),
        (200, {"result": [{"urls": [], "seed": 1}]}, BadResponseError),
        (200, {"result": []}, BadResponseError),
    ],
)
def test_text_to_image_failures(
    status: int, body: dict[str, Any], expected: type[ProviderError]
) -> None:
    """Moderation is a safety refusal; a 200 without a URL is retried; the rest as usual."""
    provider = BriaTextToImage()
    (request,) = provider.requests_for(_job(), 1)
    with pytest.raises(expected) as caught:
        provider.read_answer(answer(body, status=status), request, secret=KEY)
    assert type(caught.value) is expected


@pytest.mark.parametrize(
    ("action", "prompt_sent"),
    [("gen_fill", True), ("replace_background", True), ("expand", True), ("erase", False)],
)
def test_edit_body_sends_the_prompt_only_where_the_action_reads_it(
    tmp_path: Path, action: str, prompt_sent: bool
) -> None:
    """erase, enhance and increase_resolution take no prompt; num_results is 1 a task."""
    job = _edit_job(tmp_path, action, size="1024x1024", quality="low", seed=3)
    (request,) = BriaEdit().requests_for(job, 1)
    assert request.endpoint == f"/bria/image/edit/{action}"
    assert request.step == "edit:1"
    expected: dict[str, Any] = {"seed": 3, "num_results": 1}
    if prompt_sent:
        expected = {"prompt": "a lighthouse at dawn", **expected}
    assert request.body == expected


def test_edit_requests_have_one_step_per_image_number(tmp_path: Path) -> None:
    """With 1 of 3 images saved, the two missing ones are steps edit:2 and edit:3."""
    job = _edit_job(tmp_path, n=3)
    assert [request.step for request in BriaEdit().requests_for(job, 2)] == ["edit:2", "edit:3"]
    assert EDIT_SPEC.request_count(job, 2) == 2


async def test_edit_submits_records_then_polls(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The body carries image and mask as base64; the task id is recorded before the first
    poll; IN_PROGRESS and UNKNOWN keep polling; COMPLETED gives the image URL."""
    provider = BriaEdit()
    (request,) = provider.requests_for(_edit_job(tmp_path), 1)
    channel = MemoryChannel(session)
    done = {"status": "COMPLETED", "request_id": TASK, "result": {"image_url": "https://t/x.png"}}
    with aioresponses() as mock:
        mock.post(f"{BASE}/bria/image/edit/gen_fill", status=202, payload={"request_id": TASK})
        mock.get(STATUS, payload={"status": "IN_PROGRESS", "request_id": TASK})
        mock.get(STATUS, payload={"status": "UNKNOWN", "request_id": TASK})
        mock.get(STATUS, payload=done)
        generation = await perform(provider, request, channel)
        calls = _calls(mock)
    assert [(method, url) for method, url, _ in calls] == [
        ("POST", f"{BASE}/bria/image/edit/gen_fill"),
        ("GET", STATUS),
        ("GET", STATUS),
        ("GET", STATUS),
    ]
    submit = calls[0][2]
    assert json.loads(submit.kwargs["data"]) == {
        "prompt": "a lighthouse at dawn",
        "num_results": 1,
        "image": base64.b64encode(PNG).decode(),
        "mask": base64.b64encode(MASK).decode(),
    }
    assert all(call.kwargs["headers"]["Authorization"] == f"Bearer {KEY}" for *_, call in calls)
    assert channel.log == [f"record edit:1 {TASK}", "poll 1", "poll 2", "poll 3"]
    assert [image.url for image in generation.images] == ["https://t/x.png"]
    assert generation.request_id == TASK
    assert generation.extra == {"task_id": TASK, "step": "edit:1"}  # for the sidecar
    assert channel.tasks() == {"edit:1": TASK}  # kept: a failed download polls it again free


async def test_a_recorded_task_is_polled_not_submitted_again(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A retry or a resumed run polls the task already paid for."""
    provider = BriaEdit()
    (request,) = provider.requests_for(_edit_job(tmp_path), 1)
    channel = MemoryChannel(session, edit_1=TASK)
    done = {"status": "COMPLETED", "result": {"image_url": "https://t/x.png"}}
    with aioresponses() as mock:
        mock.get(STATUS, payload=done)
        await perform(provider, request, channel)
        assert [method for method, _, _ in _calls(mock)] == ["GET"]
    assert channel.log == ["poll 1"]


async def test_an_error_task_is_forgotten_and_reported(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """ERROR ends polling, forgets the task (a retry submits anew) and is retryable."""
    provider = BriaEdit()
    (request,) = provider.requests_for(_edit_job(tmp_path), 1)
    channel = MemoryChannel(session, edit_1=TASK)
    failed = {
        "status": "ERROR",
        "error": {"code": 500, "message": "Image processing failed", "details": "pipeline"},
    }
    with aioresponses() as mock:
        mock.get(STATUS, payload=failed)
        with pytest.raises(ServerError, match="Image processing failed") as caught:
            await perform(provider, request, channel)
        assert len(_calls(mock)) == 1
    assert caught.value.retryable
    assert channel.tasks().get("edit:1") is None
    assert channel.log == ["poll 1", "record edit:1 None"]


async def test_a_404_poll_forgets_the_task_and_says_a_retry_pays_again(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """An unknown or expired id, still unknown after a few more polls, cannot be polled
    again: retryable, maybe billed twice."""
    provider = BriaEdit()
    (request,) = provider.requests_for(_edit_job(tmp_path), 1)
    channel = MemoryChannel(session, edit_1=TASK)
    with aioresponses() as mock:
        gone = {"error": {"message": "not found", "code": ""}}
        mock.get(STATUS, status=404, payload=gone, repeat=True)
        with pytest.raises(BadResponseError, match="submits the edit again") as caught:
            await perform(provider, request, channel)
        assert len(_calls(mock)) == 1 + LOST_TASK_PATIENCE
    assert caught.value.retryable
    assert caught.value.ambiguous
    assert channel.tasks().get("edit:1") is None


@pytest.mark.parametrize(
    ("status", "exception", "expected"),
    [
        (503, None, ServerError),
        (504, None, ServerError),
        (None, aiohttp.ServerDisconnectedError(), TransportError),
        (None, TimeoutError(), TransportError),
    ],
)
async def test_transient_poll_failures_keep_the_task(
    session: aiohttp.ClientSession,
    tmp_path: Path,
    status: int | None,
    exception: Exception | None,
    expected: type[ProviderError],
) -> None:
    """A failed poll is retryable, not ambiguous (a poll costs nothing), and the runner's
    retry resumes polling the recorded task."""
    provider = BriaEdit()
    (request,) = provider.requests_for(_edit_job(tmp_path), 1)
    channel = MemoryChannel(session, edit_1=TASK)
    with aioresponses() as mock:
        if exception is not None:
            mock.get(STATUS, exception=exception)
        else:
            mock.get(STATUS, status=status, payload={"error": {"message": "busy", "code": ""}})
        with pytest.raises(expected) as caught:
            await perform(provider, request, channel)
        assert len(_calls(mock)) == 1
    if exception is not None:  # the mocked failure, not an unmatched URL's refused connection
        assert caught.value.__cause__ is exception
    assert caught.value.retryable
    assert not caught.value.ambiguous
    assert channel.tasks().get("edit:1") == TASK


async def test_a_submit_without_request_id_is_an_ambiguous_failure(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Accepted but unnamed: the task may be running and billed; nothing is recorded."""
    provider = BriaEdit()
    (request,) = provider.requests_for(_edit_job(tmp_path), 1)
    channel = MemoryChannel(session)
    with aioresponses() as mock:
        mock.post(f"{BASE}/bria/image/edit/gen_fill", status=202, payload={"status": "ok"})
        with pytest.raises(BadResponseError) as caught:
            await perform(provider, request, channel)
        assert len(_calls(mock)) == 1
    assert caught.value.ambiguous
    assert channel.log == []


async def test_a_rejected_submit_records_nothing(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A 400 at submit is permanent and leaves no task behind."""
    provider = BriaEdit()
    (request,) = provider.requests_for(_edit_job(tmp_path), 1)
    channel = MemoryChannel(session)
    with aioresponses() as mock:
        mock.post(
            f"{BASE}/bria/image/edit/gen_fill",
            status=400,
            payload={"error": {"message": "mask is required", "code": "invalid_value"}},
        )
        with pytest.raises(InvalidRequestError):
            await perform(provider, request, channel)
        assert len(_calls(mock)) == 1
    assert channel.log == []


@pytest.mark.parametrize(
    ("document", "outcome"),
    [
        ({"status": "IN_PROGRESS"}, Running),
        ({"status": "UNKNOWN"}, Running),
        ({"status": "QUEUED"}, Running),
        ({"status": "COMPLETED", "result": {"image_url": "https://t/x.png", "seed": 5}}, Ready),
        ({"status": "COMPLETED", "result": {}}, BadResponseError),
        ({"status": "ERROR", "error": {"code": 500, "message": "failed"}}, ServerError),
        ({"status": "ERROR", "error": {"code": 422, "message": "bad input"}}, InvalidRequestError),
        (
            {"status": "ERROR", "error": {"code": 500, "message": "Invalid mask dimensions"}},
            InvalidRequestError,
        ),
        (
            {"status": "ERROR", "error": {"message": "Blocked by content moderation"}},
            ContentPolicyError,
        ),
    ],
)
def test_poll_answer_classification(document: dict[str, Any], outcome: type[Any]) -> None:
    """Each status means keep polling, an image, or an ending with the right retryability
    (refused, not lost: only a 404 loses a task)."""
    poll = BriaEdit().read_poll(answer(document), TASK, secret=KEY)
    if outcome is Running:
        assert poll == Running(document)
    elif outcome is Ready:
        assert isinstance(poll, Ready)
        assert [image.url for image in poll.generation.images] == ["https://t/x.png"]
        assert poll.generation.request_id == TASK
        assert poll.generation.extra == {"seed": 5}
    else:
        assert isinstance(poll, Ended)
        assert type(poll.error) is outcome
        assert poll.error.retryable is (outcome in (ServerError, BadResponseError))
        assert not poll.lost


def test_a_404_poll_is_a_lost_task_and_other_errors_are_raised() -> None:
    """404: the id is unknown or expired, so the task is lost (it was paid for); any other
    unsuccessful status is the error it stands for, the task kept; a 200 that is not JSON
    is a retryable error, the task kept."""
    provider = BriaEdit()
    gone = provider.read_poll(answer({"error": {"message": "nf"}}, status=404), TASK, secret=KEY)
    assert isinstance(gone, Ended)
    assert gone.lost
    assert type(gone.error) is BadResponseError
    with pytest.raises(RateLimitError):
        provider.read_poll(answer({"error": {"message": "slow"}}, status=429), TASK, secret=KEY)
    with pytest.raises(BadResponseError, match="not valid JSON"):
        parse_status(b"<html>", TASK)


def test_a_submit_answer_names_its_task() -> None:
    """202 with a request_id is a task; an error status is refused; a success without an
    id may be running (and billed) under an id never seen: ambiguous."""
    provider = BriaEdit()
    request = BriaEdit().requests_for(_job("bria.edit", action="erase"), 1)[0]
    reply = answer({"request_id": TASK}, status=202)
    assert provider.read_answer(reply, request, secret=KEY).task_id == TASK
    refused = answer({"error": {"message": "blocked by moderation"}}, status=422)
    with pytest.raises(ContentPolicyError):
        provider.read_answer(refused, request, secret=KEY)
    with pytest.raises(BadResponseError) as caught:
        provider.read_answer(answer({"status": "ok"}, status=202), request, secret=KEY)
    assert caught.value.ambiguous


def test_edit_bodies_carry_the_bytes_they_are_given(tmp_path: Path) -> None:
    """with_images is pure: the image and the mask go as raw base64 of the bytes given."""
    job = _edit_job(tmp_path)
    (request,) = BriaEdit().requests_for(job, 1)
    document = json.loads(with_images(request.body, request.files, (b"image", b"mask")))
    assert document["image"] == base64.b64encode(b"image").decode()
    assert document["mask"] == base64.b64encode(b"mask").decode()
    assert {name: document[name] for name in request.body} == dict(request.body)


def test_task_error_names_the_task_and_the_reason() -> None:
    """The message says which task failed and why, for the failure report."""
    error = task_error({"code": 500, "message": "failed", "details": "GPU lost"}, TASK)
    assert str(error) == f"Bria task {TASK} failed: failed GPU lost"
    assert error.code == "500"


async def test_a_run_killed_while_polling_resumes_the_same_task(
    tmp_path: Path, simulator: SimFactory
) -> None:
    """SIGKILL after the edit was submitted (and paid): the next run polls the recorded
    task instead of submitting again, so the edit is paid once."""
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 120, 40)).save(tmp_path / "photo.png")
    Image.new("L", (64, 64), 255).save(tmp_path / "mask.png")
    prompt = "Tulips in a glass vase"
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(
        "version: 1\noutput:\n  dir: out\njobs:\n"
        f"  - id: tulips\n    prompt: {prompt!r}\n    model: bria-gen-fill\n"
        "    action: gen_fill\n    image: photo.png\n    mask: mask.png\n"
    )
    args = ["run", str(manifest), "--poll-interval", "0.05"]
    async with simulator(bria_task_seconds=3.0, max_image_side=256) as sim:
        env = cli_env(sim.base_url)
        process = await start_cli(args, cwd=tmp_path, env=env)
        for _ in range(400):  # until the first poll: the task id is recorded before it
            if sim.stats.polls_for(prompt):
                break
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        assert sim.stats.submits_for(prompt) == 1
        result = await run_cli(args, cwd=tmp_path, env=env)
        assert result.code == 0, result.text
        assert sim.stats.submits_for(prompt) == 1, "the resumed run submitted the edit again"
        assert sim.stats.billed_for(prompt) == 1
    with Image.open(tmp_path / "out" / "tulips.png") as image:
        assert image.format == "PNG"
