"""What each image of a job is, for its sidecar: Midjourney's grid and each upscale of it
are named by the request step that made them; other APIs' images need no role."""

from __future__ import annotations

import pytest

from batch_gen.providers.base import ApiRequest
from batch_gen.runner.staging import image_roles


def _requests(*steps: tuple[str, int]) -> list[ApiRequest]:
    return [ApiRequest("/x", {}, images, step=step) for step, images in steps]


@pytest.mark.parametrize(
    ("requests", "roles"),
    [
        (
            _requests(("imagine", 1), ("upscale:2", 1), ("upscale:4", 1)),
            {1: "grid", 2: "upscale U2", 3: "upscale U4"},
        ),
        (_requests(("imagine", 1)), {1: "grid"}),
        (_requests(("submit", 4)), {}),  # one request, four images: nothing more to say
        (_requests(("submit", 1), ("submit", 1)), {}),  # dall-e-3 asked twice
        (_requests(("edit:1", 1), ("edit:2", 1)), {}),
    ],
)
def test_image_roles(requests: list[ApiRequest], roles: dict[int, str]) -> None:
    assert image_roles(requests) == roles
