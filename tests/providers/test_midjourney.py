"""The Midjourney provider: steps, request shapes, the submit code table, task statuses,
and resuming a recorded task instead of submitting again.

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
    ModelNotFoundError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from batch_gen.models import InputFile, Job
from batch_gen.providers.base import Ended, Ready, Running
from batch_gen.providers.midjourney import (
    SPEC,
    Midjourney,
    aspect_ratio,
    bot_type,
    prompt_with_flags,
    speed_prefix,
    upscale_custom_id,
)
from batch_gen.providers.midjourney_answers import read_fetch, read_task, submit_task_id
from batch_gen.runner.tasks import LOST_TASK_PATIENCE, perform

BASE, KEY = API_BASE, API_KEY
FETCH = f"{BASE}/mj/task/{{}}/fetch"
IMAGE = "https://api.cometapi.com/mj/image/{}"


def _job(
    model: str = "mj-fast",
    *,
    upscale: list[int] | None = None,
    inputs: tuple[InputFile, ...] = (),
    **request: Any,
) -> Job:
    fields: dict[str, Any] = {"model": model, "n": 1, **request}
    if upscale is not None:
        fields["upscale"] = upscale
    return Job(
        id="j",
        index=1,
        prompt="a lighthouse at dusk",
        request=fields,
        api="midjourney",
        key="k",
        inputs=inputs,
        images=1 + len(upscale or []),
    )


def _task(task_id: str, status: str, **fields: Any) -> dict[str, Any]:
    return {"id": task_id, "status": status, "progress": "0%", "imageUrl": "", **fields}


def _buttons(tag: str) -> list[dict[str, Any]]:
    """A finished grid's 9 buttons, customIds marked with ``tag`` (they change per fetch)."""
    buttons = [
        {"customId": f"MJ::JOB::upsample::{i}::{tag}", "label": f"U{i}", "type": 2}
        for i in range(1, 5)
    ]
    buttons.append({"customId": f"MJ::JOB::reroll::0::{tag}::SOLO", "label": "", "emoji": "🔄"})
    buttons += [
        {"customId": f"MJ::JOB::variation::{i}::{tag}", "label": f"V{i}"} for i in range(1, 5)
    ]
    return buttons


def _done(task_id: str, tag: str = "a") -> dict[str, Any]:
    return _task(
        task_id, "SUCCESS", progress="100%", imageUrl=IMAGE.format(task_id), buttons=_buttons(tag)
    )


def _submitted(task_id: str | int, code: int = 1) -> dict[str, Any]:
    return {"code": code, "description": "提交成功", "result": task_id, "properties": {}}


def _calls(mock: aioresponses, method: str, url: str) -> list[Any]:
    return [
        call
        for (verb, address), calls in mock.requests.items()
        if verb == method and str(address) == url
        for call in calls
    ]


# --- pure request building --------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "prefix", "bot"),
    [
        ("mj-fast", "/mj-fast", "MID_JOURNEY"),
        ("mj-turbo-imagine", "/mj-turbo", "MID_JOURNEY"),
        ("midjourney-relax", "/mj-relax", "MID_JOURNEY"),
        ("midjourney", "", "MID_JOURNEY"),
        ("mj_imagine", "", "MID_JOURNEY"),
        ("niji-6", "", "NIJI_JOURNEY"),
        ("niji-turbo", "/mj-turbo", "NIJI_JOURNEY"),
    ],
)
def test_model_id_picks_speed_prefix_and_bot(model: str, prefix: str, bot: str) -> None:
    """The speed comes from the model id as a path prefix; niji ids use the niji bot."""
    assert speed_prefix(model) == prefix
    assert bot_type(model) == bot


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        ("1024x1024", "1:1"),
        ("1792x1024", "7:4"),
        ("1920X1080", "16:9"),
        ("1024x1536", "2:3"),
        ("auto", None),
        ("1K", None),
        ("0x100", None),
        (None, None),
    ],
)
def test_aspect_ratio_is_reduced_from_size(size: Any, ratio: str | None) -> None:
    """WxH sizes become reduced ratios; anything else gives none."""
    assert aspect_ratio(size) == ratio


