"""Build jobs from the format-neutral document: defaults merged, ids, uniqueness, routes, keys.

Pure apart from reading input files (through :class:`~.inputs.InputReader`). A job is built
only when it has no problem; every problem goes to the report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from batch_gen import keys, routing
from batch_gen.models import InputFile, Job, Manifest
from batch_gen.providers.base import ApiSpec

from .document import RawJob, Request, Setting
from .fields import UNKEYED_FIELDS, check_request
from .inputs import InputReader, job_inputs
from .names import id_complaint
from .problems import Report, describe

DEFAULT_MODEL = "gpt-image-2"  # used when neither the job nor the defaults name a model
DEFAULT_PROVIDER = "cometapi"


def build_jobs(
    raw_jobs: Sequence[RawJob],
    defaults: Request,
    *,
    provider: str,
    base_dir: Path,
    report: Report,
) -> list[Job]:
    """Check each raw job and build the valid ones; duplicates are reported on the later job."""
    jobs: list[Job] = []
    seen: dict[str, tuple[str, int]] = {}  # casefolded id -> (id, line)
    files = InputReader(base_dir)
    for index, raw in enumerate(raw_jobs, start=1):
        before = report.count
        written = {setting.name: setting for setting in raw.settings}
        prompt = _check_prompt(written.get("prompt"), raw, report)
        request = check_request(raw.settings, raw.params, prefix="", report=report)
        job_id, id_line = _job_id(written.get("id"), prompt, raw.line, report)
        if job_id is not None:
            _check_unique(job_id, id_line, derived="id" not in written, seen=seen, report=report)
        if report.count > before or prompt is None or job_id is None:
            continue
        merged = _merge(defaults, request)
        route = routing.route_for(str(merged["model"]), merged)
        inputs = job_inputs(merged, job_line=raw.line, written=written, files=files, report=report)
        problems = routing.route_problems(route, merged, images=_image_count(merged), prompt=prompt)
        for name, message in problems:
            setting = written.get(name)
            if setting is None and name not in request.params and _in(defaults, name):
                message += f" ({name} from the defaults)"
            report.add(setting.line if setting else raw.line, name, message)
        if report.count > before or inputs is None:
            continue
        # The route replaces ``api``; input files enter the key by content, not by path,
        # so moving a reference image does not run the job again, but editing it does.
        for name in UNKEYED_FIELDS:
            merged.pop(name, None)
        key = _key(provider, route, prompt, merged, inputs)
        images = routing.images_for(route, merged)
        jobs.append(Job(job_id, index, prompt, merged, route.api, key, raw.line, inputs, images))
    return jobs


def with_provider(manifest: Manifest, provider: str) -> Manifest:
    """The same manifest with every job's key computed for ``provider`` instead.

    ``status`` needs it: it learns which provider the last run used (the simulator, for an
    offline run) only after the manifest has told it where the output folder is.
    """
    jobs = tuple(msgspec.structs.replace(job, key=key_for(job, provider)) for job in manifest.jobs)
    return dataclasses.replace(manifest, jobs=jobs)


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
