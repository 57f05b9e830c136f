"""Energy settings, validated once.

Two ways in, one validation each:

* a suite's ``energy:`` block is validated by the suite schema (:class:`greenbench.suite.schema.EnergyConfig`,
  with its own messages); :func:`settings_for` takes such a config as it is, without checking it again;
* anything else — :class:`~greenbench.measure.energy.EnergyMeter` keyword arguments, a mapping or
  ``None``/``True`` given to a :class:`~greenbench.measure.phases.PhaseRecorder` — goes through
  :meth:`EnergySettings.validated`, the one place these rules live in the measurement layer.

The meter itself trusts the :class:`EnergySettings` it is given (:meth:`EnergyMeter.from_settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from greenbench.errors import UserError

TRACKING_MODES = ("machine", "process")

# Energy settings a recorder accepts (the suite's ``energy:`` block), and their EnergyMeter names.
ENERGY_KEYS = {
    "country": "country",
    "region": "region",
    "measure_power_secs": "measure_power_secs",
    "min_phase_s": "min_duration_s",
    "min_samples": "min_samples",
    "tracking_mode": "tracking_mode",
}


@dataclass(frozen=True)
class EnergySettings:
    """Validated energy-meter settings; build with :meth:`validated` unless the values were validated already."""

    country: str = "USA"
    region: str | None = None
    measure_power_secs: float = 0.5
    min_duration_s: float = 2.0
    min_samples: int = 3
    tracking_mode: str = "machine"

    @classmethod
    def validated(
        cls,
        country: str = "USA",
        region: str | None = None,
        *,
        measure_power_secs: float = 0.5,
        min_duration_s: float = 2.0,
        min_samples: int = 3,
        tracking_mode: str = "machine",
    ) -> EnergySettings:
        """Check the settings (a :class:`UserError` naming the setting otherwise) and normalise them."""
        if not (isinstance(country, str) and len(country) == 3 and country.isalpha()):
            raise UserError(f"energy.country: {country!r} is not an ISO 3166-1 alpha-3 country code (e.g. USA, FRA)")
        if not (0 < float(measure_power_secs) <= 1.0):
            raise UserError(f"energy.measure_power_secs: {measure_power_secs} must be > 0 and <= 1")
        if tracking_mode not in TRACKING_MODES:
            raise UserError(f"energy.tracking_mode: {tracking_mode!r} is not one of: {', '.join(TRACKING_MODES)}")
        return cls(
            country=country.upper(),
            region=region,
            measure_power_secs=float(measure_power_secs),
            min_duration_s=float(min_duration_s),
            min_samples=int(min_samples),
            tracking_mode=tracking_mode,
        )


def energy_settings(energy: Any) -> dict[str, Any] | None:
    """EnergyMeter keyword arguments from the suite's energy settings; ``None`` when switched off.

    Accepts the suite's ``EnergyConfig`` (or any object with those attributes), a mapping,
    ``True``/``None`` (defaults) or ``False`` (off).
    """
    if energy is None or energy is True:
        return {}
    if energy is False:
        return None
    if isinstance(energy, Mapping):
        unknown = sorted(set(energy) - set(ENERGY_KEYS) - {"enabled"})
        if unknown:
            raise UserError(f"energy: unknown setting(s) {', '.join(map(repr, unknown))}; allowed: "
                            f"enabled, {', '.join(ENERGY_KEYS)}")
        values = dict(energy)
    else:
        values = {k: getattr(energy, k) for k in [*ENERGY_KEYS, "enabled"] if hasattr(energy, k)}
    if not values.pop("enabled", True):
        return None
    return {ENERGY_KEYS[k]: v for k, v in values.items() if v is not None or k == "region"}


def _schema_validated(energy: Any) -> bool:
    """Whether ``energy`` is the suite schema's ``EnergyConfig`` (validated when it was built)."""
    if energy is None or isinstance(energy, (bool, Mapping)):
        return False
    from greenbench.suite.schema import EnergyConfig

    return isinstance(energy, EnergyConfig)


def settings_for(energy: Any) -> EnergySettings | None:
    """The :class:`EnergySettings` of ``energy`` (as :func:`energy_settings` accepts it), ``None`` when off.

    A suite ``EnergyConfig`` was validated by the schema and is taken as it is; anything else is
    validated here.
    """
    kwargs = energy_settings(energy)
    if kwargs is None:
        return None
    if _schema_validated(energy):
        return EnergySettings(**kwargs)
    return EnergySettings.validated(**kwargs)


__all__ = ["ENERGY_KEYS", "TRACKING_MODES", "EnergySettings", "energy_settings", "settings_for"]
