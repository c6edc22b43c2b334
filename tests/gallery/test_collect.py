"""What the gallery gathers of each job: status, images, counts, cost, versions, shards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gallery_support import Folder, make_folder

from batch_gen.gallery.collect import GalleryJob, collect
from batch_gen.gallery.sources import ShardState, merge_states
from batch_gen.gallery.versions import keep_version
from batch_gen.manifest import load_manifest
from batch_gen.models import JobRecord, JobStatus
from batch_gen.pricing.catalog import Catalog, parse_catalog
from batch_gen.shards import shard_number

JOBS = """
- id: boat
  prompt: A paper boat.
- id: pair
  prompt: Two teapots.
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


def _catalog(**per_request: float) -> Catalog:
    data: list[dict[str, Any]] = [
        {"id": "gpt-image-2", "pricing": {"currency": "USD", "input": 4, "output": 24}},
    ]
    data += [
        {"id": model, "pricing": {"currency": "USD", "per_request": price}}
        for model, price in per_request.items()
    ]
    return parse_catalog({"data": data}, fetched_at=0.0, source="test catalog")


def _by_id(folder: Folder, catalog: Catalog | None = None) -> dict[str, GalleryJob]:
    gallery = collect(folder.manifest, folder.root, catalog=catalog)
    return {job.id: job for job in gallery.jobs}


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    folder = make_folder(tmp_path, JOBS)
    folder.succeed("boat", usage={"input_tokens": 10, "output_tokens": 1000, "total_tokens": 1010})
    folder.succeed("pair", attempts=3, ambiguous=1, in_flight=1)
    folder.fail("broken", "content policy: the prompt was refused", attempts=2)
    folder.succeed("castle")
    folder.save_state()
    return folder


def test_every_job_in_manifest_order_with_its_status(folder: Folder) -> None:
    gallery = collect(folder.manifest, folder.root)
    assert [job.id for job in gallery.jobs] == ["boat", "pair", "broken", "later", "castle"]
    jobs = {job.id: job for job in gallery.jobs}
    assert jobs["boat"].status == "succeeded"
    assert jobs["broken"].status == "failed"
    assert jobs["broken"].error == "content policy: the prompt was refused"
    assert jobs["broken"].attempts == 2
    assert jobs["broken"].images == ()
    assert (jobs["later"].status, jobs["later"].note) == ("pending", "never run")
    assert jobs["boat"].error is None
    assert gallery.manifest == str(folder.manifest.path.resolve())
    assert gallery.output == str(folder.root.resolve())


def test_images_with_their_facts_and_labels(folder: Folder) -> None:
    jobs = _by_id(folder)
    boat = jobs["boat"].images
    assert [(image.path, image.label, image.format) for image in boat] == [
        ("boat.png", None, "png")
    ]
    assert (boat[0].width, boat[0].height) == (96, 64)
    assert boat[0].sha256 == folder.records["boat"].images[0].sha256
    assert [image.label for image in jobs["pair"].images] == ["1 of 2", "2 of 2"]
    # A Midjourney grid and its upscales, together and named by their metadata file.
    assert [(image.path, image.label) for image in jobs["castle"].images] == [
        ("castle-1.png", "grid"),
        ("castle-2.png", "upscale U1"),
        ("castle-3.png", "upscale U3"),
    ]


def test_possibly_billed_counts_retries_after_a_loss_and_requests_in_flight(
    folder: Folder,
) -> None:
    jobs = _by_id(folder)
    assert jobs["pair"].possibly_billed == 2
    assert jobs["pair"].attempts == 3
    assert jobs["boat"].possibly_billed == 0


def test_costs_need_a_catalog(folder: Folder) -> None:
    assert all(job.cost_usd is None for job in _by_id(folder).values())
    catalog = _catalog(mj_fast_imagine=0.1, mj_fast_upscale=0.02)
    jobs = _by_id(folder, catalog)
    # gpt-image-2 by tokens: 10 in at $4/M, 1000 out at $24/M.
    assert jobs["boat"].cost_usd == pytest.approx((10 * 4 + 1000 * 24) / 1e6)
    # One imagine and two upscales, each priced as what it is.
    assert jobs["castle"].cost_usd == pytest.approx(0.1 + 2 * 0.02)
    assert jobs["pair"].cost_usd is None  # token-priced, and no usage was recorded
    assert jobs["broken"].cost_usd is None
    assert jobs["later"].cost_usd is None


def test_a_partly_made_job_costs_what_it_delivered(folder: Folder) -> None:
    """A Midjourney job whose second upscale failed paid for the grid and one upscale."""
    record = folder.records["castle"]
    folder.records["castle"] = record.replace(
        status=JobStatus.FAILED, images=record.images[:2], error="upscale failed"
    )
    (folder.root / "castle-3.png").unlink()
    folder.save_state()
    jobs = _by_id(folder, _catalog(mj_fast_imagine=0.1, mj_fast_upscale=0.02))
    assert jobs["castle"].status == "failed"
    assert len(jobs["castle"].images) == 2
    assert jobs["castle"].cost_usd == pytest.approx(0.12)


