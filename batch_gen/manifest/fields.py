"""Which fields each manifest section allows, and the check of each field's value.

Each check returns a complaint, or None when the value is fine. The tables below say which
check applies to which field, so adding a field is one line. The fields that only some
image APIs take are gathered in :data:`API_FIELDS`, the one place to change when an API
gains or loses one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

from batch_gen import routing
from batch_gen.checks import (
    Check,
    FieldRule,
    describe,
    int_between,
    non_empty_string,
    one_of,
    positive_number,
)

from .document import Request, Setting
from .problems import Report, did_you_mean

MAX_N = 10  # the most images one request may ask for (the OpenAI images API's limit)


def _paths(value: Any) -> str | None:
    files = [value] if isinstance(value, str) else value
    if isinstance(files, list) and files and all(non_empty_string(f) is None for f in files):
        return None
    return f"must be a file path or a list of them, got {describe(value)}"


# ---------------------------------------------------------------------------------------
# API-specific fields: THE ONE TABLE of request fields that only some image APIs take.
# Everything else in the manifest package that depends on them (allowed keys, CSV
# columns and list cells, what enters a job's key) is derived from this table. Which
# route accepts which of them is decided by batch_gen.routing.request_problems.


API_FIELDS: Final[Mapping[str, FieldRule]] = {
    "api": FieldRule(one_of(*routing.API_NAMES), keyed=False),  # the route replaces it
    "image": FieldRule(_paths, csv_list="text", keyed=False),  # keyed by content
    "mask": FieldRule(non_empty_string, keyed=False),  # keyed by content
    **routing.API_FIELD_RULES,  # each API's own fields, as its spec declares them
}

# ---------------------------------------------------------------------------------------
# Derived tables and the fields every API shares.

REQUEST_CHECKS: Final[Mapping[str, Check]] = {
    **{name: spec.check for name, spec in API_FIELDS.items()},
    "model": non_empty_string,
    "size": non_empty_string,
    "quality": non_empty_string,
    "output_format": one_of("png", "jpeg", "webp", aliases={"jpg": "jpeg"}),
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

#: Fields that take text: their values are read as written, in YAML as in CSV, so that
#: ``id: 0123`` is the id "0123" and ``prompt: yes`` the prompt "yes" (YAML 1.1 would read
#: octal 83 and true). ``output.dir`` and ``output.filename`` take text too.
TEXT_FIELDS: Final = frozenset(
    {"id", "prompt"}
    | {name for name in REQUEST_CHECKS if name not in CSV_INT_FIELDS | set(CSV_LIST_FIELDS)}
)

RUN_CHECKS: Final[Mapping[str, Check]] = {
    "concurrency": int_between(1),
    "rpm": int_between(0),
    "max_attempts": int_between(1),
    "timeout": positive_number,
}

# The keys allowed in each place, for unknown-key messages and their suggestions.
TOP_KEYS = ("version", "defaults", "output", "run", "jobs")
DEFAULTS_KEYS = (*REQUEST_CHECKS, "params")
JOB_KEYS = ("id", "prompt", *REQUEST_CHECKS, "params")
OUTPUT_KEYS = ("dir", "filename")
CSV_COLUMNS = ("id", "prompt", *REQUEST_CHECKS)
CSV_PARAMS_PREFIX = "params."

#: Keys and CSV columns of the user's own (notes beside a prompt, YAML anchors to merge)
#: start with this, in any case: they are never read, so never enter a job's key. Params
#: are the exception: they pass through untouched, whatever their names.
EXTENSION_PREFIX: Final = "x-"


def is_extension(name: str) -> bool:
    """Whether ``name`` is a key or column of the user's own (see :data:`EXTENSION_PREFIX`)."""
    return name[: len(EXTENSION_PREFIX)].lower() == EXTENSION_PREFIX


def unknown_message(
    kind: Literal["key", "column"], name: str, allowed: Sequence[str], *, elsewhere: str = ""
) -> str:
    """Why ``name`` is refused: the closest allowed name, else where such a field goes
    (``elsewhere``), and how to keep it as the user's own."""
    hint = did_you_mean(name, allowed) or elsewhere
    own = f"'{EXTENSION_PREFIX}{name}'"
    return (
        f"unknown {kind} {name!r}{hint} ({kind}s starting with '{EXTENSION_PREFIX}' are "
        f"ignored: {own} keeps a note of your own)"
    )


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
