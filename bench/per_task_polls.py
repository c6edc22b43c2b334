"""batch_gen's command line with Midjourney's bulk polls switched off, so that every task
is fetched alone, as before bulk polls existed: the "per task" row of the polls part of
the benchmark, and nothing else. Run as ``python bench/per_task_polls.py run ...``."""

from __future__ import annotations

import dataclasses
import sys

from batch_gen.cli import main
from batch_gen.providers import midjourney

if __name__ == "__main__":
    midjourney.Midjourney.spec = dataclasses.replace(midjourney.SPEC, bulk_poll=0)
    sys.exit(main())
