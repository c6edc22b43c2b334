"""Read a manifest (YAML or CSV) into validated jobs, reporting every problem at once.

:func:`load_manifest` is the one public function. It reads the file once; everything after
that is pure. A bad manifest raises :class:`~batch_gen.errors.ManifestError` listing every
problem in file order, each with its file, 1-based line and field, so a user fixes them all
in one pass. Nothing else escapes for bad input: YAML syntax errors, unreadable bytes and
odd YAML tags all become problems.

Both formats are first brought to one shape (:class:`_Document`: raw jobs plus the
manifest's defaults, output and run settings), so the checks on ids, prompts, request
fields and duplicates are written once.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import hashlib
import io
import math
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

import msgspec
import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from batch_gen import keys, routing
from batch_gen.errors import ManifestError, Problem
from batch_gen.files.formats import sniff_format
from batch_gen.files.naming import PLACEHOLDER_PATTERN, PLACEHOLDERS
from batch_gen.gcpause import gc_paused
from batch_gen.models import DEFAULT_FILENAME, InputFile, Job, Manifest, OutputSpec, RunDefaults

DEFAULT_MODEL = "gpt-image-2"  # used when neither the job nor the defaults name a model
DEFAULT_PROVIDER = "cometapi"
MAX_N = 10  # the most images one request may ask for (the OpenAI images API's limit)
MAX_ID_LENGTH = 200

# ---------------------------------------------------------------------------------------
# Value checks: each returns a complaint, or None when the value is fine. The tables below
# say which check applies to which field, so adding a field is one line.

Check = Callable[[Any], str | None]


def _describe(value: Any) -> str:
    """Show a value as the user wrote it, with its type when that is the surprise."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int in Python


