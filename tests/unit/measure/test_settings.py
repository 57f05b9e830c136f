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
