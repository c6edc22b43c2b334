"""The simulator's task APIs (Midjourney, Flux, Bria edits) over loopback HTTP.

Most tests drive task progress with a fake clock handed to the Simulator, so they walk
every status without sleeping; one test polls in real time.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest
from PIL import Image

from batch_gen.simulator import Simulator, SimulatorConfig

KEY = "sk-sim-tasks-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
T = 1.0  # task duration used with the fake clock


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def config(**knobs: Any) -> SimulatorConfig:
    knobs.setdefault("api_key", KEY)
    knobs.setdefault("seed", 3)
    for name in ("mj_task_seconds", "flux_task_seconds", "bria_task_seconds"):
        knobs.setdefault(name, T)
    return SimulatorConfig(**knobs)


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[Simulator]:
    async with Simulator(config(max_image_side=256), clock=clock) as running:
        yield running


async def call(
    session: aiohttp.ClientSession,
    sim: Simulator,
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
) -> tuple[int, Any]:
    async with session.request(
        method, f"{sim.base_url}{path}", json=body, headers=AUTH
    ) as response:
        return response.status, json.loads(await response.read())


async def download(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with session.get(url) as response:  # no key: downloads are public
        return response.status, await response.read()


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_b64(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


# --------------------------------------------------------------------------------------
# Midjourney


async def imagine(
    session: aiohttp.ClientSession, sim: Simulator, prompt: str, prefix: str = ""
) -> tuple[int, dict[str, Any]]:
    return await call(session, sim, "POST", f"{prefix}/mj/submit/imagine", {"prompt": prompt})


async def fetch(session: aiohttp.ClientSession, sim: Simulator, task_id: str) -> dict[str, Any]:
    status, task = await call(session, sim, "GET", f"/mj/task/{task_id}/fetch")
    assert status == 200, task
    return dict(task)


async def test_mj_imagine_walks_to_success_with_a_grid_and_nine_buttons(
    session: aiohttp.ClientSession, sim: Simulator, clock: FakeClock
) -> None:
    """imagine → code 1 with a digit-string id; fetch walks NOT_START, SUBMITTED,
    IN_PROGRESS ("N%", a ?rand= preview link) and SUCCESS ("100%", a stable imageUrl to a
    512x512 grid PNG, nine buttons U1-U4, reroll, V1-V4). Billed once; fetches are polls."""
    prompt = "a paper crane --v 6.1"
    status, submitted = await imagine(session, sim, prompt)
    assert status == 200
    assert submitted["code"] == 1
    assert submitted["description"] == "Submission successful"
    task_id = submitted["result"]
    assert isinstance(task_id, str)
    assert task_id.isdigit()

    seen = []
    for step in (0.0, 0.15, 0.35, 0.1):  # at 0, 0.15, 0.5 and 0.6 of the task's time
        clock.advance(step * T)
        task = await fetch(session, sim, task_id)
        seen.append((task["status"], int(task["progress"].rstrip("%"))))
        assert task["buttons"] == []
    assert [status for status, _ in seen] == [
        "NOT_START",
        "SUBMITTED",
        "IN_PROGRESS",
        "IN_PROGRESS",
    ]
    assert seen[0][1] == 0
    assert 0 < seen[2][1] < seen[3][1] < 100
    assert "?rand=" in task["imageUrl"]
    preview_status, preview = await download(session, task["imageUrl"])
    assert preview_status == 200
    assert image_of(preview).size == (128, 128)

    clock.advance(T)
    task = await fetch(session, sim, task_id)
    assert (task["status"], task["progress"], task["action"]) == ("SUCCESS", "100%", "IMAGINE")
    assert task["imageUrl"] == f"{sim.base_url}/mj/image/{task_id}"
    assert task["finishTime"] >= task["startTime"] >= task["submitTime"] > 0
    labels = [button["label"] or button["emoji"] for button in task["buttons"]]
    assert labels == ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]
    assert task["buttons"][0]["customId"].startswith("MJ::JOB::upsample::1::")
    status, grid = await download(session, task["imageUrl"])
    assert status == 200
    assert (image_of(grid).format, image_of(grid).size) == ("PNG", (512, 512))

    stats = sim.stats
    assert (stats.submits_for(prompt), stats.billed_for(prompt)) == (1, 1)
    assert stats.polls_for(prompt) == 5
    assert stats.fetches_for(task_id) == 5
    assert stats.tasks[task_id].kind == "midjourney"


async def test_mj_action_needs_the_latest_custom_id_and_upscales_one_cell(
    session: aiohttp.ClientSession, sim: Simulator, clock: FakeClock
) -> None:
    """Buttons get fresh customIds on every fetch: one from an earlier fetch is rejected
    (HTTP 400, code 4, "customId not found"); U2 from the latest fetch starts an UPSCALE
    task that succeeds with a single 256x256 image. Acting on an unfinished task fails."""
    prompt = "a red fox"
    _, submitted = await imagine(session, sim, prompt)
    parent = submitted["result"]
    status, early = await call(
        session, sim, "POST", "/mj/submit/action", {"taskId": parent, "customId": "MJ::x"}
    )
    assert (status, early["code"], early["description"].strip()) == (
        400,
        4,
        "task_status_not_success",
    )
    clock.advance(T)
    first = await fetch(session, sim, parent)
    latest = await fetch(session, sim, parent)
    first_ids = {button["customId"] for button in first["buttons"]}
    latest_ids = {button["customId"] for button in latest["buttons"]}
    assert not first_ids & latest_ids

    stale = first["buttons"][1]["customId"]
    status, refused = await call(
        session, sim, "POST", "/mj/submit/action", {"taskId": parent, "customId": stale}
    )
    assert status == 400
    assert (refused["code"], refused["type"]) == (4, "upstream_error")
    assert refused["description"].strip() == "customId not found"

    u2 = next(button for button in latest["buttons"] if button["label"] == "U2")
    status, submitted = await call(
        session, sim, "POST", "/mj/submit/action", {"taskId": parent, "customId": u2["customId"]}
    )
    assert (status, submitted["code"]) == (200, 1)
    child = submitted["result"]
    assert child != parent
    clock.advance(T)
    upscale = await fetch(session, sim, child)
    assert (upscale["status"], upscale["action"]) == ("SUCCESS", "UPSCALE")
    assert upscale["customId"] == u2["customId"]
    assert len(upscale["buttons"]) == 4  # Vary (Strong/Subtle), Zoom Out 2x/1.5x
    _, single = await download(session, upscale["imageUrl"])
    assert image_of(single).size == (256, 256)
    assert sim.stats.billed_for(prompt) == 2
    assert sim.stats.submits_for(prompt) == 2


async def test_mj_submit_codes_21_22_23_24_and_4(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Scripted submit codes: 22 queues (the task starts late), 23 creates nothing, 4 is
    HTTP 400, 21 returns the prompt's existing task unbilled, then 1; the trigger word is
    code 24 with the banned word. Only 22 and 1 are billed."""
    knobs = config(mj_scripts={"boat": [22, 23, 4, 21]})
    async with Simulator(knobs, clock=clock) as sim:
        prompt = "a boat at dawn"
        status, queued = await imagine(session, sim, prompt)
        assert (status, queued["code"], queued["properties"]["numberOfQueues"]) == (200, 22, 1)
        clock.advance(0.15 * T)
        assert (await fetch(session, sim, queued["result"]))["status"] == "NOT_START"

        status, full = await imagine(session, sim, prompt)
        assert (status, full["code"], full["result"]) == (200, 23, None)

        status, rejected = await imagine(session, sim, prompt)
        assert (status, rejected["code"]) == (400, 4)

        status, existing = await imagine(session, sim, prompt)
        assert (status, existing["code"], existing["result"]) == (200, 21, queued["result"])
        assert existing["properties"]["status"] == "NOT_START"

        status, normal = await imagine(session, sim, prompt)
        assert (status, normal["code"]) == (200, 1)

        status, banned = await imagine(session, sim, "forbidden-fruit bowl")
        assert (status, banned["code"], banned["result"]) == (200, 24, None)
        assert banned["properties"]["bannedWord"] == "forbidden-fruit"

        assert sim.stats.billed_for(prompt) == 2
        assert sim.stats.submits_for(prompt) == 2
        assert sim.stats.requests_for(prompt) == 5
        assert sim.stats.billed_for("forbidden-fruit bowl") == 0


