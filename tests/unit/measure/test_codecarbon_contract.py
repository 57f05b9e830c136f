"""The codecarbon contract: greenbench replaces a private codecarbon method, so every start checks that
codecarbon's private tracker API still has the expected shape; when it does not, energy is
"unavailable" with a reason naming the version — never a silent mis-measurement."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from greenbench.measure import codecarbon_glue
from greenbench.measure.codecarbon_glue import CODECARBON_TESTED, codecarbon_contract_problems
from greenbench.measure.energy import EnergyMeter

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def _in_range(version: str, spec: str) -> bool:
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    for op, bound in re.findall(r"(>=|<)([\d.]+)", spec):
        b = tuple(int(p) for p in bound.split("."))
        if (op == ">=" and parts < b) or (op == "<" and parts >= b):
            return False
    return True


def test_pyproject_declares_the_tested_range() -> None:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    assert f"codecarbon{CODECARBON_TESTED}" in deps


def test_the_installed_codecarbon_is_in_the_tested_range_and_has_the_expected_shape(fast: dict[str, Any]) -> None:
    assert _in_range(metadata.version("codecarbon"), CODECARBON_TESTED)
    with EnergyMeter("USA", **fast) as meter:
        assert meter.available, meter.reason
        assert codecarbon_contract_problems(meter._tracker) == []


def _meter_with_a_changed_codecarbon(monkeypatch: pytest.MonkeyPatch, fast: dict[str, Any], change: str) -> EnergyMeter:
    real = codecarbon_glue.tracker_class

    def changed_tracker_class() -> type:
        cls = real()
        if change == "state":  # a release that renamed the tracker's time-keeping attribute
            init = cls.__init__

            def __init__(self: Any, **kwargs: Any) -> None:
                init(self, **kwargs)
                self._last_measured_at = self.__dict__.pop("_last_measured_time")

            return type("RenamedState", (cls,), {"__init__": __init__})
        return cls

    if change == "method":  # a release that folded the sampling step into something else
        from codecarbon.emissions_tracker import BaseEmissionsTracker

        monkeypatch.delattr(BaseEmissionsTracker, "_measure_power_and_energy")
    monkeypatch.setattr(codecarbon_glue, "tracker_class", changed_tracker_class)
    monkeypatch.setattr(codecarbon_glue, "codecarbon_version", lambda: "9.9.9")
    return EnergyMeter("USA", **fast)


@pytest.mark.parametrize(("change", "named"), [
    ("state", "tracker attributes missing: _last_measured_time"),
    ("method", "BaseEmissionsTracker._measure_power_and_energy is gone"),
])
def test_a_changed_private_api_makes_energy_unavailable_with_the_version_named(
    monkeypatch: pytest.MonkeyPatch, fast: dict[str, Any], change: str, named: str
) -> None:
    meter = _meter_with_a_changed_codecarbon(monkeypatch, fast, change)
    try:
        assert not meter.available
        assert meter.reason.startswith("codecarbon 9.9.9 does not have the private tracker API greenbench replaces")
        assert named in meter.reason and f"tested with codecarbon {CODECARBON_TESTED}" in meter.reason
        meter.begin_window("w")
        window = meter.end_window("w")
        assert window["energy_source"] == "unavailable" and window["total_kwh"] is None
        assert named in window["reason"]
    finally:
        meter.close()
