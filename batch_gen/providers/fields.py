"""Request fields by owner, for the providers' field policies (pure data).

A manifest's ``defaults`` apply to every job, whatever its API: a ``quality: low`` meant
for the OpenAI models must not break a Flux, Gemini or Bria job. So the other APIs never
send the OpenAI-only fields, nor the fields that steer batch_gen itself.
"""

from __future__ import annotations

from typing import Final

#: Fields only the OpenAI-compatible image routes define.
OPENAI_ONLY: Final = frozenset(
    {
        "quality",
        "output_format",
        "output_compression",
        "background",
        "moderation",
        "style",
        "response_format",
        "user",
        "input_fidelity",
        "stream",
        "partial_images",
    }
)

#: Fields that steer batch_gen (the route, the number of images, input files), never sent
#: under their own names by the non-OpenAI APIs.
STEERING: Final = frozenset({"model", "n", "size", "api", "image", "mask", "upscale", "action"})
