"""Sizes as Google-style APIs take them: the closest aspect ratio and the 1K/2K/4K tier
(Gemini's ``imageConfig``; Bria reads the ratio too)."""

from __future__ import annotations

import pytest

from batch_gen.providers.sizes import closest_ratio, size_config


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("1024x1024", {"aspectRatio": "1:1", "imageSize": "1K"}),
        ("1536x1024", {"aspectRatio": "3:2", "imageSize": "2K"}),
        ("1024x1536", {"aspectRatio": "2:3", "imageSize": "2K"}),
        ("1920x1080", {"aspectRatio": "16:9", "imageSize": "2K"}),
        ("2560x1080", {"aspectRatio": "21:9", "imageSize": "4K"}),
        ("512 X 512", {"aspectRatio": "1:1", "imageSize": "1K"}),
        ("1000x1100", {"aspectRatio": "1:1", "imageSize": "2K"}),
        ("4096x4096", {"aspectRatio": "1:1", "imageSize": "4K"}),
        ("8000x8000", {"aspectRatio": "1:1", "imageSize": "4K"}),
        ("2k", {"imageSize": "2K"}),
        ("16:9", {"aspectRatio": "16:9"}),
        ("2:1", {"aspectRatio": "16:9"}),
        ("auto", {}),
        ("huge", {"imageSize": "huge"}),
    ],
)
def test_size_becomes_image_config(size: str, expected: dict[str, str]) -> None:
    """WxH → the closest aspect ratio and the smallest tier covering the long side."""
    assert size_config(size) == expected


def test_closest_ratio_is_symmetric_on_a_log_scale() -> None:
    """2:1 and 1:2 are as far from 1:1; ties go to the earlier choice."""
    assert closest_ratio(2, 1, ("1:1", "4:1")) == "1:1"
    assert closest_ratio(1, 2, ("1:1", "1:4")) == "1:1"
    assert closest_ratio(1080, 1920) == "9:16"
