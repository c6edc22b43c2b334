"""Pausing the cyclic garbage collector while building many long-lived objects.

Loading a 100,000-job manifest or state journal allocates millions of objects that live
for the whole run and hold no reference cycles. Each allocation burst triggers collections
that scan the growing heap again and again: about 40% of the load time, measured.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block (restoring its previous state), then
    freeze what exists (``gc.freeze``): the objects built are never scanned again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What the block built lives on: move it out of the collector's sight, or the first
        # collection after the pause scans every object of it, and later ones again.
        gc.freeze()
        if was_enabled:
            gc.enable()
