"""Command-line options of the ``simulator`` subcommand, and their translation to a config.

Adding these options to a parser does not load Pillow; it is imported only when the first
image is rendered.
"""

from __future__ import annotations

import argparse
import math

from batch_gen.simulator.config import ImageMode, RetryAfterMode, SimulatorConfig


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, got {text}")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0 seconds")
    return value


def _side(text: str) -> int:
    value = _count(text)
    if not 16 <= value <= 4096:
        raise argparse.ArgumentTypeError(f"must be between 16 and 4096, got {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options (``--host``, ``--port``, faults, limits...) to *parser*.

    The destinations are the option names with dashes as underscores; read them back with
    :func:`config_from_namespace`.
    """
    _add_listening(parser)
    _add_timing(parser)
    _add_faults(parser)
    _add_content(parser)
    _add_tasks(parser)


def _add_listening(parser: argparse.ArgumentParser) -> None:
    """Where to listen and which key to expect."""
    net = parser.add_argument_group("listening")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    net.add_argument(
        "--port",
        type=int,
        default=8787,
        help="port to bind, 0 for a free one (default %(default)s)",
    )
    net.add_argument(
        "--key",
        default=None,
        metavar="KEY",
        help="the API key clients must send (default: accept any non-empty key)",
    )


def _add_timing(parser: argparse.ArgumentParser) -> None:
    """Latency and the rpm window."""
    timing = parser.add_argument_group("latency and limits")
    timing.add_argument(
        "--latency", type=_seconds, default=0.0, metavar="SECONDS", help="delay before answering"
    )
    timing.add_argument(
        "--latency-jitter",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="extra uniform random delay in [0, SECONDS]",
    )
    timing.add_argument(
        "--rpm-limit",
        type=_count,
        default=0,
        metavar="N",
        help="requests per minute allowed, enforced over --rpm-window; 0 = no limit",
    )
    timing.add_argument(
        "--rpm-window",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="sliding window of the rpm limit (default %(default)s): admits N*SECONDS/60",
    )


def _add_faults(parser: argparse.ArgumentParser) -> None:
    """Random fault probabilities and their seed."""
    faults = parser.add_argument_group("fault injection (probabilities per request, 0..1)")
    for option, what in (
        ("--p429", "429 rate_limit_exceeded"),
        ("--p500", "500 with code ''"),
        ("--p500-invalid", "500 with code invalid_request (not retryable)"),
        ("--p503", "503"),
        ("--p504", "504 (billed)"),
        ("--p524", "Cloudflare 524 HTML (billed)"),
        ("--pdrop", "close the connection without an answer (billed)"),
        ("--ptruncate", "200 cut off half way (billed)"),
        ("--pbad-b64", "200 with undecodable image data (billed)"),
    ):
        faults.add_argument(option, type=_probability, default=0.0, metavar="P", help=what)
    faults.add_argument(
        "--retry-after",
        choices=[mode.value for mode in RetryAfterMode],
        default=RetryAfterMode.SECONDS.value,
        help="retry hint on 429s (default %(default)s)",
    )
    faults.add_argument(
        "--retry-after-seconds",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="the wait stated by injected 429s (default %(default)s)",
    )
    faults.add_argument(
        "--seed", type=int, default=None, metavar="N", help="seed of the fault/jitter RNG"
    )


def _add_content(parser: argparse.ArgumentParser) -> None:
    """What images look like and which words trigger refusals."""
    content = parser.add_argument_group("content")
    content.add_argument(
        "--trigger-word",
        default="forbidden-fruit",
        metavar="WORD",
        help="prompts containing WORD are refused as moderation_blocked (default %(default)s)",
    )
    content.add_argument(
        "--image-mode",
        choices=[mode.value for mode in ImageMode],
        default=ImageMode.SIMPLE.value,
        help="simple: small gradient images; photo: photo-sized, incompressible files",
    )
    content.add_argument(
        "--no-image-labels",
        dest="image_labels",
        action="store_false",
        help="do not write the prompt on images: a few cached pictures serve every prompt "
        "(for benchmarks, where the server's CPU must stay small)",
    )
    content.add_argument(
        "--max-image-side",
        type=_side,
        default=1024,
        metavar="PX",
        help="long side of images sized by ratio or tier (Gemini 1K/2K/4K, Bria, Flux "
        "ultra/kontext), capped (default %(default)s)",
    )


def _add_tasks(parser: argparse.ArgumentParser) -> None:
    """Timing and outcomes of the task APIs."""
    tasks = parser.add_argument_group("task APIs (Midjourney, Flux, Bria)")
    for option, default, what in (
        ("--mj-task-seconds", 0.6, "time an MJ task takes in fast mode (turbo /2, relax x2)"),
        ("--flux-task-seconds", 0.6, "time a Flux task stays Pending"),
        ("--bria-task-seconds", 0.6, "time a Bria edit stays IN_PROGRESS"),
        ("--flux-sample-ttl", 600.0, "seconds a Flux sample URL works after Ready"),
        ("--task-ttl", 900.0, "seconds after submit until Flux/Bria tasks are forgotten"),
    ):
        tasks.add_argument(
            option,
            type=_positive_seconds,
            default=default,
            metavar="SECONDS",
            help=f"{what} (default %(default)s)",
        )
    for option, what in (
        ("--mj-p21", "MJ imagine answers code 21 (already exists)"),
        ("--mj-p22", "MJ imagine answers code 22 (queued)"),
        ("--mj-p23", "MJ imagine answers code 23 (queue full)"),
    ):
        tasks.add_argument(option, type=_probability, default=0.0, metavar="P", help=what)
    tasks.add_argument(
        "--flux-not-found-polls",
        type=_count,
        default=0,
        metavar="K",
        help="each Flux task answers 'Task not found' to its first K polls, as a gateway "
        "catching up with a submit does (default %(default)s)",
    )


def config_from_namespace(ns: argparse.Namespace) -> SimulatorConfig:
    """Build a :class:`SimulatorConfig` from options added by :func:`add_simulator_arguments`.

    Raises ValueError when the combination is invalid (e.g. probabilities summing above 1);
    the caller reports it as a command-line error.
    """
    return SimulatorConfig(
        host=ns.host,
        port=ns.port,
        api_key=ns.key or None,
        latency=ns.latency,
        latency_jitter=ns.latency_jitter,
        rpm_limit=ns.rpm_limit,
        rpm_window=ns.rpm_window,
        p429=ns.p429,
        p500=ns.p500,
        p500_invalid_request=ns.p500_invalid,
        p503=ns.p503,
        p504=ns.p504,
        p524=ns.p524,
        pdrop=ns.pdrop,
        ptruncate=ns.ptruncate,
        pbad_b64=ns.pbad_b64,
        retry_after=RetryAfterMode(ns.retry_after),
        retry_after_seconds=ns.retry_after_seconds,
        seed=ns.seed,
        trigger_word=ns.trigger_word or None,
        image_mode=ImageMode(ns.image_mode),
        image_labels=ns.image_labels,
        max_image_side=ns.max_image_side,
        mj_task_seconds=ns.mj_task_seconds,
        flux_task_seconds=ns.flux_task_seconds,
        bria_task_seconds=ns.bria_task_seconds,
        flux_sample_ttl=ns.flux_sample_ttl,
        task_ttl=ns.task_ttl,
        mj_p21=ns.mj_p21,
        mj_p22=ns.mj_p22,
        mj_p23=ns.mj_p23,
        flux_not_found_polls=ns.flux_not_found_polls,
    )
