"""Provenance: how each energy figure was obtained, and where the carbon intensity comes from.

Provenance comes from what codecarbon set up (its hardware objects), never from guesses:
``measured:rapl`` / ``measured:nvml`` / ``measured:powermetrics`` / … /
``estimated:tdp`` (CPU model matched in codecarbon's CPU table) / ``estimated:constant``
(no match: codecarbon's fallback constant) / ``estimated:ram-model`` / ``none``.
:func:`overall_source` folds the per-component labels into a record's ``energy_source``, and
:func:`carbon_intensity` computes gCO₂eq/kWh with codecarbon's own emissions code and bundled data.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any

from greenbench.measure import codecarbon_glue


def overall_source(provenance: dict[str, str]) -> str:
    """``measured`` / ``estimated`` / ``mixed`` from per-component provenance (``none`` ignored)."""
    kinds = {v.partition(":")[0] for v in provenance.values() if v != "none"}
    if not kinds:
        return "unavailable"
    if len(kinds) == 1:
        return kinds.pop()
    if kinds <= {"measured", "estimated"}:
        return "mixed"
    return "+".join(sorted(kinds))


@functools.lru_cache(maxsize=8)
def _cpu_table_match(model: str | None) -> tuple[str | None, float | None]:
    """(name matched in codecarbon's CPU power table, its TDP in W) — codecarbon's own matcher."""
    if not model:
        return None, None
    from codecarbon.core.cpu import TDP
    from codecarbon.input import DataSource

    table = DataSource().get_cpu_power_data()
    finder = TDP.__new__(TDP)  # TDP() would re-detect the CPU; only its matcher is needed
    name = finder._get_matching_cpu(model, table)
    if not name:
        return None, None
    return str(name), float(TDP._get_cpu_constant_power(name, table))


def _cpu_provenance(hw: Any, rapl: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    mode = getattr(hw, "_mode", None)
    measured = {
        "intel_rapl": "measured:rapl",
        "windows_emi": "measured:windows-emi",
        "intel_power_gadget": "measured:intel-power-gadget",
    }
    if mode in measured:
        detail: dict[str, Any] = {"method": mode, "scope": "machine (CPU package counters)"}
        if mode == "intel_rapl":
            files = getattr(getattr(hw, "_intel_interface", None), "_rapl_files", [])
            detail["counters"] = [str(getattr(f, "path", f)) for f in files]
        return measured[mode], detail
    model = getattr(hw, "_model", None)
    tdp_w = getattr(hw, "_tdp", None)
    detail = {
        "method": mode,
        "cpu_model": model,
        "tdp_w": tdp_w,
        "tracking_mode": getattr(hw, "_tracking_mode", None),
        "formula": (
            "TDP × (0.1 + 0.9 × load³), load = machine CPU load" if mode == "cpu_load"
            and getattr(hw, "_tracking_mode", None) == "machine"
            else "TDP × process CPU share" if mode == "cpu_load"
            else "TDP × 0.5 (constant)" if mode == "constant" else None
        ),
    }
    if rapl.get("unreadable"):
        path, err = next(iter(rapl["unreadable"].items()))
        detail["rapl"] = f"present but unreadable ({path}: {err}); estimated instead"
    elif not rapl.get("present"):
        detail["rapl"] = "absent"
    if getattr(hw, "_is_generic_tdp", False):
        detail["tdp_source"] = "codecarbon's generic constant (CPU model unknown)"
        return "estimated:constant", detail
    try:
        matched, table_tdp = _cpu_table_match(model)
    except Exception as exc:  # noqa: BLE001 - provenance must not break metering
        detail["tdp_source"] = f"unknown (codecarbon's CPU table could not be read: {exc})"
        return "estimated:constant", detail
    if matched is not None:
        detail["tdp_source"] = "codecarbon CPU table"
        detail["matched_model"] = matched
        detail["table_tdp_w"] = table_tdp
        return "estimated:tdp", detail
    detail["tdp_source"] = "codecarbon's fallback constant: CPU model not in its table (4 W per thread)"
    return "estimated:constant", detail


def _gpu_provenance(hw: Any) -> tuple[str, dict[str, Any]]:
    devices = list(getattr(getattr(hw, "devices", None), "devices", []) or [])
    kinds = {type(d).__name__ for d in devices}
    names = []
    counters = []
    for d in devices:
        with contextlib.suppress(Exception):
            names.append(d._get_gpu_name())
        counters.append(bool(getattr(d, "_has_counter", False)))
    ids = getattr(hw, "gpu_ids", None)
    detail = {
        "devices": names,
        "tracked_ids": list(ids) if ids is not None else None,
        "method": "energy counter" if counters and all(counters) else "sampled power" if counters else None,
        "scope": "whole board(s)",
    }
    if any("AMD" in k for k in kinds):
        return "measured:amdsmi", detail
    return "measured:nvml", detail


def _ram_provenance(hw: Any) -> tuple[str, dict[str, Any]]:
    mode = getattr(hw, "_tracking_mode", None)
    detail: dict[str, Any] = {"tracking_mode": mode, "model": "codecarbon RAM model: ~5 W per DIMM (x86), DIMMs from size"}
    with contextlib.suppress(Exception):
        detail["memory_gb"] = round(float(hw.machine_memory_GB if mode == "machine" else hw.process_memory_GB), 2)
    with contextlib.suppress(Exception):
        detail["power_w"] = float(hw.total_power().W)
    return "estimated:ram-model", detail


def hardware_provenance(hardware: list[Any], rapl: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """Per-component provenance and details from codecarbon's hardware objects."""
    prov = {"cpu": "none", "gpu": "none", "ram": "none"}
    detail: dict[str, Any] = {}
    for hw in hardware:
        kind = type(hw).__name__
        part = str(getattr(hw, "chip_part", "")).lower()
        if kind == "CPU":
            prov["cpu"], detail["cpu"] = _cpu_provenance(hw, rapl)
        elif kind == "GPU":
            prov["gpu"], detail["gpu"] = _gpu_provenance(hw)
        elif kind == "RAM":
            prov["ram"], detail["ram"] = _ram_provenance(hw)
        elif kind == "AppleSiliconChip" and part in ("cpu", "gpu"):
            prov[part], detail[part] = "measured:powermetrics", {"method": "Apple powermetrics"}
        elif kind == "Raspberry" and part in ("cpu", "ram"):
            prov[part], detail[part] = "measured:raspberry-pmic", {"method": "Raspberry Pi PMIC"}
    return prov, detail


def carbon_intensity(country: str, region: str | None) -> tuple[float, str, str | None]:
    """(gCO₂eq/kWh, where it comes from, country name) — computed by codecarbon's own emissions code."""
    from codecarbon.core.emissions import Emissions
    from codecarbon.core.units import Energy as CCEnergy
    from codecarbon.external.geography import GeoMetadata
    from codecarbon.input import DataSource

    data = DataSource()
    mix = data.get_global_energy_mix_data()
    row = mix.get(country)
    name = row.get("country_name") if isinstance(row, dict) else None
    geo = GeoMetadata(country_iso_code=country, country_name=name, region=region)
    engine = Emissions(data, electricitymaps_api_token=None)
    g_per_kwh = float(engine.get_private_infra_emissions(CCEnergy.from_energy(kWh=1.0), geo)) * 1000.0
    version = codecarbon_glue.codecarbon_version()
    if row is None:
        source = f"codecarbon {version} world average ({country!r} is not in its global_energy_mix.json)"
    else:
        national = float(engine.get_country_emissions(CCEnergy.from_energy(kWh=1.0), geo)) * 1000.0
        if region and not math.isclose(national, g_per_kwh, rel_tol=1e-9):
            source = f"codecarbon {version} regional data for {country}/{region}"
        else:
            year = row.get("year")
            source = f"codecarbon {version} global_energy_mix.json: {name}" + (f", {year}" if year else "")
            if region:
                source += f" (no regional data for {region!r}: national value)"
    return g_per_kwh, source, name


__all__ = ["carbon_intensity", "hardware_provenance", "overall_source"]