@pytest.mark.parametrize(
    ("prompt", "size", "expected"),
    [
        ("a cat", "1792x1024", "a cat --ar 7:4"),
        ("a cat --v 6.1 ", "1024x1024", "a cat --v 6.1 --ar 1:1"),
        ("a cat --ar 3:2", "1024x1024", "a cat --ar 3:2"),
        ("a cat --aspect 3:2", "1024x1024", "a cat --aspect 3:2"),
        ("a cat", "auto", "a cat"),
        ("a cat", None, "a cat"),
    ],
)
def test_size_becomes_an_ar_flag_unless_the_prompt_has_one(
    prompt: str, size: Any, expected: str
) -> None:
    """Midjourney reads flags from the prompt; the prompt's own --ar wins over size."""
    assert prompt_with_flags(prompt, size) == expected


def test_requests_are_imagine_then_upscales_and_only_the_missing_tail() -> None:
    """Image 1 is the grid, images 2.. the upscales in list order; resuming asks only for
    the steps whose images are missing, each for one image."""
    job = _job("mj-turbo", upscale=[1, 3], size="1024x1024", quality="low", state="s1")
    provider = Midjourney()

    everything = provider.requests_for(job, 3)
    assert [request.step for request in everything] == ["imagine", "upscale:1", "upscale:3"]
    assert [request.images for request in everything] == [1, 1, 1]
    imagine = everything[0]
    assert imagine.endpoint == "/mj-turbo/mj/submit/imagine"
    assert dict(imagine.body) == {
        "prompt": "a lighthouse at dusk --ar 1:1",
        "botType": "MID_JOURNEY",
        "state": "s1",
    }
    assert everything[1].endpoint == "/mj-turbo/mj/submit/action"
    assert dict(everything[2].body) == {"index": 3}

    assert [r.step for r in provider.requests_for(job, 2)] == ["upscale:1", "upscale:3"]
    assert [r.step for r in provider.requests_for(job, 1)] == ["upscale:3"]
    assert provider.requests_for(job, 0) == []
    assert [SPEC.request_count(job, k) for k in (0, 1, 2, 3)] == [0, 1, 2, 3]
    assert [r.step for r in provider.requests_for(_job(), 1)] == ["imagine"]


# --- pure answer reading ----------------------------------------------------------------


def _mj(code: Any, description: str = "", **more: Any) -> dict[str, Any]:
    return {"code": code, "description": description, **more}


@pytest.mark.parametrize(
    ("status", "document", "expected"),
    [
        (200, _mj(1, "提交成功", result="1773314942177684"), "1773314942177684"),
        (200, _mj(1, result=1773314942177684), "1773314942177684"),  # old docs: a number
        (200, _mj(21, "任务已存在", result="42"), "42"),
        (200, _mj(21, result=None, properties={"taskId": "43"}), "43"),
        (200, _mj(22, "排队中", result="44"), "44"),
        (200, _mj("1", result="45"), "45"),
        (200, _mj(23, "队列已满"), RateLimitError),
        (429, _mj(30, "rate limited", type="comet_api_error"), RateLimitError),
        (200, _mj(24, "可能包含敏感词", properties={"bannedWord": "x"}), ContentPolicyError),
        (400, _mj(24, "banned prompt"), ContentPolicyError),
        (200, _mj(4, "内部错误"), InvalidRequestError),
        (400, _mj(4, "prompt is required", type="upstream_error"), InvalidRequestError),
        (200, _mj(3, "not found"), InvalidRequestError),
        (200, _mj(9, "system failure"), ServerError),
        (200, _mj(5), ServerError),
        (200, _mj(1, result=""), BadResponseError),
        (200, [1, 2], BadResponseError),
        (500, {"error": {"message": "upstream", "code": ""}}, ServerError),
        (503, {"description": "no available channel for model mj_imagine"}, ModelNotFoundError),
    ],
)
def test_submit_answers_follow_the_code_table(
    status: int, document: Any, expected: str | type[ProviderError]
) -> None:
    """Branch on ``code``: 1/21/22 give a task id (always a string), 23 backs off, 24 is a
    permanent policy refusal, 3/4 are permanent, other codes are retryable."""
    reply = answer(document, status=status)
    if isinstance(expected, str):
        assert submit_task_id(reply, secret=KEY, what="imagine") == expected
        return
    with pytest.raises(expected) as caught:
        submit_task_id(reply, secret=KEY, what="imagine")
    error = caught.value
    assert error.retryable is (expected in (RateLimitError, ServerError, BadResponseError))
    if expected is BadResponseError:
        assert error.ambiguous  # a submit we cannot read may have created a paid task


