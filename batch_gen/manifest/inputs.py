"""Reading and checking a job's input images and mask when the manifest is read.

Each file is read once, however many jobs share it: its size capped, its format sniffed
from its bytes, and its SHA-256 taken (by :func:`batch_gen.inputs.content_sha256`, the
digest :func:`batch_gen.inputs.read_input` checks again at send time).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from batch_gen.files.formats import sniff_format
from batch_gen.inputs import content_sha256
from batch_gen.models import InputFile

from .document import Setting
from .problems import Report

# Input size limits (docs/protocols/openai.md: GPT image inputs < 50 MB each, masks < 4 MB).
MAX_INPUT_BYTES = 50 * 1024 * 1024
MAX_MASK_BYTES = 4 * 1024 * 1024


class InputFacts(NamedTuple):
    """What the manifest records of an input file's content."""

    sha256: str
    bytes: int
    format: str | None  # sniffed: png, jpeg, webp, gif; None if none of them


def inspect_input(path: Path) -> InputFacts | str:
    """Read the file at ``path`` (at most :data:`MAX_INPUT_BYTES`) and describe its content,
    or say why it cannot be used. Blocking; never raises for a missing or unreadable file."""
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            return f"{path} is {size / 1e6:.0f} MB, over the 50 MB input limit"
        data = path.read_bytes()
    except FileNotFoundError:
        return f"no such file: {path}"
    except IsADirectoryError:
        return f"{path} is a folder, not an image"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return InputFacts(content_sha256(data), len(data), sniff_format(data))


class InputReader:
    """Inspects input files once each, however many jobs share them."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self._seen: dict[Path, InputFacts | str] = {}

    def read(self, written: str) -> tuple[Path, InputFacts] | str:
        """The resolved path and its content's facts, or a complaint.

        ``written`` is relative to the manifest's folder (or absolute); ``~`` expands."""
        path = (self.base_dir / Path(written).expanduser()).resolve()
        found = self._seen.get(path)
        if found is None:
            found = self._seen[path] = inspect_input(path)
        if isinstance(found, str):
            return found
        return path, found


def job_inputs(
    request: Mapping[str, Any],
    *,
    job_line: int,
    written: Mapping[str, Setting],
    files: InputReader,
    report: Report,
) -> tuple[InputFile, ...] | None:
    """The job's input files (images, then the mask), checked; None if any is unusable.

    Problems are reported on the line of the job's own ``image``/``mask`` setting, or the
    job's line when the value came from the defaults.
    """
    image = request.get("image") or []
    wanted = [("image", name) for name in ([image] if isinstance(image, str) else image)]
    if request.get("mask"):
        wanted.append(("mask", request["mask"]))
    inputs: list[InputFile] = []
    ok = True
    for role, name in wanted:
        setting = written.get(role)
        line = setting.line if setting else job_line
        found = files.read(name)
        if isinstance(found, str):
            report.add(line, role, found)
            ok = False
            continue
        path, facts = found
        if facts.format is None:
            report.add(line, role, f"{path} is not a PNG, JPEG, WebP or GIF image")
            ok = False
        elif role == "mask" and (facts.format != "png" or facts.bytes > MAX_MASK_BYTES):
            report.add(line, role, f"{path}: a mask must be a PNG under 4 MB")
            ok = False
        else:
            inputs.append(InputFile(role, path, facts.sha256, facts.bytes, facts.format))
    return tuple(inputs) if ok else None
