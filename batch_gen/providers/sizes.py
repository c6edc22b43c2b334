"""Image sizes as Google-style APIs take them: aspect ratios and 1K/2K/4K tiers.

Gemini and Bria both describe an image by the nearest offered aspect ratio rather than by
pixels; this module maps a manifest's ``size`` onto those (pure).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Final

ASPECT_RATIOS: Final = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
IMAGE_SIZES: Final = (("1K", 1024), ("2K", 2048), ("4K", 4096))
_SIZE = re.compile(r"\s*(\d+)\s*[xX*\u00d7]\s*(\d+)\s*")  # x, * or the multiplication sign
_RATIO = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*")


def closest_ratio(width: int, height: int, choices: Sequence[str] = ASPECT_RATIOS) -> str:
    """The ``W:H`` of ``choices`` nearest to ``width``/``height`` (on a log scale, so that
    2:1 and 1:2 are equally far from 1:1); ties go to the earlier choice."""

    def distance(choice: str) -> float:
        a, b = choice.split(":")
        return abs(math.log(width / height) - math.log(int(a) / int(b)))

    return min(choices, key=distance)


def size_config(size: str) -> dict[str, str]:
    """The ``imageConfig`` a job's ``size`` asks for (see the module docstring)."""
    text = size.strip()
    if not text or text.lower() == "auto":
        return {}
    if text.upper() in dict(IMAGE_SIZES):
        return {"imageSize": text.upper()}
    if (match := _SIZE.fullmatch(text)) and 0 not in (int(match[1]), int(match[2])):
        width, height = int(match[1]), int(match[2])
        long_side = max(width, height)
        tier = next((name for name, side in IMAGE_SIZES if long_side <= side), "4K")
        return {"aspectRatio": closest_ratio(width, height), "imageSize": tier}
    if (match := _RATIO.fullmatch(text)) and 0 not in (int(match[1]), int(match[2])):
        width, height = int(match[1]), int(match[2])
        ratio = f"{width}:{height}"
        return {"aspectRatio": ratio if ratio in ASPECT_RATIOS else closest_ratio(width, height)}
    return {"imageSize": text}  # let Gemini refuse it by name, rather than drop it silently