def test_a_banned_prompt_names_the_banned_word() -> None:
    """Code 24's message carries the banned word from ``properties``."""
    document = {"code": 24, "description": "banned", "properties": {"bannedWord": "forbidden"}}
    with pytest.raises(ContentPolicyError, match="banned word: forbidden"):
        submit_task_id(answer(document), secret=None, what="imagine")


def _failed(reason: str | None) -> dict[str, Any]:
    return _task("1", "FAILURE", failReason=reason) if reason else _task("1", "FAILURE")


@pytest.mark.parametrize(
    ("task", "outcome"),
    [
        (_task("1", "NOT_START"), "running"),
        (_task("1", "SUBMITTED"), "running"),
        (
            _task("1", "IN_PROGRESS", progress="58%", imageUrl=IMAGE.format(1) + "&rand=1"),
            "running",
        ),
        (_task("1", "WAITING_FOR_SOMETHING_NEW"), "running"),
        (_task("1", ""), "running"),
        (_done("1"), "image"),
        (_failed("Banned prompt detected"), ContentPolicyError),
        (_failed("Request cancelled due to image filters"), ContentPolicyError),
        (_failed("Invalid parameter: --ar 99:1"), InvalidRequestError),
        (_failed("Job failed to process, please try again later"), ServerError),
        (_failed(None), ServerError),
        (_task("1", "MODAL"), InvalidRequestError),
        (_task("1", "CANCEL"), ServerError),
    ],
)
def test_task_statuses_follow_the_table(task: dict[str, Any], outcome: Any) -> None:
    """Unknown statuses keep polling; SUCCESS gives imageUrl; FAILURE is classified by its
    failReason; MODAL needs input a batch can't give (permanent); CANCEL is retryable."""
    poll = read_task(task, "1")
    if outcome == "running":
        assert poll == Running(task)
    elif outcome == "image":
        assert isinstance(poll, Ready)
        assert [image.url for image in poll.generation.images] == [IMAGE.format(1)]
        assert poll.generation.request_id == "1"
        assert poll.task == task  # the buttons an upscale presses
    else:
        assert isinstance(poll, Ended)
        assert isinstance(poll.error, outcome)
        assert poll.error.retryable is (outcome is ServerError)
        assert not poll.lost


def test_success_without_image_url_is_retryable_and_keeps_the_task() -> None:
    """A SUCCESS with no imageUrl raises (retry polls the same task), not ``ended``."""
    with pytest.raises(BadResponseError) as caught:
        read_task(_task("1", "SUCCESS"), "1")
    assert caught.value.retryable


def test_fetch_answers() -> None:
    """``task_no_found`` (new-api's HTTP 400, or a 200) loses the task; another error
    status is the error it stands for, and a 200 that is not a task is retryable (both
    keep the task); a task is read by the status table."""
    for status in (400, 200):
        gone = read_fetch(answer(_mj(4, "task_no_found"), status=status), "9", secret=KEY)
        assert isinstance(gone, Ended)
        assert gone.lost
        assert type(gone.error) is BadResponseError
    with pytest.raises(ServerError):
        read_fetch(answer(body="upstream trouble", status=502), "9", secret=KEY)
    with pytest.raises(BadResponseError, match="not a task"):
        read_fetch(answer(_mj(9, "system busy")), "9", secret=KEY)
    assert isinstance(read_fetch(answer(_done("9")), "9", secret=KEY), Ready)


