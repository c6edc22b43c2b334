"""SimulatorConfig validation and the simulator subcommand's options."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from batch_gen.simulator import SimulatorConfig
from batch_gen.simulator.cli_args import add_simulator_arguments, config_from_namespace
from batch_gen.simulator.config import Fault, ImageMode, RetryAfterMode


def test_config_rejects_bad_values() -> None:
    """SimulatorConfig refuses probabilities out of range or summing above 1, unknown script
    faults and a zero window; plain strings are accepted for enum fields."""
    with pytest.raises(ValueError, match="sum"):
        SimulatorConfig(p500=0.6, p503=0.6)
    with pytest.raises(ValueError, match="probability"):
        SimulatorConfig(p429=1.5)
    with pytest.raises(ValueError, match="script"):
        SimulatorConfig(scripts={"x": ["418"]})
    with pytest.raises(ValueError, match="rpm_window"):
        SimulatorConfig(rpm_window=0)
    config = SimulatorConfig(retry_after="ms", image_mode="photo", scripts={"x": ["drop"]})  # type: ignore[arg-type]
    assert config.retry_after is RetryAfterMode.MS
    assert config.image_mode is ImageMode.PHOTO
    assert config.scripts["x"] == (Fault.DROP,)
    assert SimulatorConfig(rpm_limit=30, rpm_window=5).rpm_window_capacity == 2
    assert SimulatorConfig(rpm_limit=1, rpm_window=5).rpm_window_capacity == 1


def test_cli_arguments_build_a_config() -> None:
    """The simulator's command-line options map onto SimulatorConfig fields."""
    parser = argparse.ArgumentParser()
    add_simulator_arguments(parser)
    defaults = config_from_namespace(parser.parse_args([]))
    assert (defaults.host, defaults.port, defaults.api_key) == ("127.0.0.1", 8787, None)
    assert defaults.rpm_window == 5.0
    assert defaults.trigger_word == "forbidden-fruit"
    ns = parser.parse_args(
        [
            "--port", "0", "--key", "k", "--latency", "0.5", "--latency-jitter", "0.1",
            "--p429", "0.1", "--retry-after", "date", "--p500", "0.1", "--p503", "0.1",
            "--p524", "0.05", "--pdrop", "0.05", "--ptruncate", "0.05", "--pbad-b64", "0.05",
            "--rpm-limit", "60", "--rpm-window", "10", "--trigger-word", "nope",
            "--image-mode", "photo", "--seed", "42",
        ]
    )  # fmt: skip
    config = config_from_namespace(ns)
    assert config.api_key == "k"
    assert config.port == 0
    assert config.seed == 42
    assert (config.latency, config.latency_jitter) == (0.5, 0.1)
    assert config.retry_after is RetryAfterMode.DATE
    assert (config.p429, config.p524, config.pbad_b64) == (0.1, 0.05, 0.05)
    assert (config.rpm_limit, config.rpm_window_capacity) == (60, 10)
    assert config.image_mode is ImageMode.PHOTO
    assert config.trigger_word == "nope"
    with pytest.raises(SystemExit):
        parser.parse_args(["--p500", "2"])


def test_task_cli_options_build_a_config() -> None:
    """The task options of the simulator subcommand map onto SimulatorConfig, and their
    defaults are the config's."""
    parser = argparse.ArgumentParser()
    add_simulator_arguments(parser)
    defaults = config_from_namespace(parser.parse_args([]))
    assert defaults == dataclasses.replace(SimulatorConfig(), port=8787)  # the CLI's port
    ns = parser.parse_args(
        [
            "--mj-task-seconds", "2", "--flux-task-seconds", "3", "--bria-task-seconds", "4",
            "--flux-sample-ttl", "5", "--task-ttl", "30", "--mj-p22", "0.5",
            "--max-image-side", "256", "--flux-not-found-polls", "2",
        ]
    )  # fmt: skip
    knobs = config_from_namespace(ns)
    assert knobs.flux_not_found_polls == 2
    assert (knobs.mj_task_seconds, knobs.flux_task_seconds, knobs.bria_task_seconds) == (2, 3, 4)
    assert (knobs.flux_sample_ttl, knobs.task_ttl) == (5, 30)
    assert (knobs.mj_p22, knobs.max_image_side) == (0.5, 256)
    with pytest.raises(SystemExit):
        parser.parse_args(["--task-ttl", "0"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--flux-not-found-polls", "-1"])


def test_config_rejects_bad_task_knobs() -> None:
    """SimulatorConfig refuses non-positive task times, MJ code probabilities summing above
    1, unknown MJ script codes and an out-of-range image side."""
    with pytest.raises(ValueError, match="mj_task_seconds"):
        SimulatorConfig(mj_task_seconds=0)
    with pytest.raises(ValueError, match="flux_not_found_polls"):
        SimulatorConfig(flux_not_found_polls=-1)
    with pytest.raises(ValueError, match="mj_p21"):
        SimulatorConfig(mj_p21=0.6, mj_p23=0.6)
    with pytest.raises(ValueError, match="mj_scripts"):
        SimulatorConfig(mj_scripts={"x": [7]})
    with pytest.raises(ValueError, match="max_image_side"):
        SimulatorConfig(max_image_side=8)
    assert SimulatorConfig(mj_scripts={"x": [22, 1]}).mj_scripts["x"] == (22, 1)
