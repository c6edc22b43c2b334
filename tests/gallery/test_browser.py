"""The gallery page in a real browser: headless Chromium opens the file from disk and the
tests use it as a person would, with keys and clicks, reading the answer from the page.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from chromium import Chromium, DevTools, Page, launch
from gallery_support import Folder, make_folder

from batch_gen.gallery import keep_version, write_gallery

JOBS = """
- id: boat
  prompt: A paper boat on calm water.
- id: pair
  prompt: Two glass teapots.
  n: 2
- id: broken
  prompt: A refused prompt.
- id: later
  prompt: Not run yet.
- id: castle
  model: mj_fast_imagine
  prompt: A castle made of clouds.
  upscale: [1, 3]
"""

# The ids of the drawn cards, in reading order.
CARDS = """[...document.querySelectorAll('#grid .card')].sort((a, b) =>
  parseFloat(a.style.top) - parseFloat(b.style.top)
  || parseFloat(a.style.left) - parseFloat(b.style.left)).map((e) => e.dataset.id)"""
CURRENT = "document.querySelector('#grid .card.current')?.dataset.id"
# Every drawn image has finished loading, and how many decoded to a real picture.
IMAGES_LOADED = """(() => { const all = [...document.querySelectorAll('%s img')];
  return all.every((i) => i.complete) ? all.filter((i) => i.naturalWidth > 0).length
    + '/' + all.length : null; })()"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with launch() as running:
        yield running


@pytest.fixture
async def page(browser: Chromium) -> AsyncIterator[Page]:
    async with DevTools.connect(browser) as tools:
        yield await tools.new_page()


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    folder = make_folder(tmp_path, JOBS)
    first = folder.succeed("boat")
    keep_version(folder.root, "boat", files=first.files)
    folder.succeed("boat", seed="remade", attempts=2, ambiguous=1)
    folder.succeed("pair")
    folder.fail("broken", "content policy: refused")
    folder.succeed("castle")
    folder.save_state()
    return folder


async def _open(page: Page, path: Path) -> None:
    await page.open(path.as_uri())
    await page.wait_for("document.documentElement.dataset.ready === 'true'")


async def test_opens_from_disk_with_no_network_and_draws_every_job(
    page: Page, folder: Folder
) -> None:
    await _open(page, write_gallery(folder.manifest, folder.root))
    assert await page.evaluate(CARDS) == ["boat", "pair", "broken", "later", "castle"]
    assert await page.evaluate("document.getElementById('shown').textContent") == (
        "5 of 5 jobs shown"
    )
    # boat (and its previous version), pair x2, castle: grid and two upscales.
    assert await page.wait_for(IMAGES_LOADED % "#grid") == "7/7"
    labels = await page.evaluate(
        "[...document.querySelectorAll('[data-id=castle] figcaption')].map((e) => e.textContent)"
    )
    assert labels == ["grid", "upscale U1", "upscale U3"]
    text = await page.evaluate("document.querySelector('[data-id=broken]').textContent")
    assert "content policy: refused" in text
    text = await page.evaluate("document.querySelector('[data-id=boat]').textContent")
    assert "1 request possibly billed" in text
    assert "2 attempts" in text
    assert page.problems() == []
    assert [url for url in page.requested() if not url.startswith(("file:", "data:"))] == []