async def test_mj_unknown_id_failure_speed_prefix_and_list(
    session: aiohttp.ClientSession, sim: Simulator, clock: FakeClock
) -> None:
    """An unknown id gets new-api's HTTP 400 code 4 task_no_found; a prompt with the fail
    word ends in FAILURE with a failReason and no image; /mj-turbo runs twice as fast and
    records the mode; list-by-condition returns only known tasks (ids as str or int)."""
    status, missing = await call(session, sim, "GET", "/mj/task/123456/fetch")
    assert status == 400
    assert (missing["code"], missing["description"].strip()) == (4, "task_no_found")
    assert sim.stats.unknown_task_fetches == 1

    _, failing = await imagine(session, sim, "mj-fail castle")
    _, turbo = await imagine(session, sim, "a turbo kite", prefix="/mj-turbo")
    assert sim.stats.tasks[turbo["result"]].mode == "turbo"
    clock.advance(0.6 * T)
    assert (await fetch(session, sim, turbo["result"]))["status"] == "SUCCESS"
    failed = await fetch(session, sim, failing["result"])
    assert failed["status"] == "FAILURE"
    assert failed["failReason"]
    assert failed["imageUrl"] == ""
    status, _ = await download(session, f"{sim.base_url}/mj/image/{failing['result']}")
    assert status == 400

    status, listed = await call(
        session,
        sim,
        "POST",
        "/mj/task/list-by-condition",
        {"ids": [turbo["result"], int(failing["result"]), "999"]},
    )
    assert status == 200
    assert sorted(task["id"] for task in listed) == sorted([turbo["result"], failing["result"]])


