"""batch_gen: turn a manifest of image prompts into image files, resumably.

The public API is small: :func:`load_manifest` reads and validates a manifest,
:func:`run_batch` runs it, :func:`read_status` reports on a past run. The command line
(``python -m batch_gen``) is a thin layer over these.
"""

from __future__ import annotations

__version__ = "0.1.0"
