"""Number formatting for reports: one unit per column, honest markers, no scientific notation."""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

# Markers that follow every energy or CO₂ number that was not fully measured.
EST = "†"  # energy estimated (fully or partly): not read from a hardware counter
LOW = "‡"  # at least one phase was too short for a reliable energy reading
SHARED = "§"  # measured while other processes shared the machine (co-tenancy above the run's threshold)
NA = "—"

ESTIMATED_SOURCES = {"estimated", "mixed"}
NO_ENERGY_SOURCES = {"unavailable", "disabled"}

ENERGY_UNITS: Sequence[tuple[str, float]] = (("kWh", 1.0), ("Wh", 1e-3), ("mWh", 1e-6), ("µWh", 1e-9))
CO2_UNITS: Sequence[tuple[str, float]] = (("t", 1e3), ("kg", 1.0), ("g", 1e-3), ("mg", 1e-6), ("µg", 1e-9))
SIZE_UNITS: Sequence[tuple[str, float]] = (("GB", 1e9), ("MB", 1e6), ("kB", 1e3), ("B", 1.0))


def finite(value: Any) -> bool:
    """True for a real, finite number (not None, NaN or a string)."""
    if value is None or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _finite_values(values: Iterable[Any]) -> list[float]:
    return [abs(float(v)) for v in values if finite(v) and float(v) != 0.0]


def pick_unit(values: Iterable[Any], units: Sequence[tuple[str, float]]) -> tuple[str, float]:
    """The largest unit in which the median non-zero value is at least 1."""
    vals = sorted(_finite_values(values))
    if not vals:
        return units[0] if units is not ENERGY_UNITS else units[1]
    median = vals[len(vals) // 2]
    for name, factor in units:
        if median / factor >= 1.0:
            return name, factor
    return units[-1]


def num(value: Any, digits: int = 3) -> str:
    """A number with about ``digits`` significant digits, never in scientific notation."""
    if not finite(value):
        return NA
    v = float(value)
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    decimals = max(0, digits - 1 - mag)
    if decimals > 9:  # tiny number: show it honestly rather than as 0.000
        return f"{v:.{digits - 1}e}"
    return f"{v:,.{decimals}f}"


def with_unit(value: Any, unit: tuple[str, float], digits: int = 3) -> str:
    if not finite(value):
        return NA
    return f"{num(float(value) / unit[1], digits)} {unit[0]}"


def energy(kwh: Any, unit: tuple[str, float] | None = None) -> str:
    return with_unit(kwh, unit or pick_unit([kwh], ENERGY_UNITS))


def co2(kg: Any, unit: tuple[str, float] | None = None) -> str:
    return with_unit(kg, unit or pick_unit([kg], CO2_UNITS))


def size(nbytes: Any) -> str:
    return with_unit(nbytes, pick_unit([nbytes], SIZE_UNITS))


def duration(seconds: Any) -> str:
    if not finite(seconds):
        return NA
    s = float(seconds)
    if s < 120:
        return f"{num(s)} s"
    if s < 7200:
        return f"{num(s / 60)} min"
    return f"{num(s / 3600)} h"


def pct(fraction: Any, decimals: int = 2) -> str:
    if not finite(fraction):
        return NA
    return f"{float(fraction) * 100:.{decimals}f} %"


def pp(delta_fraction: Any, decimals: int = 2) -> str:
    """A difference of two accuracies (fractions) in percentage points, signed."""
    if not finite(delta_fraction):
        return NA
    return f"{float(delta_fraction) * 100:+.{decimals}f} pp"


def markers(energy_source: Any, low_confidence: Any = False) -> str:
    """``†`` for estimated energy, ``‡`` for a low-confidence reading ('' for measured)."""
    out = ""
    if energy_source in ESTIMATED_SOURCES:
        out += EST
    if low_confidence is True or (finite(low_confidence) and bool(low_confidence)):
        out += LOW
    return out


def run_marks(agg_row: Any) -> str:
    """`` †‡`` for a configuration's whole-run figures: estimated, and some run with a too-short reading."""
    m = markers("estimated" if agg_row.get("estimated") else None, agg_row.get("low_confidence", False))
    return f" {m}" if m else ""


def marked(text: str, energy_source: Any, low_confidence: Any = False) -> str:
    """``text`` with its honesty markers; energy that was not recorded reads as such."""
    if text == NA:
        if energy_source in NO_ENERGY_SOURCES:
            return f"{NA} ({energy_source})"
        return text
    m = markers(energy_source, low_confidence)
    return f"{text} {m}" if m else text


def truncate(text: Any, limit: int) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= limit else s[: max(0, limit - 1)] + "…"


def _decimals(v: float, digits: int) -> int:
    if v == 0:
        return digits - 1
    return min(9, max(0, digits - 1 - math.floor(math.log10(abs(v)))))


def pm(mean: Any, half: Any, scale: float = 1.0, unit: str = "", digits: int = 3) -> str:
    """``mean ± half`` with the same decimals on both (set by the mean's ``digits`` significant digits)."""
    if not finite(mean) or not math.isfinite(m := float(mean) * scale):  # huge and scaled past a float: n/a
        return NA
    dec = _decimals(m, digits)
    if finite(half) and math.isfinite(float(half) * scale):
        return f"{m:,.{dec}f} ± {float(half) * scale:,.{dec}f}{unit}"
    return f"{m:,.{dec}f}{unit}"
