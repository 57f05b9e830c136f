"""Energy settings, validated once.

The rules live in one place, the suite schema's :class:`greenbench.suite.schema.EnergyConfig` (pydantic):

* a suite's ``energy:`` block is validated when the suite is loaded; :func:`settings_for` takes such a
  config as it is, without checking it again;
* anything else — :class:`~greenbench.measure.energy.EnergyMeter` keyword arguments, a mapping or
  ``None``/``True`` given to a :class:`~greenbench.measure.phases.PhaseRecorder` — goes through
  :meth:`EnergySettings.validated`, which builds an ``EnergyConfig`` from it (the same checks, the same
  one-line messages as a suite file gets).

Two per-machine settings come from the environment, for the machine rather than the experiment:
``GREENBENCH_CPU_TDP_W`` (declared CPU power, when the suite declares none) and
``GREENBENCH_IDLE_BASELINE_S`` (the idle baseline's length on this machine, e.g. ``0`` on a CI runner
whose idle power is not of interest); a bad value is refused with a one-line error.

The meter itself trusts the :class:`EnergySettings` it is given (:meth:`EnergyMeter.from_settings`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from greenbench.errors import UserError

TRACKING_MODES = ("machine", "process")
ENV_CPU_TDP = "GREENBENCH_CPU_TDP_W"
ENV_IDLE_BASELINE = "GREENBENCH_IDLE_BASELINE_S"

# Energy settings a recorder accepts (the suite's ``energy:`` block), and their EnergyMeter names.
ENERGY_KEYS = {
    "country": "country",
    "region": "region",
    "measure_power_secs": "measure_power_secs",
    "min_phase_s": "min_duration_s",
    "min_samples": "min_samples",
    "tracking_mode": "tracking_mode",
    "idle_baseline_s": "idle_baseline_s",
    "idle_recheck_after_s": "idle_recheck_after_s",
    "cpu_tdp_w": "cpu_tdp_w",
}
_SUITE_KEYS = {v: k for k, v in ENERGY_KEYS.items()}


@dataclass(frozen=True)
class EnergySettings:
    """Validated energy-meter settings; build with :meth:`validated` unless the values were validated already."""

    country: str = "USA"
    region: str | None = None
    measure_power_secs: float = 0.5
    min_duration_s: float = 2.0
    min_samples: int = 3
    tracking_mode: str = "machine"
    idle_baseline_s: float = 10.0
    idle_recheck_after_s: float | None = 1800.0
    cpu_tdp_w: float | None = None

    @classmethod
    def validated(cls, country: str = "USA", region: str | None = None, **settings: Any) -> EnergySettings:
        """Check the settings with the suite schema's rules (a :class:`UserError` naming the setting
        otherwise) and normalise them. Keywords: this class's field names."""
        from pydantic import ValidationError

        from greenbench.suite.load import format_validation_error
        from greenbench.suite.schema import EnergyConfig

        unknown = sorted(set(settings) - set(_SUITE_KEYS))
        if unknown:
            raise UserError(f"energy: unknown setting(s) {', '.join(map(repr, unknown))}; allowed: "
                            f"country, region, {', '.join(k for k in _SUITE_KEYS if k not in ('country', 'region'))}")
        data = {"country": country, "region": region, **{_SUITE_KEYS[k]: v for k, v in settings.items()}}
        try:
            config = EnergyConfig.model_validate(data)
        except ValidationError as exc:
            first = format_validation_error("energy", exc).splitlines()[0]
            raise UserError(first.replace("energy: ", "energy.", 1)) from None
        return cls.from_config(config)

    @classmethod
    def from_config(cls, config: Any) -> EnergySettings:
        """The settings of a schema-validated ``EnergyConfig`` (not checked again)."""
        return cls(**{meter: getattr(config, suite) for suite, meter in ENERGY_KEYS.items()})

    def declared_cpu_tdp(self) -> tuple[float | None, str | None]:
        """(declared CPU power in W, where it was declared) — the suite's ``energy.cpu_tdp_w``, else
        ``$GREENBENCH_CPU_TDP_W``, else (None, None)."""
        if self.cpu_tdp_w is not None:
            return float(self.cpu_tdp_w), "energy.cpu_tdp_w"
        raw = os.environ.get(ENV_CPU_TDP, "").strip()
        if not raw:
            return None, None
        return _positive_env(ENV_CPU_TDP, raw, upper=5000.0, allow_zero=False), ENV_CPU_TDP

    def idle_seconds(self) -> float:
        """The idle baseline's length: ``$GREENBENCH_IDLE_BASELINE_S`` when set (this machine's choice), else the suite's."""
        raw = os.environ.get(ENV_IDLE_BASELINE, "").strip()
        if not raw:
            return float(self.idle_baseline_s)
        return _positive_env(ENV_IDLE_BASELINE, raw, upper=3600.0, allow_zero=True)


def _positive_env(name: str, raw: str, *, upper: float, allow_zero: bool) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    low_ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and low_ok and value <= upper):
        lower = ">= 0" if allow_zero else "> 0"
        raise UserError(f"{name}={raw!r}: give a number of {'seconds' if allow_zero else 'watts'} {lower} and <= {upper:g}")
    return value


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
    return {ENERGY_KEYS[k]: v for k, v in values.items()}


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
        return EnergySettings.from_config(energy)
    return EnergySettings.validated(**kwargs)


__all__ = ["ENERGY_KEYS", "ENV_CPU_TDP", "ENV_IDLE_BASELINE", "TRACKING_MODES", "EnergySettings", "energy_settings", "settings_for"]
