"""Machines without CPU counters: a declared CPU power or a calibrated curve replaces codecarbon's CPU table,
counters always win, and the provenance says which was used (``estimated:declared-tdp`` /
``estimated:calibrated``) — with the interval of that method."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from greenbench.measure.energy import EnergyMeter


def _window(meter: EnergyMeter, seconds: float = 0.6) -> dict[str, Any]:
    with meter.window("w") as e:
        time.sleep(seconds)
    return e


def test_a_declared_cpu_power_replaces_the_table_without_counters(
    fake_rapl: Callable[[str], Any], fast: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_rapl("directory")  # counters present but unreadable: the CPU is estimated
    monkeypatch.setenv("GREENBENCH_CPU_TDP_W", "50")
    with EnergyMeter("USA", **fast) as meter:
        e = _window(meter)
    assert e["provenance"]["cpu"] == "estimated:declared-tdp"
    detail = e["provenance_detail"]["cpu"]
    assert detail["tdp_w"] == 50.0 and detail["tdp_source"] == "declared: GREENBENCH_CPU_TDP_W = 50 W"
    # codecarbon's machine-mode model with the declared power: 50 W × (0.1 + 0.9 × load³) ∈ [5 W, 50 W]
    assert 5.0 * 0.9 <= e["cpu_power_w"] <= 50.0 * 1.1
    assert "declared TDP" in e["interval"]["basis"]["cpu"]
    low, high = e["interval"]["cpu_kwh"]
    assert low < e["cpu_kwh"] < high


def test_the_suite_setting_wins_over_the_environment(
    fake_rapl: Callable[[str], Any], fast: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_rapl("directory")
    monkeypatch.setenv("GREENBENCH_CPU_TDP_W", "50")
    with EnergyMeter("USA", cpu_tdp_w=20.0, **fast) as meter:
        e = _window(meter)
    assert e["provenance"]["cpu"] == "estimated:declared-tdp"
    assert e["provenance_detail"]["cpu"]["tdp_source"] == "declared: energy.cpu_tdp_w = 20 W"
    assert 2.0 * 0.9 <= e["cpu_power_w"] <= 20.0 * 1.1


def test_readable_counters_win_over_a_declared_power(
    fake_rapl: Callable[[str], Any], fast: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_rapl("readable")
    monkeypatch.setenv("GREENBENCH_CPU_TDP_W", "50")
    with EnergyMeter("USA", **fast) as meter:
        assert meter.provenance["cpu"] == "measured:rapl"
        assert "tdp_source" not in meter.provenance_detail["cpu"]


@dataclass
class FakeCurve:
    """A calibration curve as greenbench.measure.calibration stores it: constant 42 W, 3 % fit error."""

    cpu_model: str = "Fake CPU"
    points: list[tuple[float, float]] = field(default_factory=lambda: [(0.0, 42.0), (100.0, 42.0)])
    rel_error: float = 0.03
    path: str = "/nonexistent/calibration/fake-cpu.json"
    loads: list[float] = field(default_factory=list)

    def power_w(self, load_pct: float) -> float:
        self.loads.append(load_pct)
        return 42.0


def test_a_calibrated_curve_is_used_without_counters_and_wins_over_a_declared_power(
    fake_rapl: Callable[[str], Any], fast: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from greenbench.measure import curves

    fake_rapl("directory")
    curve = FakeCurve()
    monkeypatch.setattr(curves, "find_curve", lambda model: curve)
    monkeypatch.setenv("GREENBENCH_CPU_TDP_W", "50")
    with EnergyMeter("USA", **fast) as meter:
        e = _window(meter)
    assert e["provenance"]["cpu"] == "estimated:calibrated"
    detail = e["provenance_detail"]["cpu"]
    assert detail["fit_rel_error"] == 0.03 and detail["curve"] == curve.path
    assert curve.loads and all(0.0 <= load <= 100.0 for load in curve.loads)
    assert e["cpu_power_w"] == pytest.approx(42.0, rel=1e-6)
    low, high = e["interval"]["cpu_kwh"]
    edge = e["cpu_kwh"] / e["duration_s"] * fast["measure_power_secs"]
    assert (low, high) == pytest.approx((e["cpu_kwh"] * 0.92 - edge, e["cpu_kwh"] * 1.08 + edge))


def test_counters_win_over_a_calibrated_curve(
    fake_rapl: Callable[[str], Any], fast: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from greenbench.measure import curves

    fake_rapl("readable")
    monkeypatch.setattr(curves, "find_curve", lambda model: FakeCurve())
    with EnergyMeter("USA", **fast) as meter:
        assert meter.provenance["cpu"] == "measured:rapl"
