"""Facts about the last run of an output folder, e.g. the provider its keys were made for.

``status`` reads them to compute job keys the way that run did. The file is plain JSON
beside the journal, so it must hold nothing secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batch_gen.state.layout import RUN_INFO_NAME, STATE_DIR_NAME, replace_with


def write_run_info(output_dir: Path, info: Mapping[str, Any]) -> None:
    """Record facts about the run that holds the lock (e.g. its provider), atomically.

    Must contain nothing secret: it is a plain file beside the journal.
    """
    path = output_dir / STATE_DIR_NAME / RUN_INFO_NAME
    replace_with(path, (json.dumps(dict(info), indent=2) + "\n").encode("utf-8"))


def read_run_info(output_dir: Path) -> dict[str, Any]:
    """What :func:`write_run_info` recorded last, or ``{}``."""
    try:
        data = json.loads((output_dir / STATE_DIR_NAME / RUN_INFO_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def last_provider(output_dir: Path) -> str | None:
    """The provider identity the folder's last run keyed its jobs for, if it recorded one."""
    provider = read_run_info(output_dir).get("provider")
    return provider if isinstance(provider, str) else None
