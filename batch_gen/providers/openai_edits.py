"""CometAPI's OpenAI-compatible ``POST /v1/images/edits``, multipart/form-data
(docs/protocols/openai.md).

The text fields follow the generations route's family policy (:func:`.openai_images.
request_body`), minus the fields the edits route does not define (``moderation``,
``style``) and ``input_fidelity`` where the model has none. Input files go as parts: one
image as ``image``, several as repeated ``image[]`` (the SDK's "brackets" array format), the
mask as ``mask``; each part's content type comes from the format sniffed when the manifest
was read. The files' bytes come from the request loop's checked reader
(:mod:`batch_gen.inputs`), read when the request is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ..inputs import MIME_TYPES
from ..models import Job
from .base import Answer, ApiRequest, ApiSpec, Call, FormPart, Generation, Poll, Synchronous
from .openai_images import (
    limits,
    max_prompt,
    model_family,
    one_image_per_request,
    read_generation,
    request_body,
    request_count,
)

ENDPOINT = "/v1/images/edits"

# Generations fields that the edits route does not define: OpenAI answers an unknown
# multipart field with a 400, and a manifest-wide default must not break every edit job.
_NOT_EDIT_FIELDS = frozenset({"moderation", "style"})


def edit_fields(job: Job, images: int) -> dict[str, Any]:
    """The text fields asking for ``images`` edited images of ``job`` (pure).

    The generations policy applies (no ``response_format`` to GPT image models, no GPT-only
    fields to DALL·E); ``input_fidelity`` goes only to GPT image models other than the
    ``-mini`` ones, which reject it.
    """
    body = request_body(job, images)
    for name in _NOT_EDIT_FIELDS:
        body.pop(name, None)
    if model_family(job.model) != "gpt-image" or "mini" in job.model.lower():
        body.pop("input_fidelity", None)
    return body


def form_parts(request: ApiRequest, contents: Sequence[bytes]) -> list[FormPart]:
    """The multipart parts of ``request``, given the bytes of its files in order (pure).

    Text fields come first, as strings (booleans as ``true``/``false``, objects as JSON);
    then the images (``image`` if there is one, else ``image[]`` each) and the mask.
    """
    if len(contents) != len(request.files):
        raise ValueError("one content per input file is needed")
    parts = [FormPart(name, _text(value)) for name, value in request.body.items()]
    images = sum(1 for item in request.files if item.role == "image")
    for item, data in zip(request.files, contents, strict=True):
        name = "mask" if item.role == "mask" else "image" if images == 1 else "image[]"
        content_type = MIME_TYPES.get(item.format, "application/octet-stream")
        parts.append(FormPart(name, data, filename=item.path.name, content_type=content_type))
    return parts


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return msgspec.json.encode(value).decode()


SPEC = ApiSpec(
    api="openai.edits",
    endpoint=ENDPOINT,
    title="OpenAI-compatible edits",
    manifest_name="openai-edits",
    max_inputs=16,  # docs/protocols/openai.md: up to 16 images for GPT image models
    takes_mask=True,
    request_count=request_count,
    # The generations route's: the same models, the same documented limits.
    prompt_limit=max_prompt,
    limits=limits,
)


class OpenAIEdits(Synchronous):
    """The edits route: one multipart request for all images, or one per image where the
    model can't batch (see the module docstring for the field policy)."""

    spec = SPEC

    def requests_for(self, job: Job, images: int) -> list[ApiRequest]:
        """Requests for ``images`` more images, each carrying every input file of the job."""
        if images <= 0:
            return []
        if one_image_per_request(job.model):
            return [
                ApiRequest(ENDPOINT, edit_fields(job, 1), 1, files=job.inputs)
                for _ in range(images)
            ]
        return [ApiRequest(ENDPOINT, edit_fields(job, images), images, files=job.inputs)]

    def build_call(
        self, request: ApiRequest, inputs: Sequence[bytes], prepared: Poll | None
    ) -> Call:
        del prepared
        parts = tuple(form_parts(request, inputs))
        return Call("POST", request.endpoint, "image edit request", form=parts)

    def read_answer(self, answer: Answer, request: ApiRequest, *, secret: str | None) -> Generation:
        return read_generation(answer, secret=secret)