async def test_mj_list_by_condition_promises_no_order(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """As new-api: list-by-condition answers in no promised order (a client must match by
    id), and unknown ids are left out without a word."""
    ids = [(await imagine(session, sim, f"kite {number}"))[1]["result"] for number in range(20)]
    orders = []
    for _ in range(3):
        status, listed = await call(
            session, sim, "POST", "/mj/task/list-by-condition", {"ids": [*ids, "404404"]}
        )
        assert status == 200
        assert sorted(task["id"] for task in listed) == sorted(ids)
        orders.append([task["id"] for task in listed])
    assert any(order != ids for order in orders)


async def test_mj_faults_apply_to_submits(session: aiohttp.ClientSession) -> None:
    """A scripted 429 on an imagine is new-api's HTTP 429 code 30 with a retry hint (not
    billed); bad_b64 creates a task whose image link serves bytes that are not an image."""
    clock = FakeClock()
    async with Simulator(config(scripts={"owl": ["429", "bad_b64"]}), clock=clock) as sim:
        status, limited = await imagine(session, sim, "an owl")
        assert (status, limited["code"]) == (429, 30)
        assert sim.stats.billed_for("an owl") == 0
        _, submitted = await imagine(session, sim, "an owl")
        clock.advance(T)
        task = await fetch(session, sim, submitted["result"])
        _, data = await download(session, task["imageUrl"])
        with pytest.raises(OSError, match="cannot identify"):
            image_of(data)
        assert sim.stats.billed_for("an owl") == 1
        assert sim.stats.faults == {"429": 1, "bad_b64": 1}


async def test_mj_polling_in_real_time(session: aiohttp.ClientSession) -> None:
    """With the real clock, a short task needs several polls: progress strings never go
    back, and SUCCESS comes only after mj_task_seconds."""
    async with Simulator(config(mj_task_seconds=0.3)) as sim:
        started = time.monotonic()
        _, submitted = await imagine(session, sim, "a quick sketch")
        progress: list[int] = []
        while True:
            task = await fetch(session, sim, submitted["result"])
            progress.append(int(task["progress"].rstrip("%")))
            if task["status"] == "SUCCESS":
                break
            await asyncio.sleep(0.05)
        assert time.monotonic() - started >= 0.3
        assert len(progress) >= 3
        assert progress == sorted(progress)
        assert progress[-1] == 100


# --------------------------------------------------------------------------------------
# Flux


async def flux_result(session: aiohttp.ClientSession, sim: Simulator, task_id: str) -> Any:
    status, answer = await call(session, sim, "GET", f"/flux/v1/get_result?id={task_id}")
    assert status == 200
    return answer


async def test_flux_submit_pending_ready_download(
    session: aiohttp.ClientSession, sim: Simulator, clock: FakeClock
) -> None:
    """A Flux submit answers {id, polling_url} (another host); get_result is Pending with a
    progress number, then Ready with result.sample, a PNG of the requested width and height.
    Billed once at submit; polls are counted, not billed."""
    prompt = "a glass whale"
    body = {"prompt": prompt, "width": 512, "height": 256, "output_format": "png"}
    status, submitted = await call(session, sim, "POST", "/flux/v1/flux-pro-1.1", body)
    assert status == 200
    assert set(submitted) == {"id", "polling_url"}
    assert not submitted["polling_url"].startswith(sim.base_url)
    clock.advance(0.5 * T)
    pending = await flux_result(session, sim, submitted["id"])
    assert (pending["status"], pending["result"], pending["progress"]) == ("Pending", None, 0.5)
    clock.advance(0.5 * T)
    ready = await flux_result(session, sim, submitted["id"])
    assert ready["status"] == "Ready"
    assert (ready["result"]["prompt"], ready["result"]["seed"] >= 0) == (prompt, True)
    assert "&" in ready["result"]["sample"]
    status, data = await download(session, ready["result"]["sample"])
    assert status == 200
    assert (image_of(data).format, image_of(data).size) == ("PNG", (512, 256))
    assert (sim.stats.billed_for(prompt), sim.stats.polls_for(prompt)) == (1, 2)
    assert sim.stats.fetches_for(submitted["id"]) == 2


async def test_flux_moderation_and_error_outcomes(
    session: aiohttp.ClientSession, sim: Simulator, clock: FakeClock
) -> None:
    """The trigger word is Request Moderated from the first poll; the moderate word ends as
    Content Moderated and the error word as Error; all three have result null and details."""
    ids = {}
    for prompt in ("forbidden-fruit tart", "flux-moderate portrait", "flux-error street"):
        status, submitted = await call(
            session, sim, "POST", "/flux/v1/flux-dev", {"prompt": prompt}
        )
        assert status == 200
        ids[prompt] = submitted["id"]
    early = await flux_result(session, sim, ids["forbidden-fruit tart"])
    assert early["status"] == "Request Moderated"
    assert (await flux_result(session, sim, ids["flux-moderate portrait"]))["status"] == "Pending"
    clock.advance(T)
    outcomes = [await flux_result(session, sim, task_id) for task_id in ids.values()]
    assert [answer["status"] for answer in outcomes] == [
        "Request Moderated",
        "Content Moderated",
        "Error",
    ]
    assert all(answer["result"] is None and answer["details"] for answer in outcomes)


async def test_flux_validation_errors(session: aiohttp.ClientSession, sim: Simulator) -> None:
    """Sides that are not multiples of 32, a missing prompt or a bad output_format are 422;
    an unknown model is 503 model_not_found; a kontext ratio outside 21:9 is 422."""
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("flux-pro-1.1", {"prompt": "x", "width": 1000}, 422, "width"),
        ("flux-pro-1.1", {"width": 512}, 422, "prompt"),
        ("flux-dev", {"prompt": "x", "output_format": "webp"}, 422, "output_format"),
        ("flux-kontext-pro", {"prompt": "x", "aspect_ratio": "3:1"}, 422, "aspect_ratio"),
        ("flux-pro-1.0-fill", {"prompt": "x"}, 422, "image"),
        ("flux-9", {"prompt": "x"}, 503, ""),
    ]
    for model, body, status, param in cases:
        got, answer = await call(session, sim, "POST", f"/flux/v1/{model}", body)
        assert (got, answer["error"]["param"]) == (status, param), (model, body)
    assert sim.stats.total_billed == 0


