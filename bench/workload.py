"""The benchmark's workload, shared by the orchestrator (``bench.py``) and the child runners
(``runners.py``): which prompts, which request, and how to check that the work was done.

Every runner reads the same CSV manifest, so batch_gen, the hand-written baseline and the
peers request exactly the same prompts from the same simulator.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MODEL = "gpt-image-2"
SMALL_SIZE = "256x256"  # for runs that measure scheduling, not bytes
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A few subjects and settings so prompts read like a real catalogue; the number makes each
# prompt (and so each job key and file name) unique.
_SUBJECTS = ("ceramic mug", "leather boot", "glass teapot", "wool scarf", "brass lamp")
_SETTINGS = ("on a wooden table", "on white seamless paper", "by a sunny window")


@dataclass(frozen=True, slots=True)
class Prompt:
    """One job of the workload: its id (the file stem every runner uses) and prompt."""

    id: str
    prompt: str


def make_prompts(count: int, *, prefix: str = "img") -> list[Prompt]:
    """Return *count* distinct, deterministic prompts with ids ``<prefix>-00001``..."""
    width = max(5, len(str(count)))
    return [
        Prompt(
            id=f"{prefix}-{index:0{width}d}",
            prompt=(
                f"Product photo #{index} of a {_SUBJECTS[index % len(_SUBJECTS)]} "
                f"{_SETTINGS[index % len(_SETTINGS)]}, soft natural light"
            ),
        )
        for index in range(1, count + 1)
    ]


def write_manifest(path: Path, prompts: list[Prompt], *, size: str) -> Path:
    """Write a batch_gen CSV manifest (columns ``id,prompt,size``) and return its path.

    The model is left to batch_gen's built-in default, which is :data:`MODEL`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prompt", "size"])
        writer.writerows([item.id, item.prompt, size] for item in prompts)
    return path


def read_manifest(path: Path) -> Iterator[tuple[Prompt, str]]:
    """Yield each ``(prompt, size)`` of a manifest written by :func:`write_manifest`."""
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            yield Prompt(id=row["id"], prompt=row["prompt"]), row["size"]


@dataclass(frozen=True, slots=True)
class Verification:
    """What a runner left in its output folder."""

    files: int
    expected: int
    spot_checked: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.files == self.expected and not self.problems


def verify_images(
    directory: Path, *, expected: int, size: tuple[int, int], samples: int = 5
) -> Verification:
    """Count the ``*.png`` files in *directory* and fully decode a few of them.

    This is what keeps a runner from "winning" by skipping work: the count must match, and
    the first, the last and a few random files must start with the PNG signature and decode
    (with Pillow) to the requested size.
    """
    from PIL import Image

    files = sorted(directory.glob("*.png"))
    problems: list[str] = []
    if len(files) != expected:
        problems.append(f"{len(files)} PNG files, expected {expected}")
    picks = _spot_check_picks(files, samples)
    for path in picks:
        with path.open("rb") as handle:
            if handle.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
                problems.append(f"{path.name}: no PNG signature")
                continue
        try:
            with Image.open(path) as image:
                image.load()
                if image.size != size:
                    problems.append(f"{path.name}: {image.size}, expected {size}")
        except OSError as error:
            problems.append(f"{path.name}: does not decode ({error})")
    return Verification(
        files=len(files), expected=expected, spot_checked=len(picks), problems=tuple(problems)
    )


def _spot_check_picks(files: list[Path], samples: int) -> list[Path]:
    if len(files) <= samples:
        return files
    middle = random.Random(len(files)).sample(files[1:-1], samples - 2)
    return [files[0], *middle, files[-1]]


def parse_size(size: str) -> tuple[int, int]:
    """``"512x512"`` -> ``(512, 512)``."""
    width, _, height = size.partition("x")
    return int(width), int(height)