def _non_empty_string(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    return f"must be a non-empty string, got {_describe(value)}"


def _int_between(low: int, high: int | None = None) -> Check:
    wanted = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def check(value: Any) -> str | None:
        if _is_int(value) and low <= value and (high is None or value <= high):
            return None
        return f"must be {wanted}, got {_describe(value)}"

    return check


def _positive_number(value: Any) -> str | None:
    if (_is_int(value) or isinstance(value, float)) and math.isfinite(value) and value > 0:
        return None
    return f"must be a number > 0, got {_describe(value)}"


def _one_of(*options: str, aliases: Mapping[str, str] | None = None) -> Check:
    listed = ", ".join(repr(option) for option in options)

    def check(value: Any) -> str | None:
        if isinstance(value, str) and value in options:
            return None
        complaint = f"must be one of {listed}, got {_describe(value)}"
        if not isinstance(value, str):
            return complaint
        guess = (aliases or {}).get(value.lower(), value.lower())
        return complaint + _did_you_mean(guess, options)

    return check


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    matches = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {matches[0]!r}?" if matches else ""


def _paths(value: Any) -> str | None:
    files = [value] if isinstance(value, str) else value
    if isinstance(files, list) and files and all(_non_empty_string(f) is None for f in files):
        return None
    return f"must be a file path or a list of them, got {_describe(value)}"


def _upscales(value: Any) -> str | None:
    if (
        isinstance(value, list)
        and value
        and all(_is_int(item) and 1 <= item <= 4 for item in value)
        and len(set(value)) == len(value)
    ):
        return None
    shown = repr(value) if isinstance(value, list) else _describe(value)
    return f"must be a list of different grid positions from 1 to 4, got {shown}"


REQUEST_CHECKS: Final[Mapping[str, Check]] = {
    "api": _one_of(*routing.API_NAMES),
    "image": _paths,
    "mask": _non_empty_string,
    **routing.FIELD_CHECKS,  # the APIs' own fields (upscale, action), as their specs declare
    "model": _non_empty_string,
    "size": _non_empty_string,
    "quality": _non_empty_string,
    "output_format": _one_of("png", "jpeg", "webp", aliases={"jpg": "jpeg"}),
    "output_compression": _int_between(0, 100),
    "background": _non_empty_string,
    "moderation": _non_empty_string,
    "style": _non_empty_string,
    "response_format": _non_empty_string,
    "user": _non_empty_string,
    "n": _int_between(1, MAX_N),
}
_INT_FIELDS = frozenset({"n", "output_compression"})  # CSV cells parsed as integers
_LIST_FIELDS = frozenset({"image", "upscale"})  # CSV cells holding ';'-separated lists


def _csv_list(name: str, cell: str) -> Any:
    """``a.png;b.png`` → a list of paths; ``1;3`` → [1, 3] (left as text if not numbers,
    for the field's check to report)."""
    items = [item.strip() for item in cell.split(";") if item.strip()]
    if name == "upscale":
        return [int(item) if _INT_TEXT.fullmatch(item) else item for item in items]
    return items[0] if len(items) == 1 else items


_RUN_CHECKS: Final[Mapping[str, Check]] = {
    "concurrency": _int_between(1),
    "rpm": _int_between(0),
    "max_attempts": _int_between(1),
    "timeout": _positive_number,
}

# The keys allowed in each place, for unknown-key messages and their suggestions.
_TOP_KEYS = ("version", "defaults", "output", "run", "jobs")
_DEFAULTS_KEYS = (*REQUEST_CHECKS, "params")
_JOB_KEYS = ("id", "prompt", *REQUEST_CHECKS, "params")
_OUTPUT_KEYS = ("dir", "filename")
_CSV_COLUMNS = ("id", "prompt", *REQUEST_CHECKS)
_CSV_PARAMS_PREFIX = "params."

_DISTINCT_PLACEHOLDERS = ("id", "index", "key")  # any one gives each job its own name

_ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DRIVE = re.compile(r"[A-Za-z]:")


# The common, valid shape in one match: checking 100,000 ids part by part costs a second.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*")


def _id_complaint(job_id: str) -> str | None:
    """Why ``job_id`` cannot name files inside the output folder, or None if it can."""
    if len(job_id) <= MAX_ID_LENGTH and _SAFE_ID.fullmatch(job_id):
        return None  # every part starts with a letter or digit: no '.', '..' or hidden part
    shown = repr(job_id)
    if not job_id:
        return "must not be empty"
    if len(job_id) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters, got {len(job_id)}"
    if "\\" in job_id:
        return f"{shown} contains '\\': separate folders with '/'"
    if job_id.startswith("/") or _DRIVE.match(job_id):
        return f"{shown} is an absolute path: it would escape the output folder"
    parts = job_id.split("/")
    if any(part in (".", "..") for part in parts):
        return f"{shown} has a '.' or '..' part: it could escape the output folder"
    if any(part.startswith(".") for part in parts):
        return f"{shown} starts a part with '.': the file would be hidden"
    if any(not part for part in parts):
        return f"{shown} has an empty part between '/'"
    bad = next((part for part in parts if not _ID_PART.fullmatch(part)), None)
    if bad is not None:
        return (
            f"{shown}: part {bad!r} may use only letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return None


def _filename_complaint(template: Any) -> str | None:
    """Why ``template`` cannot name each job's files inside the output folder, or None.

    The template language is the one :func:`batch_gen.output.render_filename` substitutes:
    literal text plus plain ``{name}`` placeholders, without format specs, conversions or
    escaped braces (which ``str.format`` would accept and the renderer would not).
    """
    if not isinstance(template, str) or not template.strip():
        return f"must be a non-empty string, got {_describe(template)}"
    shown = repr(template)
    try:
        list(string.Formatter().parse(template))  # parses lazily: list() finds the error
    except ValueError as exc:
        return f"{shown} is not a valid template: {exc}"
    names = PLACEHOLDER_PATTERN.findall(template)
    leftover = PLACEHOLDER_PATTERN.sub("", template)
    if "{" in leftover or "}" in leftover:  # `{{id}}` is fine for str.format, not for us
        return f"{shown} has a literal brace: only placeholders like {{id}} may use braces"
    unknown = next((name for name in names if name not in PLACEHOLDERS), None)
    if unknown is not None:
        allowed = [f"{{{name}}}" for name in PLACEHOLDERS]
        hint = _did_you_mean(f"{{{unknown}}}", allowed)
        if ":" in unknown or "!" in unknown:
            hint += " (format specs and conversions are not supported)"
        return f"unknown placeholder {{{unknown}}} (allowed: {', '.join(allowed)}){hint}"
    if not set(names) & set(_DISTINCT_PLACEHOLDERS):
        return f"{shown} needs {{id}}, {{index}} or {{key}}: else every job writes one file"
    if template.startswith(("/", "\\")) or _DRIVE.match(template):
        return f"{shown} is absolute: it must be relative to the output folder"
    if "\\" in template:
        return f"{shown} contains '\\': separate folders with '/'"
    parts = template.split("/")
    if ".." in parts:
        return f"{shown} has a '..' part: it would escape the output folder"
    if any(part.startswith(".") for part in parts):
        # Also keeps images out of the state folder, output/<dir>/.batch_gen.
        return f"{shown} starts a part with '.': the files would be hidden"
    return None


# ---------------------------------------------------------------------------------------
# The format-neutral shape both readers produce.


# _Setting, _RawJob and _Request are built once per job (100,000 times for a large CSV):
# NamedTuples, immutable like frozen dataclasses but five times cheaper to build.


class _Setting(NamedTuple):
    """One field as written: its name, its plain value and the line it is on."""

    name: str
    value: Any
    line: int


class _RawJob(NamedTuple):
    """A job as written, before checks: ``settings`` holds id, prompt and request fields."""

    line: int
    settings: tuple[_Setting, ...]
    params: tuple[_Setting, ...]


@dataclass(slots=True)
class _Request:
    """Checked request fields and pass-through params of one place (defaults or a job)."""

    fields: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Document:
    jobs: list[_RawJob] = field(default_factory=list)
    defaults: _Request = field(default_factory=_Request)
    output_dir: str | None = None
    filename: str = DEFAULT_FILENAME
    run: RunDefaults = field(default_factory=RunDefaults)


class _Report:
    """Collects problems for one file; ``count`` lets a caller tell whether a step added any."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    @property
    def count(self) -> int:
        return len(self.problems)

    def add(self, line: int | None, field: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, line, field, message))

    def unknown(self, line: int, name: str, allowed: Sequence[str], *, prefix: str = "") -> None:
        hint = _did_you_mean(name, allowed)
        if not hint and "params" in allowed:
            hint = "; provider-specific fields go under 'params'"
        self.add(line, prefix + name, f"unknown key {name!r}{hint}")

    def in_file_order(self) -> list[Problem]:
        """The problems sorted by line, each once.

        Sections are checked in a fixed order (defaults before jobs), not as written, and
        a YAML anchor merged into many jobs would otherwise report its problem per job.
        """
        unique = dict.fromkeys(self.problems)
        return sorted(unique, key=lambda problem: problem.line or 0)


# ---------------------------------------------------------------------------------------
# Public entry point.


def load_manifest(path: Path, *, provider: str = DEFAULT_PROVIDER) -> Manifest:
    """Read and validate the manifest at ``path``: YAML (.yaml/.yml) or CSV (.csv).

    Returns the jobs in manifest order, each with its request merged from the defaults
    (job fields win; ``model`` defaults to :data:`DEFAULT_MODEL`, ``n`` to 1) and its key
    for ``provider``. The output folder defaults to ``output/<manifest stem>``.

    Raises :class:`ManifestError` listing every problem (file, 1-based line, field), in
    file order, when the file is missing, unreadable, of another type, or invalid.
    """
    report = _Report(str(path))
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        report.add(
            None, None, f"unsupported manifest type {suffix or '(none)'!r}: use .yaml, .yml or .csv"
        )
        raise ManifestError(report.problems)
    data = _read_bytes(path, report)
    text = None if data is None else _decode(data, report)
    if data is None or text is None:
        raise ManifestError(report.problems)

    with gc_paused():  # 100,000 jobs are millions of long-lived objects without cycles
        document = _read_csv(text, report) if suffix == ".csv" else _read_yaml(text, report)
        jobs = _build_jobs(
            document.jobs,
            document.defaults,
            provider=provider,
            base_dir=path.parent,
            report=report,
        )
    if report.problems:
        raise ManifestError(report.in_file_order())
    output_dir = Path(document.output_dir) if document.output_dir else Path("output", path.stem)
    return Manifest(
        path=path,
        jobs=tuple(jobs),
        output=OutputSpec(dir=output_dir, filename=document.filename),
        run=document.run,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def default_output_dir(path: Path) -> Path | None:
    """The output folder of the manifest at ``path`` if it can be known without reading it:
    a CSV manifest has no ``output`` section, so it is always ``output/<stem>``."""
    return Path("output", path.stem) if path.suffix.lower() == ".csv" else None


def _read_bytes(path: Path, report: _Report) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        report.add(None, None, f"cannot read the manifest: {exc.strerror or exc}")
        return None


def _decode(data: bytes, report: _Report) -> str | None:
    try:
        return data.decode("utf-8-sig")  # -sig: spreadsheets often start a CSV with a BOM
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        report.add(line, None, f"not valid UTF-8 (byte {data[exc.start]:#04x}); save as UTF-8")
        return None


# ---------------------------------------------------------------------------------------
# Checks shared by both formats.


def _build_jobs(
    raw_jobs: Sequence[_RawJob],
    defaults: _Request,
    *,
    provider: str,
    base_dir: Path,
    report: _Report,
) -> list[Job]:
    """Check each raw job and build the valid ones; duplicates are reported on the later job."""
    jobs: list[Job] = []
    seen: dict[str, tuple[str, int]] = {}  # casefolded id -> (id, line)
    files = _InputReader(base_dir)
    for index, raw in enumerate(raw_jobs, start=1):
        before = report.count
        written = {setting.name: setting for setting in raw.settings}
        prompt = _check_prompt(written.get("prompt"), raw.line, report)
        request = _check_request(raw.settings, raw.params, prefix="", report=report)
        job_id, id_line = _job_id(written.get("id"), prompt, raw.line, report)
        if job_id is not None:
            _check_unique(job_id, id_line, derived="id" not in written, seen=seen, report=report)
        if report.count > before or prompt is None or job_id is None:
            continue
        merged = _merge(defaults, request)
        route = routing.route_for(str(merged["model"]), merged)
        inputs = _inputs(merged, raw, written, files, report)
        for name, message in routing.route_problems(route, merged, images=_image_count(merged)):
            setting = written.get(name)
            report.add(setting.line if setting else raw.line, name, message)
        if report.count > before or inputs is None:
            continue
        # The route replaces ``api``; input files enter the key by content, not by path,
        # so moving a reference image does not run the job again, but editing it does.
        for name in ("api", "image", "mask"):
            merged.pop(name, None)
        key = _key(provider, route, prompt, merged, inputs)
        images = routing.images_for(route, merged)
        jobs.append(Job(job_id, index, prompt, merged, route.api, key, raw.line, inputs, images))
    return jobs


def _key(
    provider: str,
    route: routing.Route,
    prompt: str,
    request: Mapping[str, Any],
    inputs: Sequence[InputFile],
) -> str:
    return keys.job_key(
        provider=provider,
        api=route.api,
        endpoint=route.endpoint,
        prompt=prompt,
        request=request,
        inputs={f"{item.role}[{number}]": item.sha256 for number, item in enumerate(inputs)},
    )


def _image_count(request: Mapping[str, Any]) -> int:
    image = request.get("image")
    return 0 if not image else 1 if isinstance(image, str) else len(image)


# Input size limits (PROTOCOLS.md: GPT image inputs < 50 MB each, masks < 4 MB).
MAX_INPUT_BYTES = 50 * 1024 * 1024
MAX_MASK_BYTES = 4 * 1024 * 1024


class _InputReader:
    """Reads and hashes input files once each, however many jobs share them."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self._seen: dict[Path, tuple[str, int, str | None] | str] = {}

    def read(self, written: str) -> tuple[Path, str, int, str | None] | str:
        """(path, sha256, bytes, format) or a complaint."""
        path = (self.base_dir / written).resolve()
        found = self._seen.get(path)
        if found is None:
            found = self._seen[path] = self._load(path)
        if isinstance(found, str):
            return found
        return (path, *found)

    @staticmethod
    def _load(path: Path) -> tuple[str, int, str | None] | str:
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
        return hashlib.sha256(data).hexdigest(), len(data), sniff_format(data)


def _inputs(
    request: Mapping[str, Any],
    raw: _RawJob,
    written: Mapping[str, _Setting],
    files: _InputReader,
    report: _Report,
) -> tuple[InputFile, ...] | None:
    """The job's input files (images, then the mask), checked; None if any is unusable."""
    image = request.get("image") or []
    wanted = [("image", name) for name in ([image] if isinstance(image, str) else image)]
    if request.get("mask"):
        wanted.append(("mask", request["mask"]))
    inputs: list[InputFile] = []
    ok = True
    for role, name in wanted:
        setting = written.get(role)
        line = setting.line if setting else raw.line
        found = files.read(name)
        if isinstance(found, str):
            report.add(line, role, found)
            ok = False
            continue
        path, digest, size, fmt = found
        if fmt is None:
            report.add(line, role, f"{path} is not a PNG, JPEG, WebP or GIF image")
            ok = False
        elif role == "mask" and (fmt != "png" or size > MAX_MASK_BYTES):
            report.add(line, role, f"{path}: a mask must be a PNG under 4 MB")
            ok = False
        else:
            inputs.append(InputFile(role, path, digest, size, fmt))
    return tuple(inputs) if ok else None


def with_provider(manifest: Manifest, provider: str) -> Manifest:
    """The same manifest with every job's key computed for ``provider`` instead.

    ``status`` needs it: it learns which provider the last run used (the simulator, for an
    offline run) only after the manifest has told it where the output folder is.
    """
    jobs = tuple(
        msgspec.structs.replace(
            job,
            key=_key(
                provider,
                routing.ROUTES[job.api],
                job.prompt,
                job.request,
                job.inputs,
            ),
        )
        for job in manifest.jobs
    )
    return dataclasses.replace(manifest, jobs=jobs)


def _merge(defaults: _Request, job: _Request) -> dict[str, Any]:
    """The job's request: built-in defaults < manifest defaults < the job's own settings.

    ``n`` is always present, so a job's key does not change when ``n: 1`` is written out.
    Params are flattened into the request. Within one level a param may not repeat a field
    (see :func:`_check_request`), so only the level decides: a job's ``size`` wins over a
    ``size`` in the defaults' params, and a job's ``params.size`` over the defaults' ``size``.
    """
    return {
        "model": DEFAULT_MODEL,
        "n": 1,
        **defaults.fields,
        **defaults.params,
        **job.fields,
        **job.params,
    }


def _check_prompt(setting: _Setting | None, job_line: int, report: _Report) -> str | None:
    if setting is None:
        report.add(job_line, "prompt", "missing prompt: every job needs one")
        return None
    if setting.value is None or (isinstance(setting.value, str) and not setting.value.strip()):
        report.add(setting.line, "prompt", "prompt is empty")
        return None
    if not isinstance(setting.value, str):
        report.add(setting.line, "prompt", f"must be a string, got {_describe(setting.value)}")
        return None
    return setting.value  # as written: whitespace can matter to a model, and to the key


def _job_id(
    setting: _Setting | None, prompt: str | None, job_line: int, report: _Report
) -> tuple[str | None, int]:
    """The job's id (written, or derived from the prompt) and the line to blame for it."""
    if setting is None:
        return (keys.derive_id(prompt) if prompt is not None else None), job_line
    value = setting.value
    if _is_int(value):
        value = str(value)  # `id: 7` is a fine name; YAML just read it as a number
    if not isinstance(value, str):
        report.add(setting.line, "id", f"must be a string, got {_describe(value)}")
        return None, setting.line
    complaint = _id_complaint(value)
    if complaint is not None:
        report.add(setting.line, "id", complaint)
        return None, setting.line
    return value, setting.line


def _check_unique(
    job_id: str, line: int, *, derived: bool, seen: dict[str, tuple[str, int]], report: _Report
) -> None:
    # Case-folded, because "Boat" and "boat" are one file on macOS and Windows disks.
    folded = job_id.casefold()
    if folded not in seen:
        seen[folded] = (job_id, line)
        return
    first_id, first_line = seen[folded]
    if first_id == job_id:
        message = f"duplicate id {job_id!r}: also used by the job at line {first_line}"
    else:
        message = (
            f"id {job_id!r} differs only in case from {first_id!r} at line {first_line}; "
            "their files would clash on case-insensitive disks"
        )
    if derived:
        message += " (derived from the same prompt: give one of them an explicit id)"
    report.add(line, "id", message)


def _check_request(
    settings: Sequence[_Setting], params: Iterable[_Setting], *, prefix: str, report: _Report
) -> _Request:
    """Check the request fields and params of one place (the defaults or a job).

    Fields are checked by :data:`REQUEST_CHECKS`; settings not in it (id, prompt) are
    ignored here. Params pass through untouched, except that a param naming a known field
    (``params: {background: transparent}``) gets that field's check, may not repeat a
    field set directly in the same place, and may not be the prompt.
    """
    request = _Request()
    for setting in settings:
        check = REQUEST_CHECKS.get(setting.name)
        if check is not None:
            _store_if_valid(request.fields, setting, check, prefix + setting.name, report)
    direct = {setting.name for setting in settings}
    for param in params:
        name = f"{prefix}params.{param.name}"
        check = REQUEST_CHECKS.get(param.name)
        if param.name == "prompt":
            report.add(param.line, name, "the prompt is not a param: set it as the job's prompt")
        elif param.name in direct:
            report.add(param.line, name, f"{param.name!r} is also set directly: set it once")
        elif check is None:
            request.params[param.name] = param.value  # a provider field we know nothing of
        else:
            _store_if_valid(request.params, param, check, name, report)
    return request


def _store_if_valid(
    target: dict[str, Any], setting: _Setting, check: Check, field: str, report: _Report
) -> None:
    complaint = check(setting.value)
    if complaint is None:
        target[setting.name] = setting.value
    else:
        report.add(setting.line, field, complaint)


# ---------------------------------------------------------------------------------------
# YAML


_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAX_YAML_VALUES = 1_000_000
_INVALID: Final = object()  # a value that could not be read; its problem is already reported
_YAML_ONLY_KINDS = {"date": "a date", "datetime": "a timestamp", "bytes": "binary data"}


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


@dataclass(frozen=True, slots=True)
class _Entry:
    """One key of a YAML mapping: the key, its line and the value's node."""

    key: str
    line: int
    node: Node


class _YamlReader:
    """Turns composed YAML nodes into plain JSON-compatible values, keeping line numbers.

    We compose rather than load so that every value keeps its position, and so that
    duplicate keys (which a plain load silently collapses to the last) can be reported.
    Scalars go through the safe constructor, so `n: 2` is an int and `n: "2"` a string.
    """

    def __init__(self, report: _Report) -> None:
        self._report = report
        self._constructor = SafeConstructor()
        # Nodes being read, to catch recursive aliases (`&a [*a]`), which compose allows.
        self._open: set[int] = set()
        self._merging: set[int] = set()
        # Aliases can expand a small file into billions of values ("billion laughs"), so
        # each value read from outside may expand into at most this many nodes.
        self._budget = _MAX_YAML_VALUES

    def entries(self, node: MappingNode, where: str) -> list[_Entry]:
        """The mapping's entries as written, with YAML merge keys (``<<: *x``) applied.

        Keys must be strings and appear once; the entries a merge brings in give way to
        the mapping's own keys, and an earlier merge wins over a later one.
        """
        own: dict[str, _Entry] = {}
        merged: list[_Entry] = []
        self._merging.add(id(node))
        try:
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    merged.extend(self._merged(value_node, where))
                else:
                    self._add_entry(own, key_node, value_node, where)
        finally:
            self._merging.discard(id(node))
        for entry in merged:
            own.setdefault(entry.key, entry)
        return list(own.values())

    def _add_entry(
        self, own: dict[str, _Entry], key_node: Node, value_node: Node, where: str
    ) -> None:
        key = self.plain(key_node, where)
        if key is _INVALID:
            return
        line = _line(key_node)
        if not isinstance(key, str):
            self._report.add(line, where or None, f"keys must be strings, got {_describe(key)}")
        elif key in own:
            message = f"duplicate key {key!r} (first at line {own[key].line}): set it once"
            self._report.add(line, _join(where, key), message)
        else:
            own[key] = _Entry(key, line, value_node)

    def _merged(self, node: Node, where: str) -> list[_Entry]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        entries: list[_Entry] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                self._report.add(_line(source), where or None, "'<<' must merge a mapping")
            elif id(source) in self._merging:
                self._report.add(_line(source), where or None, "a YAML merge refers to itself")
            else:
                entries.extend(self.entries(source, where))
        return entries

    def plain(self, node: Node, where: str) -> Any:
        """The node as plain Python (str, int, float, bool, None, list, dict) or _INVALID."""
        if not self._open:
            self._budget = _MAX_YAML_VALUES
        return self._plain(node, where)

    def _plain(self, node: Node, where: str) -> Any:
        self._budget -= 1
        if self._budget == 0:
            self._report.add(_line(node), where or None, "too many values: are aliases nested?")
        if self._budget <= 0:
            return _INVALID
        if isinstance(node, ScalarNode):
            return self._scalar(node, where)
        if id(node) in self._open:
            self._report.add(_line(node), where or None, "a YAML alias refers to itself")
            return _INVALID
        before = self._report.count
        self._open.add(id(node))
        try:
            value: Any
            if isinstance(node, SequenceNode) and node.tag == _SEQ_TAG:
                value = [self._plain(item, where) for item in node.value]
            elif isinstance(node, MappingNode) and node.tag == _MAP_TAG:
                value = {
                    entry.key: self._plain(entry.node, _join(where, entry.key))
                    for entry in self.entries(node, where)
                }
            else:
                value = _INVALID
                self._report.add(_line(node), where or None, f"unsupported YAML tag {node.tag!r}")
        finally:
            self._open.discard(id(node))
        return _INVALID if self._report.count > before else value

    def _scalar(self, node: ScalarNode, where: str) -> Any:
        try:
            value: object = self._constructor.construct_object(node)
        # Explicit tags (`!!int abc`, `!!timestamp x`, `!custom`) fail in assorted ways.
        except Exception as exc:
            reason = getattr(exc, "problem", None) or str(exc)
            self._report.add(_line(node), where or None, f"cannot read this value: {reason}")
            return _INVALID
        if isinstance(value, float) and not math.isfinite(value):
            message = f"{node.value!r} is not a finite number; quote it to pass a string"
        elif value is None or isinstance(value, str | int | float | bool):
            return value
        else:  # dates, timestamps, !!binary: JSON has no such values
            kind = _YAML_ONLY_KINDS.get(type(value).__name__, type(value).__name__)
            message = f"{kind} is not supported here; quote it to pass a string"
        self._report.add(_line(node), where or None, message)
        return _INVALID


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _read_yaml(text: str, report: _Report) -> _Document:
    document = _Document()
    root = _compose(text, report)
    if root is None:
        return document
    if not isinstance(root, MappingNode):
        kind = "a list" if isinstance(root, SequenceNode) else "a single value"
        report.add(
            _line(root), None, f"the top level must be a mapping with a 'jobs' list, got {kind}"
        )
        return document
    reader = _YamlReader(report)
    sections: dict[str, _Entry] = {}
    for entry in reader.entries(root, ""):
        if entry.key in _TOP_KEYS:
            sections[entry.key] = entry
        else:
            report.unknown(entry.line, entry.key, _TOP_KEYS)

    # Fixed order: the jobs need the defaults; problems are sorted into file order later.
    if "version" in sections:
        _check_version(sections["version"], reader, report)
    if "defaults" in sections:
        document.defaults = _yaml_defaults(sections["defaults"], reader, report)
    if "output" in sections:
        _yaml_output(sections["output"], reader, report, document)
    if "run" in sections:
        document.run = _yaml_run(sections["run"], reader, report)
    if "jobs" in sections:
        document.jobs = _yaml_jobs(sections["jobs"], reader, report)
    else:
        report.add(_line(root), "jobs", "missing 'jobs': the manifest needs a list of jobs")
    return document


def _compose(text: str, report: _Report) -> Node | None:
    """Parse ``text`` into a node tree; report a syntax error or an empty document."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        context = f" ({exc.context})" if exc.context else ""
        report.add(line, None, f"invalid YAML: {exc.problem}{context}")
        return None
    except ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        report.add(line, None, f"invalid YAML: {exc.reason} (U+{exc.character:04X})")
        return None
    except yaml.YAMLError as exc:
        report.add(None, None, f"invalid YAML: {exc}")
        return None
    except RecursionError:
        report.add(None, None, "invalid YAML: nested too deeply")
        return None
    if root is None:
        report.add(1, None, "the manifest is empty: it needs a 'jobs' list")
    return root


def _section(
    entry: _Entry, reader: _YamlReader, report: _Report, allowed: Sequence[str] | None
) -> list[_Entry]:
    """The entries of a section mapping whose keys are ``allowed`` (None: any key).

    Unknown keys are reported with a suggestion; an empty (null) section has no entries.
    """
    node = entry.node
    if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return []  # `defaults:` with every key commented out
    if not isinstance(node, MappingNode):
        report.add(entry.line, entry.key, "must be a mapping of keys to values")
        return []
    known: list[_Entry] = []
    for child in reader.entries(node, entry.key):
        if allowed is None or child.key in allowed:
            known.append(child)
        else:
            report.unknown(child.line, child.key, allowed, prefix=f"{entry.key}.")
    return known


def _settings(entries: Iterable[_Entry], reader: _YamlReader, prefix: str) -> list[_Setting]:
    """Plain values of the entries; values that could not be read are left out."""
    settings = []
    for entry in entries:
        value = reader.plain(entry.node, prefix + entry.key)
        if value is not _INVALID:
            settings.append(_Setting(entry.key, value, entry.line))
    return settings


def _check_version(entry: _Entry, reader: _YamlReader, report: _Report) -> None:
    value = reader.plain(entry.node, "version")
    if value is not _INVALID and not (_is_int(value) and value == 1):
        report.add(entry.line, "version", f"only version 1 is supported, got {_describe(value)}")


def _yaml_request_parts(
    entries: list[_Entry], reader: _YamlReader, report: _Report, prefix: str
) -> tuple[list[_Setting], list[_Setting]]:
    """Split a defaults or job mapping into its own settings and its ``params``."""
    own = [entry for entry in entries if entry.key != "params"]
    params: list[_Setting] = []
    for entry in entries:
        if entry.key == "params":  # any key goes: params pass through untouched
            section = _Entry(prefix + "params", entry.line, entry.node)
            params = _settings(_section(section, reader, report, None), reader, prefix + "params.")
    return _settings(own, reader, prefix), params


def _yaml_defaults(entry: _Entry, reader: _YamlReader, report: _Report) -> _Request:
    entries = _section(entry, reader, report, _DEFAULTS_KEYS)
    settings, params = _yaml_request_parts(entries, reader, report, "defaults.")
    return _check_request(settings, params, prefix="defaults.", report=report)


def _yaml_output(entry: _Entry, reader: _YamlReader, report: _Report, document: _Document) -> None:
    for setting in _settings(_section(entry, reader, report, _OUTPUT_KEYS), reader, "output."):
        if setting.name == "dir":
            complaint = _non_empty_string(setting.value)
            if complaint is None:
                document.output_dir = setting.value
        else:
            complaint = _filename_complaint(setting.value)
            if complaint is None:
                document.filename = setting.value
        if complaint is not None:
            report.add(setting.line, f"output.{setting.name}", complaint)


def _yaml_run(entry: _Entry, reader: _YamlReader, report: _Report) -> RunDefaults:
    values: dict[str, Any] = {}
    for setting in _settings(_section(entry, reader, report, tuple(_RUN_CHECKS)), reader, "run."):
        complaint = _RUN_CHECKS[setting.name](setting.value)
        if complaint is None:
            values[setting.name] = setting.value
        else:
            report.add(setting.line, f"run.{setting.name}", complaint)
    if "timeout" in values:
        values["timeout"] = float(values["timeout"])
    return RunDefaults(**values)


def _yaml_jobs(entry: _Entry, reader: _YamlReader, report: _Report) -> list[_RawJob]:
    node = entry.node
    if not isinstance(node, SequenceNode) or not node.value:
        report.add(entry.line, "jobs", "must be a non-empty list of jobs, each with a prompt")
        return []
    jobs: list[_RawJob] = []
    for item in node.value:
        if not isinstance(item, MappingNode):
            report.add(_line(item), "jobs", "each job must be a mapping with at least a prompt")
            continue
        known: list[_Entry] = []
        for child in reader.entries(item, ""):
            if child.key in _JOB_KEYS:
                known.append(child)
            else:
                report.unknown(child.line, child.key, _JOB_KEYS)
        settings, params = _yaml_request_parts(known, reader, report, "")
        jobs.append(_RawJob(_line(item), tuple(settings), tuple(params)))
    return jobs


# ---------------------------------------------------------------------------------------
# CSV


_INT_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_UNNAMED = ""  # a column with an empty header cell (spreadsheets add them): ignored if empty


def _read_csv(text: str, report: _Report) -> _Document:
    """Read a CSV manifest: a header row naming columns, then one job per row.

    Each row's line is the physical line it starts on, even after a quoted cell that spans
    lines. Empty cells are "not set"; rows with every cell empty are skipped.
    """
    document = _Document()
    # newline="": quoted cells keep their line breaks. strict: an unclosed quote is an error
    # rather than a prompt that silently swallows the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        header = next(reader, [])
        start = reader.line_num + 1  # line_num counts the lines consumed so far
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        report.add(start, None, f"invalid CSV in the row starting here ({exc}): check its quotes")
        if not header:
            return document

    columns = _csv_columns(header, report)
    if columns is None:
        return document
    for line, cells in rows:
        if not "".join(cells).strip():
            continue
        if len(cells) > len(columns):
            message = f"row has {len(cells)} cells but the header names {len(columns)} columns"
            report.add(line, None, message)
        document.jobs.append(_csv_job(line, cells, columns, report))
    return document


def _csv_columns(header: list[str], report: _Report) -> list[str | None] | None:
    """What each column feeds (a field name, ``params.<name>``, ``_UNNAMED``, or None to
    ignore an unknown or repeated column); None when no row can be read."""
    names = [cell.strip() for cell in header]
    if not any(names):
        report.add(1, None, "the first line must be a header naming the columns, with 'prompt'")
        return None
    columns: list[str | None] = []
    for name in names:
        is_param = name.startswith(_CSV_PARAMS_PREFIX) and len(name) > len(_CSV_PARAMS_PREFIX)
        if name == _UNNAMED:
            columns.append(_UNNAMED)
        elif name in columns:
            report.add(1, name, f"column {name!r} appears twice: keep one")
            columns.append(None)
        elif name in _CSV_COLUMNS or is_param:
            columns.append(name)
        else:
            hint = _did_you_mean(name, _CSV_COLUMNS) or (
                "; provider-specific fields go in 'params.<name>' columns"
            )
            report.add(1, name, f"unknown column {name!r}{hint}")
            columns.append(None)
    if "prompt" not in columns:
        report.add(1, "prompt", "the header has no 'prompt' column: every job needs a prompt")
        return None
    return columns


def _csv_job(line: int, cells: list[str], columns: list[str | None], report: _Report) -> _RawJob:
    """One row as a raw job; int fields are parsed here, every other value stays a string."""
    settings: list[_Setting] = []
    params: list[_Setting] = []
    # zip stops at the shorter: a short row's missing cells are empty, extra cells reported.
    for number, (name, cell) in enumerate(zip(columns, cells, strict=False), start=1):
        if name is None or not cell.strip():
            continue
        if name == _UNNAMED:
            report.add(line, None, f"column {number} has a value but no name in the header")
        elif name == "prompt":
            settings.append(_Setting(name, cell, line))  # as written, like YAML
        elif name.startswith(_CSV_PARAMS_PREFIX):
            params.append(_Setting(name.removeprefix(_CSV_PARAMS_PREFIX), cell.strip(), line))
        elif name in _INT_FIELDS and not _INT_TEXT.fullmatch(cell):
            report.add(line, name, f"must be an integer, got {cell.strip()!r}")
        elif name in _LIST_FIELDS:
            settings.append(_Setting(name, _csv_list(name, cell), line))
        else:
            value = int(cell) if name in _INT_FIELDS else cell.strip()
            settings.append(_Setting(name, value, line))
    return _RawJob(line, tuple(settings), tuple(params))
