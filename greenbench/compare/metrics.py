"""What can be compared: metric names, their units and direction, and threshold parsing."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, Sequence

from greenbench.errors import UserError

Direction = Literal["lower", "higher"]
Effect = Literal["relative", "pp"]


@dataclass(frozen=True)
class MetricSpec:
    """One comparable metric: a column of :func:`greenbench.results.load_results`.

    ``scale`` converts the stored unit into ``unit`` for display and JSON (kWh → Wh, kg → g,
    fraction → %). ``effect`` says how the minimum effect is measured: ``relative`` compares
    ``|head/base − 1|`` with the relative threshold; ``pp`` compares the difference of the means
    in percentage points with the accuracy threshold.
    """

    name: str
    label: str
    unit: str
    scale: float
    direction: Direction
    effect: Effect = "relative"


_SPECS = [
    MetricSpec("train_time_s", "training time", "s", 1.0, "lower"),
    MetricSpec("total_time_s", "total time", "s", 1.0, "lower"),
    MetricSpec("evaluate_time_s", "evaluation time", "s", 1.0, "lower"),
    MetricSpec("train_cpu_s", "training CPU time", "s", 1.0, "lower"),
    MetricSpec("train_energy_kwh", "training energy", "Wh", 1000.0, "lower"),
    MetricSpec("total_energy_kwh", "total energy", "Wh", 1000.0, "lower"),
    MetricSpec("train_co2_kg", "training CO₂", "g", 1000.0, "lower"),
    MetricSpec("total_co2_kg", "total CO₂", "g", 1000.0, "lower"),
    MetricSpec("test_accuracy", "test accuracy", "%", 100.0, "higher", "pp"),
    MetricSpec("test_loss", "test loss", "", 1.0, "lower"),
    MetricSpec("time_to_target_s", "time to target accuracy", "s", 1.0, "lower"),
    MetricSpec("energy_to_target_kwh", "energy to target accuracy", "Wh", 1000.0, "lower"),
    MetricSpec("peak_rss_bytes", "peak memory (RSS)", "MiB", 1.0 / 2**20, "lower"),
    MetricSpec("latency_ms_p50", "inference latency p50", "ms", 1.0, "lower"),
    MetricSpec("latency_ms_p95", "inference latency p95", "ms", 1.0, "lower"),
    MetricSpec("throughput_ips", "inference throughput", "images/s", 1.0, "higher"),
    MetricSpec("inference_energy_kwh_per_1k", "inference energy per 1k images", "Wh", 1000.0, "lower"),
    MetricSpec("size_bytes", "model size", "KiB", 1.0 / 1024, "lower"),
]
METRIC_SPECS: dict[str, MetricSpec] = {s.name: s for s in _SPECS}
DEFAULT_METRICS = ("train_time_s", "total_energy_kwh", "total_co2_kg", "test_accuracy")
ALIASES = {
    "time": "train_time_s",
    "train-time": "train_time_s",
    "energy": "total_energy_kwh",
    "co2": "total_co2_kg",
    "accuracy": "test_accuracy",
    "latency": "latency_ms_p50",
    "throughput": "throughput_ips",
    "memory": "peak_rss_bytes",
}


def resolve_metrics(names: Sequence[str] | str | None) -> list[MetricSpec]:
    """Metric names (or aliases, or comma-separated lists) → specs; ``None`` → the defaults."""
    if names is None:
        return [METRIC_SPECS[n] for n in DEFAULT_METRICS]
    if isinstance(names, str):
        names = [names]
    out: list[MetricSpec] = []
    for raw in names:
        for name in (p.strip() for p in str(raw).split(",")):
            if not name:
                continue
            key = ALIASES.get(name.lower(), name)
            if key not in METRIC_SPECS:
                allowed = ", ".join(METRIC_SPECS)
                aliases = ", ".join(f"{a}={t}" for a, t in ALIASES.items())
                raise UserError(f"unknown metric {name!r}; allowed: {allowed} (aliases: {aliases})")
            if METRIC_SPECS[key] not in out:
                out.append(METRIC_SPECS[key])
    if not out:
        raise UserError(f"no metric given; allowed: {', '.join(METRIC_SPECS)}")
    return out


_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


def parse_threshold(value: str | float | int) -> float:
    """The minimum relative effect: ``'10%'`` or ``0.1`` → 0.1.

    A bare number must be a fraction below 1: ``'10'`` is refused (did you mean 10% or 0.1?)
    rather than read as a 1000 % threshold that would never flag anything.
    """
    text = str(value).strip()
    m = re.fullmatch(rf"({_NUMBER})\s*(%?)", text)
    if not m:
        raise UserError(f"threshold {text!r} is not a number: write a percentage like 10% or a fraction like 0.1")
    number, percent = float(m.group(1)), bool(m.group(2))
    if not math.isfinite(number) or number < 0:
        raise UserError(f"threshold {text!r} must be a non-negative percentage (10%) or fraction (0.1)")
    if percent:
        return number / 100.0
    if number >= 1:
        raise UserError(
            f"threshold {text!r} is ambiguous: write {number:g}% for a {number:g} percent change, "
            f"or a fraction below 1 such as {number / 100:g}"
        )
    return number


def parse_pp(value: str | float | int) -> float:
    """The minimum accuracy change in percentage points: ``'0.5pp'``, ``'0.5'`` or ``0.5`` → 0.5."""
    text = str(value).strip()
    m = re.fullmatch(rf"({_NUMBER})\s*(pp)?", text, flags=re.IGNORECASE)
    if not m:
        hint = " (a relative % is ambiguous for accuracy)" if text.endswith("%") else ""
        raise UserError(
            f"accuracy threshold {text!r}{hint}: write percentage points, e.g. 0.5pp or 0.5"
        )
    number = float(m.group(1))
    if not math.isfinite(number) or number < 0 or number >= 100:
        raise UserError(f"accuracy threshold {text!r} must be between 0 and 100 percentage points, e.g. 0.5pp")
    return number