async def test_flux_sample_and_task_expire(session: aiohttp.ClientSession) -> None:
    """The sample URL 404s once flux_sample_ttl has passed (the task still says Ready);
    after task_ttl the task is "Task not found", like an id never issued."""
    clock = FakeClock()
    knobs = config(flux_sample_ttl=5.0, task_ttl=20.0, max_image_side=256)
    async with Simulator(knobs, clock=clock) as sim:
        _, submitted = await call(
            session, sim, "POST", "/flux/v1/flux-pro-1.1-ultra", {"prompt": "dunes"}
        )
        clock.advance(T)
        ready = await flux_result(session, sim, submitted["id"])
        sample = ready["result"]["sample"]
        status, data = await download(session, sample)
        assert status == 200
        assert image_of(data).size == (256, 144)  # ultra default 16:9, capped long side
        clock.advance(5.0)
        assert (await download(session, sample))[0] == 404
        assert (await flux_result(session, sim, submitted["id"]))["status"] == "Ready"
        clock.advance(20.0)
        gone = await flux_result(session, sim, submitted["id"])
        assert (gone["status"], gone["result"]) == ("Task not found", None)
        never = await flux_result(session, sim, "00000000-0000-0000-0000-000000000000")
        assert never["status"] == "Task not found"


async def test_flux_fault_script_applies_to_submit(session: aiohttp.ClientSession) -> None:
    """A scripted 503 on a Flux submit answers 503 in the envelope and creates no task;
    the next submit of the prompt succeeds and is billed once."""
    async with Simulator(config(scripts={"lake": ["503"]})) as sim:
        status, answer = await call(session, sim, "POST", "/flux/v1/flux-dev", {"prompt": "lake"})
        assert (status, answer["error"]["code"]) == (503, "")
        assert sim.stats.tasks == {}
        status, answer = await call(session, sim, "POST", "/flux/v1/flux-dev", {"prompt": "lake"})
        assert status == 200
        assert sim.stats.billed_for("lake") == 1