def test_upscale_button_is_found_by_label_or_custom_id() -> None:
    """U{K} by label; by ``::upsample::K::`` when labels are empty; None when absent."""
    assert upscale_custom_id(_done("1", "t"), 3) == "MJ::JOB::upsample::3::t"
    unlabeled = {"buttons": [{"customId": "MJ::JOB::upsample::2::x", "label": ""}]}
    assert upscale_custom_id(unlabeled, 2) == "MJ::JOB::upsample::2::x"
    assert upscale_custom_id(unlabeled, 1) is None
    assert upscale_custom_id({"buttons": None}, 1) is None


# --- sending ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("mj-fast", "/mj-fast/mj/submit/imagine"),
        ("mj-turbo", "/mj-turbo/mj/submit/imagine"),
        ("mj-relax", "/mj-relax/mj/submit/imagine"),
        ("midjourney", "/mj/submit/imagine"),
    ],
)
async def test_imagine_submits_records_then_polls_until_success(
    session: aiohttp.ClientSession, model: str, path: str
) -> None:
    """The submit goes to the speed's prefix; the task id is recorded before the first
    poll; polling stops at SUCCESS and the grid is ``imageUrl``."""
    channel = MemoryChannel(session)
    request = Midjourney().requests_for(_job(model, size="1792x1024"), 1)[0]
    with aioresponses() as mock:
        mock.post(BASE + path, payload=_submitted(1773314942177684))
        url = FETCH.format("1773314942177684")
        mock.get(url, payload=_task("1773314942177684", "SUBMITTED"))
        mock.get(url, payload=_task("1773314942177684", "IN_PROGRESS", progress="40%"))
        mock.get(url, payload=_done("1773314942177684"))
        generation = await perform(Midjourney(), request, channel)
        assert len(sent(mock)) == 4
        [submit] = _calls(mock, "POST", BASE + path)
    assert submit.kwargs["json"] == {
        "prompt": "a lighthouse at dusk --ar 7:4",
        "botType": "MID_JOURNEY",
    }
    assert submit.kwargs["headers"]["Authorization"] == f"Bearer {KEY}"
    assert channel.log == ["record imagine 1773314942177684", "poll 1", "poll 2", "poll 3"]
    assert channel.tasks() == {"imagine": "1773314942177684"}  # kept: the upscales need it
    assert [image.url for image in generation.images] == [IMAGE.format("1773314942177684")]
    assert generation.request_id == "1773314942177684"
    assert generation.extra == {"task_id": "1773314942177684", "step": "imagine"}


@pytest.mark.parametrize("code", [21, 22])
async def test_already_exists_and_queued_are_polled_like_a_submit(
    session: aiohttp.ClientSession, code: int
) -> None:
    """Codes 21 and 22 carry a task to poll, like code 1."""
    channel = MemoryChannel(session)
    request = Midjourney().requests_for(_job(), 1)[0]
    with aioresponses() as mock:
        mock.post(f"{BASE}/mj-fast/mj/submit/imagine", payload=_submitted("7", code))
        mock.get(FETCH.format(7), payload=_done("7"))
        generation = await perform(Midjourney(), request, channel)
        assert len(sent(mock)) == 2
    assert generation.images[0].url == IMAGE.format(7)
    assert channel.tasks() == {"imagine": "7"}


@pytest.mark.parametrize(
    ("code", "error"), [(23, RateLimitError), (24, ContentPolicyError), (4, InvalidRequestError)]
)
async def test_refused_submits_record_nothing_and_poll_nothing(
    session: aiohttp.ClientSession, code: int, error: type[ProviderError]
) -> None:
    """A refused submit created no task: nothing is recorded and nothing polled."""
    channel = MemoryChannel(session)
    request = Midjourney().requests_for(_job(), 1)[0]
    with aioresponses() as mock:
        mock.post(
            f"{BASE}/mj-fast/mj/submit/imagine",
            payload={"code": code, "description": "no"},
            status=400 if code == 4 else 200,
        )
        with pytest.raises(error):
            await perform(Midjourney(), request, channel)
        assert len(sent(mock)) == 1
    assert channel.log == []


