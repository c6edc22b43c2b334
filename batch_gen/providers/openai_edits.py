"""CometAPI's OpenAI-compatible ``POST /v1/images/edits``, multipart/form-data (PROTOCOLS.md §2).

The text fields follow the generations route's family policy (:func:`.openai_images.
request_body`), minus the fields the edits route does not define (``moderation``,
``style``) and ``input_fidelity`` where the model has none. Input files go as parts: one
image as ``image``, several as repeated ``image[]`` (the SDK's "brackets" array format), the
mask as ``mask``; each part's content type comes from the format sniffed when the manifest
was read.

Files are read when the request is sent, not when it is planned, and their SHA-256 must
still match the one hashed into the job's key: a file edited since the manifest was read
would otherwise be paid for under the old version's key. :func:`read_inputs` is shared
with the other providers that upload input images (Gemini, Bria).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import InvalidRequestError
from ..models import InputFile, Job
from .answers import error_from_response
from .base import ApiRequest, Endpoint, Generation, TaskHooks
from .http import exchange
from .openai_images import (
    model_family,
    one_image_per_request,
    parse_generation,
    request_body,
    request_count,
)

if TYPE_CHECKING:
    import aiohttp

ENDPOINT = "/v1/images/edits"

#: Content type per sniffed format (see :func:`batch_gen.output.sniff_format`).
MIME_TYPES: Mapping[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
}

# Generations fields that the edits route does not define: OpenAI answers an unknown
# multipart field with a 400, and a manifest-wide default must not break every edit job.
_NOT_EDIT_FIELDS = frozenset({"moderation", "style"})


@dataclass(frozen=True, slots=True)
class FormPart:
    """One part of a multipart body: a text field, or a file when ``filename`` is set."""

    name: str
    value: str | bytes
    filename: str | None = None
    content_type: str | None = None


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


def read_inputs(files: Sequence[InputFile]) -> list[bytes]:
    """The bytes of each input file, checked against the SHA-256 hashed into the job's key.

    Blocking: call it in a thread. Raises a non-retryable InvalidRequestError naming the
    file when it cannot be read or has changed since the manifest was read (running again
    re-reads the manifest, so the new version gets its own key and is sent).
    """
    contents: list[bytes] = []
    for item in files:
        try:
            data = item.path.read_bytes()
        except OSError as exc:
            raise InvalidRequestError(
                f"cannot read the input {item.role} {item.path}: {exc.strerror or exc}"
            ) from exc
        if hashlib.sha256(data).hexdigest() != item.sha256:
            raise InvalidRequestError(
                f"the input {item.role} {item.path} changed since the manifest was read;"
                " run again to send the new version"
            )
        contents.append(data)
    return contents


class OpenAIEdits:
    """The edits route: one multipart request for all images, or one per image where the
    model can't batch (see the module docstring for the field policy)."""

    api = "openai.edits"

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

    def request_count(self, job: Job, images: int) -> int:
        return request_count(job, images)

    async def send(
        self,
        session: aiohttp.ClientSession,
        endpoint: Endpoint,
        request: ApiRequest,
        *,
        hooks: TaskHooks,
    ) -> Generation:
        """Upload the request's files with its fields; parse the answer like generations.

        The files are read (and checked) in a thread: up to 16 images of 50 MB each would
        otherwise stall every other request on the loop.
        """
        import aiohttp  # loaded only when sending, like .http

        del hooks  # one request, one answer: nothing to poll
        contents = await asyncio.to_thread(read_inputs, request.files)
        form = aiohttp.FormData()
        for part in form_parts(request, contents):
            form.add_field(
                part.name, part.value, filename=part.filename, content_type=part.content_type
            )
        url = endpoint.base_url.rstrip("/") + request.endpoint
        status, headers, body = await exchange(
            session, endpoint, "POST", url, data=form, what="image edit request"
        )
        if status != 200:
            raise error_from_response(status, headers, body, secret=endpoint.api_key)
        result: Generation = parse_generation(body, headers.get("x-request-id"))
        return result
