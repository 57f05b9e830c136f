"""Energy and power value objects."""

from __future__ import annotations

import pytest

from greenbench.measure.units import JOULES_PER_KWH, Energy, Power


def test_energy_conversions() -> None:
    e = Energy.from_joules(3.6e6)
    assert e.kwh == 1.0 and e.wh == 1000.0 and e.joules == JOULES_PER_KWH
    assert Energy.from_kwh(0.002).joules == pytest.approx(7200.0)


def test_energy_from_power_and_time_and_back() -> None:
    e = Energy.from_power(Power(100.0), 36.0)  # 100 W for 36 s = 3600 J = 1 Wh
    assert e.wh == pytest.approx(1.0)
    assert Power.from_energy(e, 36.0).watts == pytest.approx(100.0)
    assert Power.from_energy(e, 0.0).watts == 0.0
    assert Power(1500.0).kw == 1.5


def test_energy_arithmetic_and_co2() -> None:
    a, b = Energy(0.5), Energy(0.25)
    assert a + b == Energy(0.75) and a - b == Energy(0.25) and 2 * b == a and b * 2 == a
    assert b < a
    assert Energy(2.0).co2_kg(400.0) == pytest.approx(0.8)  # 2 kWh at 400 g/kWh = 0.8 kg
    with pytest.raises(TypeError):
        a + 1.0  # type: ignore[operator]