async def test_a_recorded_imagine_task_is_polled_without_a_submit(
    session: aiohttp.ClientSession,
) -> None:
    """Resuming after a crash: the recorded task is polled, never submitted again."""
    channel = MemoryChannel(session, imagine="555")
    request = Midjourney().requests_for(_job(upscale=[2]), 2)[0]
    with aioresponses() as mock:
        mock.get(FETCH.format(555), payload=_task("555", "IN_PROGRESS"))
        mock.get(FETCH.format(555), payload=_done("555"))
        generation = await perform(Midjourney(), request, channel)
        assert len(sent(mock)) == 2
    assert generation.images[0].url == IMAGE.format(555)
    assert channel.log == ["poll 1", "poll 2"]


async def test_a_failed_task_is_forgotten_so_the_retry_submits_again(
    session: aiohttp.ClientSession,
) -> None:
    """FAILURE forgets the task and raises a retryable error carrying failReason; the
    retry submits a new task."""
    channel = MemoryChannel(session)
    provider = Midjourney()
    request = provider.requests_for(_job(), 1)[0]
    with aioresponses() as mock:
        mock.post(f"{BASE}/mj-fast/mj/submit/imagine", payload=_submitted("1"))
        mock.get(FETCH.format(1), payload=_task("1", "FAILURE", failReason="Job failed"))
        with pytest.raises(ServerError, match="Job failed") as caught:
            await perform(provider, request, channel)
        assert caught.value.retryable
        assert channel.tasks() == {}
        mock.post(f"{BASE}/mj-fast/mj/submit/imagine", payload=_submitted("2"))
        mock.get(FETCH.format(2), payload=_done("2"))
        await perform(provider, request, channel)
        assert len(sent(mock)) == 4
    assert channel.log == [
        "record imagine 1",
        "poll 1",
        "record imagine None",
        "record imagine 2",
        "poll 1",
    ]


async def test_a_task_the_gateway_no_longer_knows_is_forgotten(
    session: aiohttp.ClientSession,
) -> None:
    """new-api's HTTP 400 ``task_no_found``, still so after a few more polls, forgets the
    task: retryable, submit again, and that new task is a possibly billed retry."""
    channel = MemoryChannel(session, imagine="9")
    request = Midjourney().requests_for(_job(), 1)[0]
    polls = 1 + LOST_TASK_PATIENCE
    with aioresponses() as mock:
        mock.get(
            FETCH.format(9),
            status=400,
            payload={"description": "task_no_found ", "type": "upstream_error", "code": 4},
            repeat=True,
        )
        with pytest.raises(BadResponseError, match="gone") as caught:
            await perform(Midjourney(), request, channel)
        assert len(sent(mock)) == polls
    assert caught.value.retryable
    assert caught.value.ambiguous  # the lost task was paid for; the next one may be too
    assert channel.tasks() == {}
    assert channel.log == [*(f"poll {n}" for n in range(1, polls + 1)), "record imagine None"]


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_poll_that_fails_keeps_the_task_and_is_not_ambiguous(
    session: aiohttp.ClientSession, status: int
) -> None:
    """A 5xx while polling is retryable, keeps the task (the retry polls it again) and is
    not ambiguous: a poll is never billed."""
    channel = MemoryChannel(session, imagine="3")
    request = Midjourney().requests_for(_job(), 1)[0]
    with aioresponses() as mock:
        mock.get(FETCH.format(3), status=status, body="upstream trouble")
        with pytest.raises(ServerError) as caught:
            await perform(Midjourney(), request, channel)
        mock.get(FETCH.format(3), payload=_done("3"))
        generation = await perform(Midjourney(), request, channel)
        assert len(sent(mock)) == 2
    assert caught.value.retryable
    assert not caught.value.ambiguous
    assert generation.images[0].url == IMAGE.format(3)
    assert channel.tasks() == {"imagine": "3"}


