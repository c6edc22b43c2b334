"""Input files by content: the one digest rule, and the one checked read at send time.

An input image or mask enters a job's key by the SHA-256 of its bytes (see
:class:`~batch_gen.models.InputFile`), recorded when the manifest is read. A provider that
sends the file later reads it with :func:`read_input`, which refuses a file that changed in
between: the bytes sent must be the bytes the key stands for. This module sits low in the
layering (errors and models only), so providers and the manifest reader can both use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from batch_gen.errors import InvalidRequestError
from batch_gen.models import InputFile


def content_sha256(data: bytes) -> str:
    """The hex SHA-256 of ``data``: the digest an :class:`InputFile` records."""
    return hashlib.sha256(data).hexdigest()


def read_input(item: InputFile) -> bytes:
    """The bytes of ``item``, checked against the SHA-256 hashed into the job's key.

    Blocking: call it in a thread. Raises a non-retryable
    :class:`~batch_gen.errors.InvalidRequestError` naming the file when it cannot be read,
    or when it changed since the manifest was read (running again re-reads the manifest,
    so the new version gets its own key and is sent).
    """
    try:
        data = item.path.read_bytes()
    except OSError as exc:
        raise InvalidRequestError(
            f"cannot read the input {item.role} {item.path}: {exc.strerror or exc}"
        ) from exc
    if content_sha256(data) != item.sha256:
        raise InvalidRequestError(
            f"the input {item.role} {item.path} changed since the manifest was read;"
            " run again to send the new version"
        )
    return data


def read_inputs(files: Sequence[InputFile]) -> list[bytes]:
    """:func:`read_input` for each file, in order."""
    return [read_input(item) for item in files]


#: Content type per sniffed input format, for uploads.
MIME_TYPES: Mapping[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
}
