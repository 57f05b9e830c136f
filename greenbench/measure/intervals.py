"""Energy and CO₂ intervals by the method that produced each figure.

Every energy figure greenbench records comes from one method per component (its provenance,
:mod:`greenbench.measure.provenance`); each method has a systematic error band, taken from a
published characterisation where one exists and stated as greenbench's own assumption where none
does. A window's interval is the sum, component by component, of those bands (worst case: the
components' errors are not assumed to cancel), and its CO₂ interval is the energy interval times
the grid intensity (the intensity's own uncertainty — annual averages, marginal vs average — is
not included: codecarbon's accuracy page calls it "often the largest term"; greenbench states the
intensity's source beside every CO₂ figure instead).

An estimate ``E`` with relative error ``e`` against the reference (``E = true × (1 + e)``,
``e ∈ [lo, hi]``) bounds the true value in ``[E / (1 + hi), E / (1 + lo)]``.

The bands (``BANDS``; docs/energy.md has the same table):

========================  =====================  ==============================================================
method                    band                   source
========================  =====================  ==============================================================
measured:rapl             ±5 %                   RAPL package counters against external power meters:
                                                 Hackenberg et al., "An Energy Efficiency Feature Survey of the
                                                 Intel Haswell Processor", IPDPSW 2015; Khan et al., "RAPL in
                                                 Action", ACM TOMPECS 3(2), 2018 (a few % on Haswell and later).
                                                 Counter resolution (Intel SDM Vol. 3B §15.10: energy unit
                                                 ≥ 15.3 µJ, updated about every 1 ms) adds 1 ms of power at each
                                                 window edge.
measured:nvml             ±5 %                   NVIDIA NVML API reference, ``nvmlDeviceGetPowerUsage``: "accurate
                                                 to within +/- 5% of current power draw". Sampled power (no energy
                                                 counter) adds one sampling interval of power per window.
measured:amdsmi, other    ±10 %                  no published characterisation (codecarbon's accuracy page: "not
measured                                         yet measured against an external reference"): greenbench assumes
                                                 twice NVML's band.
estimated:tdp,            −60 % … +190 %         codecarbon's accuracy page ("Accuracy and validation",
estimated:declared-tdp    (true ∈ [E/2.9, E/0.4])  codecarbon 3.x docs): its CPU load × TDP model in machine mode
                                                 deviated from RAPL "by roughly −60% to +190% depending on CPU and
                                                 load point" on four CPUs. A declared TDP removes the table's TDP
                                                 error but not the curve's; no narrower figure is published, so
                                                 the band stays. Plus one sampling interval of power per window.
estimated:constant,       ÷5 … ×5                codecarbon: "not characterised; this is the least accurate path"
process-mode TDP                                 (default watts per thread), and process mode "is
                                                 uncharacterised": greenbench assumes a factor of 5 either way.
estimated:calibrated      ±(fit error + 5 %)     the calibration's own fit error (``greenbench calibrate``) plus the
                                                 RAPL band of the counters it was fitted to.
estimated:ram-model       ÷3 … ×2                codecarbon: RAM "not validated against an independent reference";
                                                 its model (≈5 W per DIMM) against DIMMs drawing ≈1.5–10 W by size
                                                 and activity: greenbench's assumption.
========================  =====================  ==============================================================

Seed-to-seed noise (repeated runs) is a separate interval, computed over seeds by the report and
``compare``; the two are never added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from greenbench.measure.units import JOULES_PER_KWH

COMPONENTS = ("cpu", "gpu", "ram")
RAPL_EDGE_S = 1e-3  # RAPL counters update about every millisecond (Intel SDM Vol. 3B)

_CODECARBON_ACCURACY = "codecarbon docs, 'Accuracy and validation' (explanation/accuracy.md)"


@dataclass(frozen=True)
class Band:
    """A method's systematic error: the true value lies in ``[value × low, value × high]``."""

    low: float
    high: float
    basis: str
    edge: str = "none"  # extra error at the window's edges: "none", "rapl" (1 ms of power), "sample" (one interval)


def _from_deviation(lo: float, hi: float) -> tuple[float, float]:
    """Factors bounding the true value for an estimate that deviates by ``lo … hi`` (fractions) from it."""
    return 1.0 / (1.0 + hi), 1.0 / (1.0 + lo)


_TDP = _from_deviation(-0.60, 1.90)
BANDS: dict[str, Band] = {
    "measured:rapl": Band(0.95, 1.05, "RAPL counters ±5 % (Hackenberg et al. 2015; Khan et al. 2018) "
                          "+ 1 ms of power per edge (counter update, Intel SDM Vol. 3B)", edge="rapl"),
    "measured:nvml": Band(0.95, 1.05, "NVML power ±5 % (NVIDIA NVML API reference, nvmlDeviceGetPowerUsage)"),
    "measured:other": Band(0.90, 1.10, "no published characterisation: greenbench assumes ±10 % "
                           f"({_CODECARBON_ACCURACY}: 'not yet measured against an external reference')"),
    "estimated:tdp": Band(*_TDP, f"CPU load × TDP model, machine mode: −60 % … +190 % against RAPL ({_CODECARBON_ACCURACY})",
                          edge="sample"),
    "estimated:declared-tdp": Band(*_TDP, "CPU load × declared TDP, machine mode: the model's curve error stays, "
                                   f"−60 % … +190 % against RAPL ({_CODECARBON_ACCURACY})", edge="sample"),
    "estimated:constant": Band(0.2, 5.0, "uncharacterised fallback (codecarbon: 'the least accurate path'): "
                               "greenbench assumes a factor of 5 either way", edge="sample"),
    "estimated:process-model": Band(0.2, 5.0, "CPU load × TDP in process mode, uncharacterised "
                                    f"({_CODECARBON_ACCURACY}): greenbench assumes a factor of 5 either way", edge="sample"),
    "estimated:ram-model": Band(1 / 3, 2.0, "codecarbon's RAM model (≈5 W per DIMM), not validated "
                                f"({_CODECARBON_ACCURACY}): greenbench assumes ÷3 … ×2", edge="none"),
}


