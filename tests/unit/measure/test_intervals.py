"""Energy intervals by method: every provenance's band contains the value, has its documented width, and a
measured figure's band is narrower than any estimate's."""

from __future__ import annotations

from typing import Any

import pytest

from greenbench.measure import intervals
from greenbench.measure.intervals import BANDS, band_for, component_interval, interval, relative

# provenance -> documented (low factor, high factor), as the module docstring and docs/energy.md state them
DOCUMENTED = {
    "measured:rapl": (0.95, 1.05),
    "measured:nvml": (0.95, 1.05),
    "measured:amdsmi": (0.90, 1.10),
    "measured:powermetrics": (0.90, 1.10),
    "estimated:tdp": (1 / 2.9, 1 / 0.4),
    "estimated:declared-tdp": (1 / 2.9, 1 / 0.4),
    "estimated:constant": (0.2, 5.0),
    "estimated:ram-model": (1 / 3, 2.0),
}


def entry(cpu: str = "estimated:tdp", ram: str = "estimated:ram-model", gpu: str = "none", *,
          cpu_kwh: float = 1e-3, ram_kwh: float = 2e-4, gpu_kwh: float = 0.0, duration_s: float = 100.0,
          detail: dict[str, Any] | None = None, mode: str = "machine") -> dict[str, Any]:
    return {
        "provenance": {"cpu": cpu, "gpu": gpu, "ram": ram},
        "provenance_detail": detail or {},
        "cpu_kwh": cpu_kwh, "gpu_kwh": gpu_kwh, "ram_kwh": ram_kwh, "total_kwh": cpu_kwh + gpu_kwh + ram_kwh,
        "co2_kg": (cpu_kwh + gpu_kwh + ram_kwh) * 0.4, "carbon_intensity_g_per_kwh": 400.0,
        "duration_s": duration_s, "measure_power_secs": 0.5, "tracking_mode": mode,
    }


@pytest.mark.parametrize("provenance, factors", sorted(DOCUMENTED.items()))
def test_every_band_contains_the_value_with_its_documented_width(provenance: str, factors: tuple[float, float]) -> None:
    band = band_for(provenance)
    assert band is not None and band.basis
    assert (band.low, band.high) == pytest.approx(factors)
    kwh = 3e-3
    low, high = component_interval(kwh, band, duration_s=None, measure_power_secs=None)
    assert low <= kwh <= high
    assert (low, high) == pytest.approx((kwh * factors[0], kwh * factors[1]))


def test_measured_is_narrower_than_any_estimate() -> None:
    def width(p: str) -> float:
        b = band_for(p)
        assert b is not None
        return b.high - b.low

    measured = [p for p in DOCUMENTED if p.startswith("measured")]
    estimated = [p for p in DOCUMENTED if p.startswith("estimated")] + ["estimated:calibrated"]
    assert max(width(p) for p in measured) < min(width(p) for p in estimated if p != "estimated:calibrated")
    # a calibrated curve with a 3 % fit error is wider than RAPL (it adds RAPL's band) and narrower than the model
    calibrated = band_for("estimated:calibrated", {"fit_rel_error": 0.03})
    assert calibrated is not None
    assert (calibrated.low, calibrated.high) == pytest.approx((0.92, 1.08))
    assert width("measured:rapl") < calibrated.high - calibrated.low < width("estimated:tdp")


def test_labels_without_a_figure_have_no_band() -> None:
    for label in ("none", "disabled", "unavailable: codecarbon could not start", "", None):
        assert band_for(label) is None


def test_process_mode_estimates_get_the_uncharacterised_band() -> None:
    assert band_for("estimated:tdp", {"tracking_mode": "process"}) is BANDS["estimated:process-model"]
    assert band_for("estimated:tdp", {"tracking_mode": "machine"}) is BANDS["estimated:tdp"]


def test_sampled_estimates_widen_by_one_interval_of_power_and_rapl_by_its_update_period() -> None:
    kwh, duration = 1e-3, 10.0
    tdp = band_for("estimated:tdp")
    low, high = component_interval(kwh, tdp, duration_s=duration, measure_power_secs=0.5)
    edge = kwh / duration * 0.5
    assert (low, high) == pytest.approx((kwh * tdp.low - edge, kwh * tdp.high + edge))
    rapl = band_for("measured:rapl")
    low, high = component_interval(kwh, rapl, duration_s=duration, measure_power_secs=0.5)
    edge = kwh / duration * 2 * intervals.RAPL_EDGE_S
    assert (low, high) == pytest.approx((kwh * 0.95 - edge, kwh * 1.05 + edge))


def test_a_window_interval_sums_its_components_and_carries_co2() -> None:
    e = entry(duration_s=1e9)  # edges negligible
    iv = interval(e)
    assert iv is not None
    cpu, ram = iv["cpu_kwh"], iv["ram_kwh"]
    assert cpu == pytest.approx([1e-3 / 2.9, 1e-3 / 0.4], rel=1e-6)
    assert ram == pytest.approx([2e-4 / 3, 4e-4], rel=1e-6)
    assert iv["gpu_kwh"] is None
    assert iv["total_kwh"] == pytest.approx([cpu[0] + ram[0], cpu[1] + ram[1]])
    assert iv["co2_kg"] == pytest.approx([iv["total_kwh"][0] * 0.4, iv["total_kwh"][1] * 0.4])
    assert iv["total_kwh"][0] <= e["total_kwh"] <= iv["total_kwh"][1]
    assert iv["basis"]["gpu"] is None and "÷3 … ×2" in iv["basis"]["ram"] and "−60 % … +190 %" in iv["basis"]["cpu"]
    lo, hi = relative(e)
    assert lo == pytest.approx(iv["total_kwh"][0] / e["total_kwh"]) and hi == pytest.approx(iv["total_kwh"][1] / e["total_kwh"])


def test_no_interval_without_energy_or_with_an_unknown_method() -> None:
    assert interval(None) is None
    assert interval({"energy_source": "disabled", "total_kwh": None}) is None
    # a figure whose method is unknown cannot be bounded: no interval rather than a made-up one
    assert interval(entry(cpu="unknown-tool")) is None


def test_a_detail_written_as_text_does_not_break_the_interval() -> None:
    e = entry(duration_s=1e9)
    e["provenance_detail"] = {"cpu": "TDP model", "ram": None}
    iv = interval(e)
    assert iv is not None and iv["cpu_kwh"] == pytest.approx([1e-3 / 2.9, 1e-3 / 0.4], rel=1e-6)
    e["provenance_detail"] = "codecarbon"
    assert interval(e) is not None
