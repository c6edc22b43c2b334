"""The one checked reader of input images and masks, used by every API at send time.

An input's SHA-256 is part of its job's key (it was hashed when the manifest was read). A
file edited during a long run would otherwise be sent, and paid for, under the key of the
version that was read: the check refuses that, and the next run re-reads the manifest, so
the new version gets its own key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from .errors import InvalidRequestError
from .models import InputFile

#: Content type per sniffed input format.
MIME_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
}


def sha256_of(data: bytes) -> str:
    """The hex SHA-256 that identifies an input's content in its job's key."""
    return hashlib.sha256(data).hexdigest()


def read_input(item: InputFile) -> bytes:
    """The bytes of ``item``, checked against the SHA-256 recorded when the manifest was read.

    Blocking: call it in a thread. Raises a non-retryable InvalidRequestError naming the
    file when it cannot be read or has changed since the manifest was read.
    """
    try:
        data = item.path.read_bytes()
    except OSError as exc:
        raise InvalidRequestError(
            f"cannot read the input {item.role} {item.path}: {exc.strerror or exc}"
        ) from exc
    if sha256_of(data) != item.sha256:
        raise InvalidRequestError(
            f"the input {item.role} {item.path} changed since the manifest was read;"
            " run again to send the new version"
        )
    return data


def read_inputs(files: Sequence[InputFile]) -> list[bytes]:
    """:func:`read_input` for each file, in order."""
    return [read_input(item) for item in files]