async def test_upscales_press_the_button_of_the_latest_fetch(
    session: aiohttp.ClientSession,
) -> None:
    """Each upscale fetches the grid again and sends the customId of *that* fetch (they
    change on every read), records the new task before polling, and returns one image."""
    channel = MemoryChannel(session, imagine="100")
    provider = Midjourney()
    job = _job("mj-relax", upscale=[1, 3])
    action = f"{BASE}/mj-relax/mj/submit/action"
    with aioresponses() as mock:
        mock.get(FETCH.format(100), payload=_done("100", tag="first-read"))
        mock.post(action, payload=_submitted("201"))
        mock.get(FETCH.format(201), payload=_task("201", "IN_PROGRESS"))
        mock.get(FETCH.format(201), payload=_done("201"))
        one = await perform(provider, provider.requests_for(job, 2)[0], channel)

        mock.get(FETCH.format(100), payload=_done("100", tag="second-read"))
        mock.post(action, payload=_submitted("203"))
        mock.get(FETCH.format(203), payload=_done("203"))
        three = await perform(provider, provider.requests_for(job, 1)[0], channel)
        assert len(sent(mock)) == 7
        bodies = [call.kwargs["json"] for call in _calls(mock, "POST", action)]
    assert bodies == [
        {"taskId": "100", "customId": "MJ::JOB::upsample::1::first-read"},
        {"taskId": "100", "customId": "MJ::JOB::upsample::3::second-read"},
    ]
    assert [one.images[0].url, three.images[0].url] == [IMAGE.format(201), IMAGE.format(203)]
    assert (one.request_id, one.extra) == ("201", {"task_id": "201", "step": "upscale:1"})
    assert channel.log == [
        "record upscale:1 201",
        "poll 1",
        "poll 2",
        "record upscale:3 203",
        "poll 1",
    ]
    assert channel.tasks() == {"imagine": "100", "upscale:1": "201", "upscale:3": "203"}


async def test_an_upscale_sends_each_call_in_its_own_slot(
    session: aiohttp.ClientSession,
) -> None:
    """The grid fetch, the action and each poll are separate sends through the channel,
    so each takes its own rate-limit slot in a run: fetch grid, submit action, poll."""
    channel = MemoryChannel(session, imagine="100")
    provider = Midjourney()
    (request,) = provider.requests_for(_job(upscale=[2]), 1)
    with aioresponses() as mock:
        mock.get(FETCH.format(100), payload=_done("100"))
        mock.post(f"{BASE}/mj-fast/mj/submit/action", payload=_submitted("202"))
        mock.get(FETCH.format(202), payload=_done("202"))
        await perform(provider, request, channel)
        assert len(sent(mock)) == 3
    assert [(call.method, call.path) for call in channel.calls] == [
        ("GET", "/mj/task/100/fetch"),
        ("POST", "/mj-fast/mj/submit/action"),
        ("GET", "/mj/task/202/fetch"),
    ]


async def test_a_recorded_upscale_task_is_polled_without_an_action(
    session: aiohttp.ClientSession,
) -> None:
    """Resuming an upscale: its recorded task is polled; no grid fetch, no action."""
    channel = MemoryChannel(session, imagine="100", upscale_3="303")
    request = Midjourney().requests_for(_job(upscale=[3]), 1)[0]
    with aioresponses() as mock:
        mock.get(FETCH.format(303), payload=_done("303"))
        generation = await perform(Midjourney(), request, channel)
        assert len(sent(mock)) == 1
    assert generation.images[0].url == IMAGE.format(303)


