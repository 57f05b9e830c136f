"""The inference window runs long enough to be metered: ``energy.min_phase_s`` and ``energy.min_samples`` power
samples (MLPerf Power's reference: 60 samples at >= 1 Hz), never under 1 s."""

from __future__ import annotations

import pytest

from greenbench.runner.execute import inference_window_s
from greenbench.suite.schema import EnergyConfig


@pytest.mark.parametrize(
    "settings, seconds",
    [
        ({}, 2.0),  # defaults: min_phase_s 2 s; 3 samples at 0.5 s need (3 + 1) × 0.5 = 2 s
        ({"min_samples": 60, "measure_power_secs": 1.0}, 61.0),  # MLPerf's 60 samples at 1 Hz
        ({"min_samples": 60, "measure_power_secs": 0.5}, 30.5),
        ({"min_phase_s": 45.0, "min_samples": 10}, 45.0),
        ({"min_phase_s": 0.0, "min_samples": 1, "measure_power_secs": 0.1}, 1.0),  # never under a second
        ({"enabled": False, "min_samples": 60}, 2.0),  # nothing metered: samples do not matter
    ],
)
def test_the_inference_window_is_long_enough_to_meter(settings: dict, seconds: float) -> None:
    assert inference_window_s(EnergyConfig(**settings)) == pytest.approx(seconds)
