"""Build jobs from the format-neutral document: defaults merged, ids, uniqueness, routes, keys.

Pure apart from reading input files (through :class:`~.inputs.InputReader`). A job is built
only when it has no problem; every problem goes to the report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from batch_gen import keys, routing
from batch_gen.models import InputFile, Job, Manifest
from batch_gen.providers.base import ApiSpec

from .document import RawJob, Request, Row, Setting
from .fields import UNKEYED_FIELDS, check_request
from .inputs import InputReader, job_inputs
from .names import id_complaint
from .problems import Report, describe

DEFAULT_MODEL = "gpt-image-2"  # used when neither the job nor the defaults name a model
DEFAULT_PROVIDER = "cometapi"


def build_jobs(
    raw_jobs: Iterable[RawJob | Row],
    defaults: Request,
    *,
    provider: str,
    base_dir: Path,
    report: Report,
) -> list[Job]:
    """Check each raw job (or row) and build the valid ones; duplicates are reported on the
    later job."""
    builder = _JobBuilder(defaults, provider=provider, files=InputReader(base_dir), report=report)
    jobs: list[Job] = []
    for index, raw in enumerate(raw_jobs, start=1):
        job = builder.build(index, raw)
        if job is not None:
            jobs.append(job)
    return jobs


Inputs = tuple[InputFile, ...]


class _Shape(NamedTuple):
    """What every job written with the same request fields shares, whatever its id and
    prompt. A 100,000-row CSV usually has a handful of shapes: each is checked, merged,
    routed and encoded for the key once (:meth:`_JobBuilder.build`)."""

    request: Request  # the job's own checked fields and params
    merged: dict[str, Any]  # with the defaults, input files and ``api`` still in
    keyed: dict[str, Any]  # without them: every such job's ``request`` (shared, read-only)
    route: ApiSpec
    images: int  # the image files a job makes
    inputs: int  # input images given
    reads_files: bool  # an input image or a mask: each job's are read and checked
    max_prompt: int | None  # the model's documented prompt length: checked per job
    keys: keys.KeyTemplate

    def job(
        self, job_id: str, *, index: int, prompt: str, line: int, key: str, inputs: Inputs = ()
    ) -> Job:
        """The job of this shape with these id, prompt and key."""
        return Job(
            job_id, index, prompt, self.keyed, self.route.api, key, line, inputs, self.images
        )


class _JobBuilder:
    """Builds jobs one raw job at a time: the ids seen so far, and the shapes known to be
    free of problems, by signature and by the token of the rows that had them."""

    def __init__(
        self, defaults: Request, *, provider: str, files: InputReader, report: Report
    ) -> None:
        self.defaults = defaults
        self.provider = provider
        self.files = files
        self.report = report
        self.seen: dict[str, tuple[str, int]] = {}  # casefolded id -> (id, line)
        self.shapes: dict[_Signature, _Shape] = {}
        self.rows: dict[Hashable, _Shape] = {}  # a row's token -> its shape

    def build(self, index: int, item: RawJob | Row) -> Job | None:
        """The job, or None when it has a problem (reported)."""
        if isinstance(item, RawJob):
            return self._build(index, item)[0]
        job = self._shortcut(index, item)
        if job is not None:
            return job
        job, shape = self._build(index, item.raw())
        if shape is not None and item.token is not None and item.job_id and item.prompt:
            self.rows[item.token] = shape  # its id and prompt were there, and fine
        return job

    def _shortcut(self, index: int, row: Row) -> Job | None:
        """The row's job when a row of its token was built without problems and only its
        own id and prompt are new, and fine; None to build the row in full (which reports
        whatever stopped the shortcut). Half the time of a full build: a CSV row's cells
        become no settings, and its fields are not looked at again."""
        shape = None if row.token is None else self.rows.get(row.token)
        job_id, prompt = row.job_id, row.prompt
        if shape is None or job_id is None or prompt is None or id_complaint(job_id):
            return None
        if routing.prompt_problem(shape.merged, prompt, limit=shape.max_prompt) is not None:
            return None
        if _claim(job_id, row.line, seen=self.seen) is not None:
            return None  # a duplicate: the full build reports it
        key = shape.keys.key(prompt)
        return shape.job(job_id, index=index, prompt=prompt, line=row.line, key=key)

    def _build(self, index: int, raw: RawJob) -> tuple[Job | None, _Shape | None]:
        """The job (None when it has a problem, reported), and its shape when that is known
        free of problems and reads no file (a row's shortcut may then take it)."""
        report = self.report
        reported = report.problems  # its length tells whether a step below added any
        before = len(reported)
        written = {setting.name: setting for setting in raw.settings}
        prompt = _check_prompt(written.get("prompt"), raw, report)
        signature = _signature(raw)
        shape = None if signature is None else self.shapes.get(signature)
        if shape is None:
            request = check_request(raw.settings, raw.params, prefix="", report=report)
        else:
            request = shape.request  # known to be free of problems
        job_id, id_line = _job_id(written.get("id"), prompt, raw.line, report)
        if job_id is not None:
            derived = "id" not in written
            _check_unique(job_id, id_line, derived=derived, seen=self.seen, report=report)
        if len(reported) > before or prompt is None or job_id is None:
            return None, None
        problems: list[tuple[str, str]] = []
        if shape is None:
            shape = self._shape(request)
            problems = routing.request_problems(shape.route, shape.merged, images=shape.inputs)
            if not problems and signature is not None:
                self.shapes[signature] = shape
        inputs: Inputs | None = ()
        if shape.reads_files:
            inputs = job_inputs(
                shape.merged, job_line=raw.line, written=written, files=self.files, report=report
            )
        too_long = routing.prompt_problem(shape.merged, prompt, limit=shape.max_prompt)
        if too_long is not None:
            problems.insert(0, too_long)  # the prompt's problem first
        for name, message in problems:
            self._report_route_problem(name, message, written=written, request=request, raw=raw)
        if len(reported) > before or inputs is None:
            return None, None
        key = shape.keys.key(prompt) if not inputs else self._key_with(shape, prompt, inputs)
        job = shape.job(job_id, index=index, prompt=prompt, line=raw.line, key=key, inputs=inputs)
        known = signature is not None and self.shapes.get(signature) is shape
        return job, shape if known and not shape.reads_files else None

    def _key_with(self, shape: _Shape, prompt: str, inputs: Inputs) -> str:
        """The key of a job of ``shape`` with input files (their contents enter the key)."""
        return _key(self.provider, shape.route, prompt, shape.keyed, inputs)

    def _shape(self, request: Request) -> _Shape:
        merged = _merge(self.defaults, request)
        route = routing.route_for(str(merged["model"]), merged)
        # The route replaces ``api``; input files enter the key by content, not by path,
        # so moving a reference image does not run the job again, but editing it does.
        keyed = {name: value for name, value in merged.items() if name not in UNKEYED_FIELDS}
        template = keys.KeyTemplate(
            provider=self.provider, api=route.api, endpoint=route.endpoint, request=keyed
        )
        return _Shape(
            request,
            merged,
            keyed,
            route,
            images=routing.images_for(route, keyed),
            inputs=_image_count(merged),
            reads_files=bool(merged.get("image") or merged.get("mask")),
            max_prompt=route.prompt_limit(merged),
            keys=template,
        )

    def _report_route_problem(
        self,
        name: str,
        message: str,
        *,
        written: Mapping[str, Setting],
        request: Request,
        raw: RawJob,
    ) -> None:
        setting = written.get(name)
        if setting is None and name not in request.params and _in(self.defaults, name):
            message += f" ({name} from the defaults)"
        self.report.add(setting.line if setting else raw.line, name, message)


#: A raw job's request fields and params with their types (``True`` and ``1`` are equal
#: keys in Python, but not equal values in a request), and which of id and prompt it sets.
_Signature = tuple[tuple[Any, ...], tuple[Any, ...]]
# Only values of these exact types take part: their equality is the JSON equality of the
# key. A float is left out (0.0 equals -0.0 but encodes otherwise), and lists and mappings
# cannot be dictionary keys.
_PLAIN = frozenset({str, int, bool, type(None)})


def _signature(raw: RawJob) -> _Signature | None:
    """What decides the checks of a job's request fields, or None when a value is not
    plain (the job is then checked on its own)."""
    settings: list[Any] = []
    for setting in raw.settings:
        name, value = setting.name, setting.value
        if name == "id" or name == "prompt":
            settings.append(name)  # present: a param of that name is refused
        elif value.__class__ in _PLAIN:
            settings.append((name, value.__class__, value))
        else:
            return None
    params: list[Any] = []
    for param in raw.params:
        value = param.value
        if value.__class__ not in _PLAIN:
            return None
        params.append((param.name, value.__class__, value))
    return tuple(settings), tuple(params)


def with_provider(manifest: Manifest, provider: str) -> Manifest:
    """The same manifest with every job's key computed for ``provider`` instead.

    ``status`` needs it: it learns which provider the last run used (the simulator, for an
    offline run) only after the manifest has told it where the output folder is.
    """
    # Jobs of one shape share their request mapping (see _Shape): one key template each.
    templates: dict[tuple[int, str], keys.KeyTemplate] = {}

    def rekeyed(job: Job) -> Job:
        if job.inputs:
            return msgspec.structs.replace(job, key=key_for(job, provider))
        handle = (id(job.request), job.api)  # the manifest keeps every request alive
        template = templates.get(handle)
        if template is None:
            route = routing.ROUTES[job.api]
            template = keys.KeyTemplate(
                provider=provider, api=route.api, endpoint=route.endpoint, request=job.request
            )
            templates[handle] = template
        return msgspec.structs.replace(job, key=template.key(job.prompt))

    return dataclasses.replace(manifest, jobs=tuple(rekeyed(job) for job in manifest.jobs))


def key_for(job: Job, provider: str) -> str:
    """The key ``job`` would have for ``provider``: tells whether an image recorded under
    another key was made for this very job by another provider."""
    return _key(provider, routing.ROUTES[job.api], job.prompt, job.request, job.inputs)


def _key(
    provider: str,
    route: ApiSpec,
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


def _in(place: Request, name: str) -> bool:
    """Whether ``place`` (the defaults or a job) sets ``name``, directly or as a param."""
    return name in place.fields or name in place.params


def _image_count(request: Mapping[str, Any]) -> int:
    image = request.get("image")
    return 0 if not image else 1 if isinstance(image, str) else len(image)


def _merge(defaults: Request, job: Request) -> dict[str, Any]:
    """The job's request: built-in defaults < manifest defaults < the job's own settings.

    ``n`` is always present, so a job's key does not change when ``n: 1`` is written out.
    Params are flattened into the request. Within one level a param may not repeat a field
    (see :func:`~.fields.check_request`), so only the level decides: a job's ``size`` wins
    over a ``size`` in the defaults' params, and a job's ``params.size`` over the defaults'
    ``size``.
    """
    return {
        "model": DEFAULT_MODEL,
        "n": 1,
        **defaults.fields,
        **defaults.params,
        **job.fields,
        **job.params,
    }


def _check_prompt(setting: Setting | None, raw: RawJob, report: Report) -> str | None:
    """The prompt as written (see :data:`~.fields.TEXT_FIELDS`), or None if it has none."""
    if setting is None:
        if "prompt" not in raw.unread:  # else its value's problem is reported already
            report.add(raw.line, "prompt", "missing prompt: every job needs one")
        return None
    if setting.value is None or (isinstance(setting.value, str) and not setting.value.strip()):
        report.add(setting.line, "prompt", "prompt is empty")
        return None
    if not isinstance(setting.value, str):
        report.add(setting.line, "prompt", f"must be a string, got {describe(setting.value)}")
        return None
    return setting.value  # as written: whitespace can matter to a model, and to the key


def _job_id(
    setting: Setting | None, prompt: str | None, job_line: int, report: Report
) -> tuple[str | None, int]:
    """The job's id (written, or derived from the prompt) and the line to blame for it."""
    if setting is None:
        return (keys.derive_id(prompt) if prompt is not None else None), job_line
    value = setting.value  # as written: `id: 0123` is "0123", never octal 83
    if value is None:
        report.add(setting.line, "id", "id is empty: leave it out to derive one from the prompt")
        return None, setting.line
    if not isinstance(value, str):
        report.add(setting.line, "id", f"must be a string, got {describe(value)}")
        return None, setting.line
    complaint = id_complaint(value)
    if complaint is not None:
        report.add(setting.line, "id", complaint)
        return None, setting.line
    return value, setting.line


def _check_unique(
    job_id: str, line: int, *, derived: bool, seen: dict[str, tuple[str, int]], report: Report
) -> None:
    first = _claim(job_id, line, seen=seen)
    if first is None:
        return
    first_id, first_line = first
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


def _claim(job_id: str, line: int, *, seen: dict[str, tuple[str, int]]) -> tuple[str, int] | None:
    """Take ``job_id`` for the job at ``line``, or give the (id, line) that took it first
    (and take nothing). Case-folded, because "Boat" and "boat" are one file on macOS and
    Windows disks."""
    folded = job_id.casefold()
    first = seen.get(folded)
    if first is None:
        seen[folded] = (job_id, line)
    return first