async def test_an_upscale_without_a_grid_task_fails_permanently_without_sending(
    session: aiohttp.ClientSession,
) -> None:
    """No recorded imagine task: nothing to press, a permanent error, no request."""
    request = Midjourney().requests_for(_job(upscale=[1]), 1)[0]
    with aioresponses() as mock:
        with pytest.raises(InvalidRequestError, match="imagine step must succeed first") as caught:
            await perform(Midjourney(), request, MemoryChannel(session))
        assert len(sent(mock)) == 0
    assert not caught.value.retryable


async def test_an_upscale_whose_grid_is_gone_says_how_to_start_over(
    session: aiohttp.ClientSession,
) -> None:
    """The grid file is saved but its task is unknown: only --force makes a new grid."""
    channel = MemoryChannel(session, imagine="100")
    request = Midjourney().requests_for(_job(upscale=[1]), 1)[0]
    with aioresponses() as mock:
        mock.get(FETCH.format(100), status=400, payload={"code": 4, "description": "task_no_found"})
        with pytest.raises(InvalidRequestError, match="--force"):
            await perform(Midjourney(), request, channel)
        assert len(sent(mock)) == 1
    assert channel.tasks() == {"imagine": "100"}


async def test_a_grid_without_the_button_is_retryable(session: aiohttp.ClientSession) -> None:
    """A fetch that lists no U{K} is retried (the next fetch may list it); nothing sent."""
    channel = MemoryChannel(session, imagine="100")
    request = Midjourney().requests_for(_job(upscale=[2]), 1)[0]
    with aioresponses() as mock:
        mock.get(FETCH.format(100), payload={**_done("100"), "buttons": []})
        with pytest.raises(BadResponseError, match="U2") as caught:
            await perform(Midjourney(), request, channel)
        assert len(sent(mock)) == 1
    assert caught.value.retryable
    assert "upscale:2" not in channel.tasks()


async def test_input_images_go_as_data_uris(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    """Reference images are sent inline in ``base64Array`` as data URIs."""
    reference = input_file(tmp_path, "ref.png", PNG)
    request = Midjourney().requests_for(_job(inputs=(reference,)), 1)[0]
    with aioresponses() as mock:
        mock.post(f"{BASE}/mj-fast/mj/submit/imagine", payload=_submitted("5"))
        mock.get(FETCH.format(5), payload=_done("5"))
        await perform(Midjourney(), request, MemoryChannel(session))
        [submit] = _calls(mock, "POST", f"{BASE}/mj-fast/mj/submit/imagine")
    expected = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert submit.kwargs["json"]["base64Array"] == [expected]


async def test_an_input_changed_since_the_manifest_is_refused_before_sending(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Inputs are read through the checked reader: a file edited after the manifest was
    read would be paid under the old key, so nothing is sent and nothing recorded."""
    reference = input_file(tmp_path, "ref.png", PNG)
    request = Midjourney().requests_for(_job(inputs=(reference,)), 1)[0]
    reference.path.write_bytes(PNG + b"edited")
    channel = MemoryChannel(session)
    with aioresponses() as mock:
        mock.post(f"{BASE}/mj-fast/mj/submit/imagine", payload=_submitted("5"))
        with pytest.raises(InvalidRequestError, match=r"ref\.png changed since the manifest"):
            await perform(Midjourney(), request, channel)
        assert len(sent(mock)) == 0
    assert channel.log == []


async def test_a_fetch_answer_that_is_not_a_task_is_retried_not_polled_forever(
    session: aiohttp.ClientSession,
) -> None:
    """A 200 without ``status`` (an error envelope) raises a retryable error at once and
    keeps the task, instead of being polled as "running" until the task deadline."""
    channel = MemoryChannel(session, imagine="8")
    request = Midjourney().requests_for(_job(), 1)[0]
    with aioresponses() as mock:
        mock.get(FETCH.format(8), payload={"code": 9, "description": "system busy"})
        with pytest.raises(BadResponseError, match="system busy") as caught:
            await perform(Midjourney(), request, channel)
        assert len(sent(mock)) == 1
    assert caught.value.retryable
    assert channel.tasks() == {"imagine": "8"}
