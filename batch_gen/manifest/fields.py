"""Which fields each manifest section allows, and the check of each field's value.

Each check returns a complaint, or None when the value is fine. The tables below say which
check applies to which field, so adding a field is one line. The fields that only some
image APIs take are gathered in :data:`API_FIELDS`, the one place to change when an API
gains or loses one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from batch_gen import routing

from .document import Request, Setting
from .problems import Report, describe, did_you_mean, is_int

MAX_N = 10  # the most images one request may ask for (the OpenAI images API's limit)

Check = Callable[[Any], str | None]


def non_empty_string(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    return f"must be a non-empty string, got {describe(value)}"


def int_between(low: int, high: int | None = None) -> Check:
    wanted = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def check(value: Any) -> str | None:
        if is_int(value) and low <= value and (high is None or value <= high):
            return None
        return f"must be {wanted}, got {describe(value)}"

    return check


def _positive_number(value: Any) -> str | None:
    if (is_int(value) or isinstance(value, float)) and math.isfinite(value) and value > 0:
        return None
    return f"must be a number > 0, got {describe(value)}"


def _one_of(*options: str, aliases: Mapping[str, str] | None = None) -> Check:
    listed = ", ".join(repr(option) for option in options)

    def check(value: Any) -> str | None:
        if isinstance(value, str) and value in options:
            return None
        complaint = f"must be one of {listed}, got {describe(value)}"
        if not isinstance(value, str):
            return complaint
        guess = (aliases or {}).get(value.lower(), value.lower())
        return complaint + did_you_mean(guess, options)

    return check


def _paths(value: Any) -> str | None:
    files = [value] if isinstance(value, str) else value
    if isinstance(files, list) and files and all(non_empty_string(f) is None for f in files):
        return None
    return f"must be a file path or a list of them, got {describe(value)}"


def _upscales(value: Any) -> str | None:
    if (
        isinstance(value, list)
        and value
        and all(is_int(item) and 1 <= item <= 4 for item in value)
        and len(set(value)) == len(value)
    ):
        return None
    shown = repr(value) if isinstance(value, list) else describe(value)
    return f"must be a list of different grid positions from 1 to 4, got {shown}"


# ---------------------------------------------------------------------------------------
# API-specific fields: THE ONE TABLE of request fields that only some image APIs take.
# Everything else in the manifest package that depends on them (allowed keys, CSV
# columns and list cells, what enters a job's key) is derived from this table. Which
# route accepts which of them is decided by batch_gen.routing.route_problems.


@dataclass(frozen=True, slots=True)
class ApiField:
    """How one API-specific request field is checked and carried.

    ``csv_list`` is the kind of the items when a CSV cell holds a ';'-separated list of
    them (None: the cell is one value). ``keyed`` is False for a field that enters the
    job's key another way (the route, or the input file's content), not as written.
    """

    check: Check
    csv_list: Literal["text", "int"] | None = None
    keyed: bool = True


API_FIELDS: Final[Mapping[str, ApiField]] = {
    "api": ApiField(_one_of(*routing.API_NAMES), keyed=False),  # the route replaces it
    "image": ApiField(_paths, csv_list="text", keyed=False),  # keyed by content
    "mask": ApiField(non_empty_string, keyed=False),  # keyed by content
    "upscale": ApiField(_upscales, csv_list="int"),  # Midjourney
    "action": ApiField(_one_of(*routing.BRIA_ACTIONS)),  # Bria edits
}

# ---------------------------------------------------------------------------------------
# Derived tables and the fields every API shares.

REQUEST_CHECKS: Final[Mapping[str, Check]] = {
    **{name: spec.check for name, spec in API_FIELDS.items()},
    "model": non_empty_string,
    "size": non_empty_string,
    "quality": non_empty_string,
    "output_format": _one_of("png", "jpeg", "webp", aliases={"jpg": "jpeg"}),
    "output_compression": int_between(0, 100),
    "background": non_empty_string,
    "moderation": non_empty_string,
    "style": non_empty_string,
    "response_format": non_empty_string,
    "user": non_empty_string,
    "n": int_between(1, MAX_N),
}
#: Request fields that do not enter a job's key as written.
UNKEYED_FIELDS: Final = frozenset(name for name, spec in API_FIELDS.items() if not spec.keyed)
#: CSV cells parsed as integers.
CSV_INT_FIELDS: Final = frozenset({"n", "output_compression"})
#: CSV cells holding ';'-separated lists, by the kind of their items.
CSV_LIST_FIELDS: Final[Mapping[str, Literal["text", "int"]]] = {
    name: spec.csv_list for name, spec in API_FIELDS.items() if spec.csv_list is not None
}

RUN_CHECKS: Final[Mapping[str, Check]] = {
    "concurrency": int_between(1),
    "rpm": int_between(0),
    "max_attempts": int_between(1),
    "timeout": _positive_number,
}

# The keys allowed in each place, for unknown-key messages and their suggestions.
TOP_KEYS = ("version", "defaults", "output", "run", "jobs")
DEFAULTS_KEYS = (*REQUEST_CHECKS, "params")
JOB_KEYS = ("id", "prompt", *REQUEST_CHECKS, "params")
OUTPUT_KEYS = ("dir", "filename")
CSV_COLUMNS = ("id", "prompt", *REQUEST_CHECKS)
CSV_PARAMS_PREFIX = "params."

# ---------------------------------------------------------------------------------------
# Checking the request fields of one place.


def check_request(
    settings: Sequence[Setting], params: Iterable[Setting], *, prefix: str, report: Report
) -> Request:
    """Check the request fields and params of one place (the defaults or a job).

    Fields are checked by :data:`REQUEST_CHECKS`; settings not in it (id, prompt) are
    ignored here. Params pass through untouched, except that a param naming a known field
    (``params: {background: transparent}``) gets that field's check, may not repeat a
    field set directly in the same place, and may not be the prompt.
    """
    request = Request()
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
    target: dict[str, Any], setting: Setting, check: Check, field: str, report: Report
) -> None:
    complaint = check(setting.value)
    if complaint is None:
        target[setting.name] = setting.value
    else:
        report.add(setting.line, field, complaint)