def test_facts_come_from_the_metadata_file_without_what_the_card_shows(folder: Folder) -> None:
    facts = _by_id(folder)["boat"].facts
    assert facts["key"] == folder.job("boat").key
    assert facts["made_by"] == "offline simulator"
    assert facts["images"][0]["file"] == "boat.png"
    assert not {"prompt", "id", "model", "api"} & set(facts)


def test_without_a_metadata_file_the_facts_come_from_the_state(folder: Folder) -> None:
    (folder.root / "boat.json").unlink()
    facts = _by_id(folder)["boat"].facts
    assert facts["from"] == "the state (no metadata file)"
    assert facts["key"] == folder.job("boat").key


def test_a_changed_prompt_leaves_stale_images_until_made_again(
    folder: Folder, tmp_path: Path
) -> None:
    text = folder.manifest.path.read_text().replace("A paper boat.", "A paper boat at dusk.")
    folder.manifest.path.write_text(text)
    manifest = load_manifest(folder.manifest.path)
    jobs = {job.id: job for job in collect(manifest, folder.root).jobs}
    boat = jobs["boat"]
    assert (boat.status, boat.note) == ("pending", "prompt or fields changed")
    assert boat.stale
    assert [image.path for image in boat.images] == ["boat.png"]
    assert boat.prompt == "A paper boat at dusk."


def test_the_previous_version_is_the_newest_that_differs(folder: Folder) -> None:
    first = folder.records["boat"]
    keep_version(folder.root, "boat", files=first.files)
    second = folder.succeed("boat", seed="two")
    keep_version(folder.root, "boat", files=second.files)
    folder.succeed("boat", seed="three")
    folder.save_state()
    boat = _by_id(folder)["boat"]
    assert boat.versions == 2
    assert boat.previous is not None
    assert boat.previous.number == 2
    assert boat.previous.images[0].sha256 == second.images[0].sha256
    assert boat.previous.images[0].path == ".batch_gen/versions/boat/2/boat.png"
    assert boat.previous.prompt == "A paper boat."

    # A version kept by a run that stopped before replacing holds the current images:
    # the one before it is shown.
    keep_version(folder.root, "boat", files=folder.records["boat"].files)
    boat = _by_id(folder)["boat"]
    assert boat.versions == 3
    assert boat.previous is not None
    assert boat.previous.number == 2


def test_merged_shards_keep_the_newest_record_and_name_its_shard() -> None:
    def record(job_id: str, when: float) -> JobRecord:
        return JobRecord(id=job_id, key="k", status=JobStatus.SUCCEEDED, updated_at=when)

    merged = merge_states(
        [
            ShardState(None, {"a": record("a", 3), "e": record("e", 1)}),
            ShardState("1/2", {"a": record("a", 1), "b": record("b", 5), "e": record("e", 1)}),
            ShardState("2/2", {"b": record("b", 9), "c": record("c", 1)}),
            ShardState("1/3", {"d": record("d", 1)}),
        ]
    )
    assert merged.records["b"].updated_at == 9
    assert merged.records["a"].updated_at == 3
    # A tie goes to the earlier journal, as every reader of the state merges them.
    assert merged.shard_of == {"b": "2/2", "c": "2/2", "d": "1/3"}
    assert merged.shards == (("2/2", 2), ("1/3", 1))
    plain = merge_states([ShardState(None, {"a": record("a", 1)})])
    assert plain.shard_of == {}
    assert plain.shards == ()


def test_shards_show_on_their_jobs(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, JOBS)
    for job_id in ("boat", "pair", "castle"):
        folder.succeed(job_id)
    folder.fail("broken", "refused")
    folder.save_state(shards=2)
    gallery = collect(folder.manifest, folder.root)
    expected = {
        job_id: f"{shard_number(job_id, 2)}/2" for job_id in ("boat", "pair", "castle", "broken")
    }
    assert {job.id: job.shard for job in gallery.jobs} == {**expected, "later": None}
    assert {job.id: job.status for job in gallery.jobs}["boat"] == "succeeded"
    counts: dict[str, int] = {}
    for name in expected.values():
        counts[name] = counts.get(name, 0) + 1
    assert dict(gallery.shards) == counts


def test_lost_state_is_adopted_from_the_metadata_files(folder: Folder) -> None:
    """As ``status`` does: a folder whose state is gone still shows its images."""
    (folder.root / ".batch_gen" / "state.jsonl").unlink()
    jobs = _by_id(folder)
    assert jobs["boat"].status == "succeeded"
    assert [image.path for image in jobs["boat"].images] == ["boat.png"]
    assert jobs["broken"].status == "pending"