async def test_filters_and_search_change_what_is_shown(page: Page, folder: Folder) -> None:
    await _open(page, write_gallery(folder.manifest, folder.root))
    await page.click("[data-filter=failed]")
    assert await page.evaluate(CARDS) == ["broken"]
    await page.click("[data-filter=pending]")
    assert await page.evaluate(CARDS) == ["later"]
    await page.click("[data-filter=versions]")
    assert await page.evaluate(CARDS) == ["boat"]
    await page.click("[data-filter=all]")
    await page.click("#search")
    await page.type("TEAPOTS")
    assert await page.evaluate(CARDS) == ["pair"]
    await page.press("Escape")
    await page.click("#search")
    await page.evaluate("document.getElementById('search').select()")
    await page.type("cloud castle")
    assert await page.evaluate(CARDS) == ["castle"]
    await page.evaluate("document.getElementById('search').select()")
    await page.type("no such words")
    assert await page.evaluate(CARDS) == []
    assert await page.evaluate("document.getElementById('empty').hidden") is False
    await page.evaluate("document.getElementById('search').select()")
    await page.type("")
    await page.press("Escape")
    await page.evaluate(
        "(() => { const s = document.getElementById('sort'); s.value = 'status';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    cards = await page.evaluate(CARDS)
    assert cards[0] == "broken"
    assert cards[1] == "later"
    assert page.problems() == []


async def test_keys_move_open_and_close_the_lightbox(page: Page, folder: Folder) -> None:
    await _open(page, write_gallery(folder.manifest, folder.root))
    assert await page.evaluate(CURRENT) == "boat"
    await page.press("ArrowRight")
    assert await page.evaluate(CURRENT) == "pair"
    await page.press("j")
    await page.press("j")
    assert await page.evaluate(CURRENT) == "later"
    await page.press("k")
    assert await page.evaluate(CURRENT) == "broken"
    await page.press("Home")
    await page.press("Enter")
    assert await page.evaluate("document.getElementById('lightbox').hidden") is False
    assert await page.evaluate("document.getElementById('lb-title').textContent") == "boat"
    # The full image, from its relative link, beside the previous version's.
    assert await page.wait_for(IMAGES_LOADED % "#lb-current") == "1/1"
    assert await page.evaluate("document.getElementById('lb-previous').hidden") is False
    assert await page.wait_for(IMAGES_LOADED % "#lb-previous") == "1/1"
    source = await page.evaluate("document.querySelector('#lb-previous img').src")
    assert source.endswith("/out/.batch_gen/versions/boat/1/boat.png")
    facts = await page.evaluate("document.querySelector('#lb-facts pre').textContent")
    assert json.loads(facts)["made_by"] == "offline simulator"
    await page.press("ArrowRight")
    assert await page.evaluate("document.getElementById('lb-title').textContent") == "pair"
    await page.press("Escape")
    assert await page.evaluate("document.getElementById('lightbox').hidden") is True
    assert await page.evaluate(CURRENT) == "pair"
    assert page.problems() == []


async def test_rejections_export_the_expected_file(
    page: Page, folder: Folder, tmp_path: Path
) -> None:
    downloads = tmp_path / "downloads"
    await page.tools.send(
        "Browser.setDownloadBehavior",
        {"behavior": "allow", "downloadPath": str(downloads), "eventsEnabled": True},
    )
    gallery = write_gallery(folder.manifest, folder.root)
    await _open(page, gallery)
    await page.press("x")  # the current card: boat
    await page.click("[data-id=castle] .reject")
    await page.click("[data-id=pair] .reject")
    await page.click("[data-id=pair] .reject")  # changed my mind
    assert await page.evaluate(CARDS + ".length") == 5
    await page.click("[data-filter=rejected]")
    assert await page.evaluate(CARDS) == ["boat", "castle"]
    await page.click("#export")
    async with asyncio.timeout(20):
        await page.tools.until("Browser.downloadProgress", lambda e: e["state"] == "completed")
    exported = json.loads((downloads / "jobs.rejected.json").read_text())
    records = folder.records
    assert exported == {
        "batch_gen": "rejections",
        "version": 1,
        "manifest": str(folder.manifest.path.resolve()),
        "output": str(folder.root.resolve()),
        "rejected": [
            {
                "id": job_id,
                "key": records[job_id].key,
                "sha256": [i.sha256 for i in records[job_id].images],
                "finished_at": json.loads((folder.root / f"{job_id}.json").read_text())[
                    "finished_at"
                ],
            }
            for job_id in ("boat", "castle")
        ],
    }
    # The choice survives a reload of the page.
    await _open(page, gallery)
    assert await page.evaluate("document.getElementById('export').textContent") == (
        "Export 2 rejected"
    )
    assert page.problems() == []


async def test_a_page_alone_still_shows_its_thumbnails(
    page: Page, folder: Folder, tmp_path: Path
) -> None:
    """The single file a CI system uploads: thumbnails inside, full images absent."""
    alone = tmp_path / "uploaded" / "gallery.html"
    alone.parent.mkdir()
    shutil.copy(write_gallery(folder.manifest, folder.root), alone)
    await _open(page, alone)
    assert await page.wait_for(IMAGES_LOADED % "#grid") == "7/7"
    await page.press("Enter")
    await page.wait_for("document.querySelector('#lb-current .missing') !== null")
    assert await page.wait_for(IMAGES_LOADED % "#lb-current") == "1/1"  # the thumbnail


async def test_five_thousand_jobs_open_quickly_and_draw_only_what_is_in_view(
    page: Page, tmp_path: Path
) -> None:
    folder = make_folder(
        tmp_path, "\n".join(f"- id: job-{n:04d}\n  prompt: Picture {n}." for n in range(5000))
    )
    for job in folder.manifest.jobs:
        folder.succeed(job.id, metadata=job.index % 2 == 0, job=job)
    folder.save_state()
    gallery = write_gallery(folder.manifest, folder.root)
    started = time.monotonic()
    await _open(page, gallery)
    opened = time.monotonic() - started
    assert opened < 10, f"the 5,000-job page took {opened:.1f} s to open"
    drawn = await page.evaluate(CARDS)
    assert 0 < len(drawn) < 120
    await page.press("End")
    assert await page.evaluate(CURRENT) == "job-4999"
    assert len(await page.evaluate(CARDS)) < 120
    assert await page.wait_for(IMAGES_LOADED % ".card.current") == "1/1"
    await page.click("#search")
    await page.type("picture 2500.")
    assert await page.evaluate(CARDS) == ["job-2500"]
    assert page.problems() == []