# --------------------------------------------------------------------------------------
# Bria


async def test_bria_text_to_image_is_synchronous(
    session: aiohttp.ClientSession, sim: Simulator
) -> None:
    """text-to-image answers at once with result[].urls[] (one entry per num_results, PNGs
    at the aspect ratio), a seed and a uuid; it bills num_results."""
    body = {"prompt": "a red chair", "num_results": 2, "aspect_ratio": "16:9", "seed": 7}
    status, answer = await call(session, sim, "POST", "/bria/text-to-image", body)
    assert status == 200
    assert [entry["seed"] for entry in answer["result"]] == [7, 8]
    for entry in answer["result"]:
        (url,) = entry["urls"]
        status, data = await download(session, url)
        assert image_of(data).size == (256, 144)
        assert entry["uuid"].endswith(f"_{entry['seed']}")
    assert sim.stats.billed_for("a red chair") == 2
    status, answer = await call(session, sim, "POST", "/bria/text-to-image", {"num_results": 1})
    assert (status, answer["error"]["param"]) == (400, "prompt")


async def test_bria_edit_is_asynchronous(
    session: aiohttp.ClientSession, sim: Simulator, clock: FakeClock
) -> None:
    """An edit answers 202 {request_id, status_url}; GET /bria/{id} is IN_PROGRESS, then
    COMPLETED with result.image_url (the input's size), or ERROR with an error object for
    the error word; missing mask or prompt is 400; an unknown id is 404."""
    image = png_b64(96, 64)
    body = {"image": image, "mask": png_b64(96, 64), "prompt": "a vase of tulips"}
    status, submitted = await call(session, sim, "POST", "/bria/image/edit/gen_fill", body)
    assert status == 202
    assert not submitted["status_url"].startswith(sim.base_url)
    request_id = submitted["request_id"]
    status, progress = await call(session, sim, "GET", f"/bria/{request_id}")
    assert (status, progress["status"]) == (200, "IN_PROGRESS")
    clock.advance(T)
    status, done = await call(session, sim, "GET", f"/bria/{request_id}")
    assert (status, done["status"], done["request_id"]) == (200, "COMPLETED", request_id)
    _, data = await download(session, done["result"]["image_url"])
    assert image_of(data).size == (96, 64)
    assert sim.stats.uploads["a vase of tulips"].mask is True
    assert (sim.stats.billed_for("a vase of tulips"), sim.stats.polls_for("a vase of tulips")) == (
        1,
        2,
    )

    failing = {"image": "https://example.invalid/bria-fail.png"}
    status, submitted = await call(session, sim, "POST", "/bria/image/edit/enhance", failing)
    assert status == 202
    clock.advance(T)
    _, failed = await call(session, sim, "GET", f"/bria/{submitted['request_id']}")
    assert failed["status"] == "ERROR"
    assert failed["error"]["message"]

    for action, body in (
        ("erase", {"image": image}),
        ("gen_fill", {"image": image, "mask": image}),
        ("replace_background", {"image": image}),
        ("enhance", {"image": "bm90IGFuIGltYWdl"}),
    ):
        status, answer = await call(session, sim, "POST", f"/bria/image/edit/{action}", body)
        assert status == 400, (action, answer)
    status, _ = await call(session, sim, "GET", "/bria/0123456789abcdef")
    assert status == 404


