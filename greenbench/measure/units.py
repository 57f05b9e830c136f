"""Energy and power as small value objects, so a kWh is never mistaken for a joule.

Records store plain floats (kWh, W, kg); these classes are for the arithmetic in between.
"""

from __future__ import annotations

from dataclasses import dataclass

JOULES_PER_KWH = 3.6e6


@dataclass(frozen=True, order=True)
class Energy:
    """An amount of energy, kept in kilowatt-hours."""

    kwh: float = 0.0

    @classmethod
    def from_kwh(cls, kwh: float) -> Energy:
        return cls(float(kwh))

    @classmethod
    def from_joules(cls, joules: float) -> Energy:
        return cls(float(joules) / JOULES_PER_KWH)

    @classmethod
    def from_power(cls, power: Power, seconds: float) -> Energy:
        return cls.from_joules(power.watts * float(seconds))

    @property
    def joules(self) -> float:
        return self.kwh * JOULES_PER_KWH

    @property
    def wh(self) -> float:
        return self.kwh * 1000.0

    def co2_kg(self, intensity_g_per_kwh: float) -> float:
        """Emissions of this energy on a grid of ``intensity_g_per_kwh`` (gCO₂eq/kWh), in kg."""
        return self.kwh * float(intensity_g_per_kwh) / 1000.0

    def __add__(self, other: Energy) -> Energy:
        if not isinstance(other, Energy):
            return NotImplemented
        return Energy(self.kwh + other.kwh)

    def __sub__(self, other: Energy) -> Energy:
        if not isinstance(other, Energy):
            return NotImplemented
        return Energy(self.kwh - other.kwh)

    def __mul__(self, factor: float) -> Energy:
        return Energy(self.kwh * float(factor))

    __rmul__ = __mul__


@dataclass(frozen=True, order=True)
class Power:
    """A rate of energy use, kept in watts."""

    watts: float = 0.0

    @classmethod
    def from_energy(cls, energy: Energy, seconds: float) -> Power:
        """Average power of ``energy`` spent over ``seconds`` (0 W for an empty interval)."""
        return cls(energy.joules / seconds if seconds > 0 else 0.0)

    @property
    def kw(self) -> float:
        return self.watts / 1000.0