# What a ratio of two same-method figures may claim, said once for the report and compare.
RATIO_CAVEAT = ("the method's systematic error cancels in a ratio only as far as both sides split their energy "
                "alike between components (CPU, GPU, RAM) and load them alike: each component's method errs by "
                "its own factor, and a load model's error can differ with the load, so between sides that load "
                "the CPU differently (two frameworks, say) a ratio keeps part of the components' bands")


def band_for(provenance: str | None, detail: Mapping[str, Any] | None = None) -> Band | None:
    """The band of one component's provenance label (``None`` for ``none``/``disabled``/``unavailable``)."""
    if not provenance or not isinstance(provenance, str):
        return None
    kind, _, method = provenance.partition(":")
    detail = detail or {}
    if kind == "measured":
        if provenance in BANDS:
            band = BANDS[provenance]
            if provenance == "measured:nvml" and detail.get("method") == "sampled power":
                return Band(band.low, band.high, band.basis + " + one sampling interval of power per window", "sample")
            return band
        return BANDS["measured:other"]
    if kind != "estimated":
        return None
    if provenance == "estimated:calibrated":
        rel = float(detail.get("fit_rel_error") or 0.0) + 0.05
        return Band(max(0.0, 1.0 - rel), 1.0 + rel,
                    f"calibrated curve: fit error ±{float(detail.get('fit_rel_error') or 0.0):.1%} "
                    "+ RAPL ±5 % of the counters it was fitted to", edge="sample")
    if provenance in ("estimated:tdp", "estimated:declared-tdp") and detail.get("tracking_mode") == "process":
        return BANDS["estimated:process-model"]
    return BANDS.get(provenance, BANDS["estimated:constant"])


def component_interval(kwh: float | None, band: Band | None, *, duration_s: float | None,
                       measure_power_secs: float | None, window_kwh: float | None = None) -> tuple[float, float] | None:
    """``(low, high)`` kWh for one component's figure under its band (``None`` when there is no figure).

    ``window_kwh``: the energy the window's meter read, whose power sets the edge term, when ``kwh`` is a
    figure derived from it (net energy above idle: the edges belong to the gross reading); default ``kwh``.
    A derived figure may be negative (a component's reading below its idle power): its interval is then
    bounded the same way and not clipped at zero, so that sums over components stay right.
    """
    if kwh is None or band is None or not math.isfinite(kwh):
        return None
    low, high = sorted((kwh * band.low, kwh * band.high))
    edge_s = {"rapl": 2 * RAPL_EDGE_S, "sample": measure_power_secs or 0.0}.get(band.edge, 0.0)
    if edge_s and duration_s and duration_s > 0:
        edge_kwh = abs(kwh if window_kwh is None else window_kwh) / duration_s * min(edge_s, duration_s)
        low, high = low - edge_kwh, high + edge_kwh
    if kwh >= 0:
        low = max(0.0, low)
    return low, high


def interval(entry: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The interval of one window's energy entry (as the meter writes it, old records included).

    ``{"cpu_kwh": [lo, hi] | None, "gpu_kwh": …, "ram_kwh": …, "total_kwh": [lo, hi],
    "co2_kg": [lo, hi] | None, "basis": {component: text | None}}``, or ``None`` for a window without energy.
    """
    if not entry or entry.get("total_kwh") is None:
        return None
    provenance = entry.get("provenance") or {}
    details = entry.get("provenance_detail") or {}
    duration = entry.get("duration_s")
    step = entry.get("measure_power_secs")
    out: dict[str, Any] = {"basis": {c: None for c in COMPONENTS}}
    low = high = 0.0
    for c in COMPONENTS:
        kwh = entry.get(f"{c}_kwh")
        detail = details.get(c) if isinstance(details, Mapping) else None
        detail = detail if isinstance(detail, Mapping) else {}  # older records may hold a text here
        band = band_for(provenance.get(c), {**detail, "tracking_mode": entry.get("tracking_mode")})
        bounds = component_interval(kwh, band, duration_s=duration, measure_power_secs=step)
        if bounds is None:
            out[f"{c}_kwh"] = None
            if kwh:  # a figure without a known method: no bound can be claimed, say so
                return None
            continue
        out[f"{c}_kwh"] = [bounds[0], bounds[1]]
        out["basis"][c] = band.basis if band else None
        low += bounds[0]
        high += bounds[1]
    out["total_kwh"] = [low, high]
    intensity = entry.get("carbon_intensity_g_per_kwh")
    out["co2_kg"] = [low * intensity / 1000.0, high * intensity / 1000.0] if intensity is not None else None
    return out


def relative(entry: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """``(low / value, high / value)`` of a window's total energy: to bound figures derived from it
    (energy per 1k images, energy to target) by the same method."""
    iv = (entry or {}).get("interval") or interval(entry)
    total = (entry or {}).get("total_kwh")
    if not iv or not total:
        return None
    return iv["total_kwh"][0] / total, iv["total_kwh"][1] / total


def watts_interval(kwh_bounds: tuple[float, float], duration_s: float) -> tuple[float, float]:
    """Average power bounds (W) of an energy interval over ``duration_s``."""
    return tuple(k * JOULES_PER_KWH / duration_s for k in kwh_bounds)  # type: ignore[return-value]


__all__ = ["BANDS", "Band", "RATIO_CAVEAT", "band_for", "component_interval", "interval", "relative", "watts_interval"]
