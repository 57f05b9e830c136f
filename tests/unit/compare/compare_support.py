"""Record mutators shared by the compare tests (a uniquely named module: every test folder has a ``conftest``)."""

from __future__ import annotations

from typing import Any


def set_energy(rec: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Change every phase's energy block (e.g. energy_source, provenance, country, intensity)."""
    for phase in rec["phases"].values():
        energy = phase["energy"]
        energy.update(fields)
        energy["co2_kg"] = energy["total_kwh"] * energy["carbon_intensity_g_per_kwh"] / 1000.0
    return rec


def measured(rec: dict[str, Any]) -> dict[str, Any]:
    return set_energy(rec, energy_source="measured",
                      provenance={"cpu": "measured:rapl", "gpu": "none", "ram": "estimated:ram-model"})
