"""The rpm window, with explicit times."""

from __future__ import annotations

import pytest

from batch_gen.simulator.config import SimulatorConfig
from batch_gen.simulator.ratelimit import RpmWindow


def test_no_limit_admits_everything() -> None:
    window = RpmWindow(SimulatorConfig())
    assert all(window.admit(0.0) is None for _ in range(1000))


def test_the_window_slides_and_refusals_take_no_slot() -> None:
    window = RpmWindow(SimulatorConfig(rpm_limit=120, rpm_window=1.0))  # 2 per second
    assert window.admit(10.0) is None
    assert window.admit(10.4) is None
    assert window.admit(10.5) == pytest.approx(0.5)
    assert window.admit(10.9) == pytest.approx(0.1)
    assert window.admit(11.0) is None  # the first slot left the window
    assert window.admit(11.2) == pytest.approx(0.2)
    window.clear()
    assert window.admit(11.2) is None