async def test_bria_task_expires_and_reset_forgets_tasks(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """A Bria edit is 404 after task_ttl; POST /_sim/reset forgets MJ tasks too."""
    async with Simulator(config(task_ttl=10.0), clock=clock) as sim:
        _, submitted = await call(
            session, sim, "POST", "/bria/image/edit/enhance", {"image": png_b64(8, 8)}
        )
        clock.advance(10.0)
        status, _ = await call(session, sim, "GET", f"/bria/{submitted['request_id']}")
        assert status == 404
        _, queued = await imagine(session, sim, "kept until reset")
        async with session.post(f"{sim.base_url}/_sim/reset") as response:
            assert response.status == 200
        status, answer = await call(session, sim, "GET", f"/mj/task/{queued['result']}/fetch")
        assert (status, answer["code"]) == (400, 4)


@pytest.mark.parametrize(
    ("hidden", "statuses"),
    [
        (0, ["Pending", "Pending", "Ready", "Ready"]),
        (1, ["Task not found", "Pending", "Ready", "Ready"]),
        (2, ["Task not found", "Task not found", "Ready", "Ready"]),
        (5, ["Task not found"] * 4),
    ],
)
async def test_flux_young_task_is_not_found_for_its_first_polls(
    session: aiohttp.ClientSession, clock: FakeClock, hidden: int, statuses: list[str]
) -> None:
    """flux_not_found_polls=K: every task answers "Task not found" to its first K polls,
    while it exists, is billed and makes progress; then it reads as usual. Counted polls."""
    async with Simulator(config(flux_not_found_polls=hidden), clock=clock) as sim:
        _, submitted = await call(session, sim, "POST", "/flux/v1/flux-dev", {"prompt": "kite"})
        seen = []
        for _ in statuses:
            seen.append((await flux_result(session, sim, submitted["id"]))["status"])
            clock.advance(0.5 * T)
        assert seen == statuses
        assert (sim.stats.billed_for("kite"), sim.stats.submits_for("kite")) == (1, 1)
        assert sim.stats.polls_for("kite") == len(statuses)
