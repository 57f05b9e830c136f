"""Stored calibration curves (``greenbench calibrate``): one load → CPU package power curve per CPU model.

A leaf of the measurement layer: the energy meter (a machine without CPU counters uses the curve of its CPU
model) and ``greenbench env`` (which says so up front) read curves from here without importing the ladder
that makes them (:mod:`greenbench.measure.calibration`). Curves live under the cache directory,
``<cache>/calibration/<cpu model slug>.json``; a file that is missing, unreadable, or not a monotone curve
with a finite error is ignored (the meter then falls back to a declared power or codecarbon's table).
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def slug(cpu_model: str) -> str:
    """A file name for a CPU model: lower-case ASCII letters, digits and dashes (at most 100)."""
    s = re.sub(r"[^a-z0-9]+", "-", cpu_model.lower()).strip("-")
    return (s[:100].rstrip("-") or "unknown-cpu")


def calibration_dir() -> Path:
    from greenbench.data.cache import cache_root

    return cache_root() / "calibration"


def curve_path(cpu_model: str) -> Path:
    return calibration_dir() / f"{slug(cpu_model)}.json"


def _interp(points: list[tuple[float, float]], x: float) -> float:
    """Linear interpolation through ``points`` (loads strictly increasing), clamped at the ends."""
    if x <= points[0][0]:
        return points[0][1]
    if x >= points[-1][0]:
        return points[-1][1]
    i = 1
    while i < len(points) - 1 and x > points[i][0]:
        i += 1
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass
class CalibrationCurve:
    """A stored load → package power curve for one CPU model."""

    cpu_model: str
    points: list[tuple[float, float]]  # (machine CPU load %, package W), loads increasing, W non-decreasing
    rel_error: float  # fraction: the ± interval of a figure computed with the curve
    path: str
    data: dict[str, Any] = field(default_factory=dict, repr=False)  # the whole stored document

    def power_w(self, load_pct: float) -> float:
        """Package power at ``load_pct`` (0–100): linear between points, clamped at the ends."""
        return _interp(self.points, float(load_pct))


def load_curve(path: Path | str) -> CalibrationCurve | None:
    """The curve stored in ``path``, or None when it is missing or not a valid calibration."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        model = doc["cpu_model"]
        points = [(float(x), float(y)) for x, y in doc["points"]]
        rel_error = float(doc["rel_error"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if not isinstance(exc, FileNotFoundError):
            log.info("ignoring calibration %s: %s", path, exc)
        return None
    ok = (isinstance(model, str) and points and math.isfinite(rel_error) and rel_error >= 0
          and all(math.isfinite(x) and math.isfinite(y) for x, y in points)
          and all(a[0] < b[0] and a[1] <= b[1] for a, b in zip(points, points[1:])))
    if not ok:
        log.info("ignoring calibration %s: not a monotone curve with a finite error", path)
        return None
    return CalibrationCurve(cpu_model=model, points=points, rel_error=rel_error, path=str(path), data=doc)


def find_curve(cpu_model: str | None) -> CalibrationCurve | None:
    """The stored curve for exactly this CPU model (from any machine that has it), or None."""
    if not cpu_model or not cpu_model.strip():
        return None
    curve = load_curve(curve_path(cpu_model.strip()))
    if curve is None or curve.cpu_model != cpu_model.strip():
        return None
    return curve


__all__ = ["CalibrationCurve", "calibration_dir", "curve_path", "find_curve", "load_curve", "slug"]
