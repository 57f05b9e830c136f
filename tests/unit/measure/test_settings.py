"""Energy settings are validated once: the suite schema's EnergyConfig is taken as it is, anything else
goes through EnergySettings.validated (the checks EnergyMeter's keyword arguments get)."""

from __future__ import annotations

import pytest

from greenbench.errors import UserError
from greenbench.measure.settings import EnergySettings, settings_for
from greenbench.suite.schema import EnergyConfig


def test_a_suite_config_is_taken_as_the_schema_validated_it() -> None:
    got = settings_for(EnergyConfig(country="fra", measure_power_secs=0.2, min_phase_s=1.0))
    assert got == EnergySettings(country="FRA", region=None, measure_power_secs=0.2, min_duration_s=1.0)


def test_other_input_is_validated_and_normalised() -> None:
    assert settings_for(None) == EnergySettings()
    assert settings_for(False) is None and settings_for(EnergyConfig(enabled=False)) is None
    assert settings_for({"country": "deu", "measure_power_secs": 1, "min_samples": "5"}) == EnergySettings(
        country="DEU", measure_power_secs=1.0, min_samples=5)
    with pytest.raises(UserError) as err:
        settings_for({"tracking_mode": "gpu"})
    assert str(err.value) == "energy.tracking_mode: 'gpu' is not one of: machine, process"


def test_the_schema_is_the_one_validator() -> None:
    """Keyword arguments get the suite file's checks and its one-line messages (bounds named)."""
    with pytest.raises(UserError) as err:
        EnergySettings.validated(measure_power_secs=0)
    assert str(err.value) == "energy.measure_power_secs: 0: input should be greater than 0"
    with pytest.raises(UserError, match=r"^energy.country: 'XX1' is not an ISO 3166-1 alpha-3 country code"):
        EnergySettings.validated("XX1")
    with pytest.raises(UserError, match=r"^energy.cpu_tdp_w: "):
        EnergySettings.validated(cpu_tdp_w=-5)
    with pytest.raises(UserError, match=r"^energy: unknown setting\(s\) 'min_phase'"):
        EnergySettings.validated(min_phase=1)


def test_declared_cpu_power_comes_from_the_suite_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENBENCH_CPU_TDP_W", raising=False)
    assert EnergySettings().declared_cpu_tdp() == (None, None)
    monkeypatch.setenv("GREENBENCH_CPU_TDP_W", "85")
    assert EnergySettings().declared_cpu_tdp() == (85.0, "GREENBENCH_CPU_TDP_W")
    assert EnergySettings(cpu_tdp_w=120.0).declared_cpu_tdp() == (120.0, "energy.cpu_tdp_w")
    monkeypatch.setenv("GREENBENCH_CPU_TDP_W", "lots")
    with pytest.raises(UserError, match=r"^GREENBENCH_CPU_TDP_W='lots': give a number of watts > 0"):
        EnergySettings().declared_cpu_tdp()


def test_the_idle_baseline_length_can_be_set_per_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENBENCH_IDLE_BASELINE_S", raising=False)
    assert EnergySettings(idle_baseline_s=4.0).idle_seconds() == 4.0
    monkeypatch.setenv("GREENBENCH_IDLE_BASELINE_S", "0")
    assert EnergySettings(idle_baseline_s=4.0).idle_seconds() == 0.0
    monkeypatch.setenv("GREENBENCH_IDLE_BASELINE_S", "-1")
    with pytest.raises(UserError, match=r"^GREENBENCH_IDLE_BASELINE_S='-1': give a number of seconds >= 0"):
        EnergySettings().idle_seconds()
