"""``--debug``: batch_gen's log on stderr, with the API key never shown.

Every module logs under the ``batch_gen`` logger (``logging.getLogger(__name__)``); this
turns it on at DEBUG. The key is redacted from every formatted record, tracebacks
included, whatever a message carries; ``Authorization`` headers are redacted too.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

LOGGER = "batch_gen"
REDACTED = "[redacted]"
_BEARER = re.compile(r"(Bearer\s+)[^\s'\",]+", flags=re.IGNORECASE)


def redact(text: str, secret: str | None) -> str:
    """``text`` without ``secret`` and without any ``Bearer`` token."""
    if secret:
        text = text.replace(secret, REDACTED)
    return _BEARER.sub(r"\1" + REDACTED, text)


class RedactingFormatter(logging.Formatter):
    """A formatter whose output never holds the secret (see :func:`redact`)."""

    def __init__(self, fmt: str, *, secret: str | None) -> None:
        super().__init__(fmt)
        self._secret = secret

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secret)


def enable_debug_log(*, secret: str | None, stream: TextIO | None = None) -> logging.Logger:
    """Send the ``batch_gen`` logger's records, from DEBUG up, to ``stream`` (stderr),
    with ``secret`` redacted. Returns the logger."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        RedactingFormatter("batch_gen %(levelname)s %(name)s: %(message)s", secret=secret)
    )
    logger = logging.getLogger(LOGGER)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger
