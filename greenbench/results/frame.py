"""Records → pandas: one row per run (a compression variant is its own run).

``load_results`` accepts one or several result directories (or record files); rows
from several machines merge, told apart by the ``machine`` column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from greenbench.backend_registry import BUILTIN
from greenbench.choices import CONFIG_AXES, MATRIX_AXES
from greenbench.results.walk import find_records

# One ``<framework>_version`` column per built-in backend (its registry entry's own version key).
FRAMEWORK_VERSION_KEYS = [b.version_key for b in BUILTIN if b.version_key]
FRAMEWORK_VERSION_COLUMNS = [f"{key}_version" for key in FRAMEWORK_VERSION_KEYS]

# Columns every frame has, in this order (more may follow); the configuration columns are the matrix axes.
CONFIG_COLUMNS = list(MATRIX_AXES)
COLUMNS = [
    "run_id",
    "workload_id",
    "suite",
    *CONFIG_COLUMNS,
    "status",
    "reason",
    "test_accuracy",
    "test_loss",
    "params",
    "epochs_run",
    "train_time_s",
    "train_cpu_s",
    "train_energy_kwh",
    "train_co2_kg",
    "evaluate_time_s",
    "total_time_s",
    "total_energy_kwh",
    "total_co2_kg",
    "energy_source",
    "cpu_energy_source",
    "gpu_energy_source",
    "ram_energy_source",
    "energy_low_confidence",
    "country",
    "carbon_intensity_g_per_kwh",
    "peak_rss_bytes",
    "peak_device_mem_bytes",
    "time_to_target_s",
    "energy_to_target_kwh",
    "size_bytes",
    "nonzero_params",
    "sparsity",
    "accuracy_delta_pp",
    "latency_ms_p50",
    "latency_ms_p95",
    "throughput_ips",
    "inference_energy_kwh_per_1k",
    "compress_time_s",
    "compress_energy_kwh",
    "trained_run_id",
    "machine",
    "cpu_model",
    "threads",
    "epochs",
    "batch_size",
    "learning_rate",
    "dataset",
    "train_samples",
    "test_samples",
    "greenbench_version",
    *FRAMEWORK_VERSION_COLUMNS,
    "codecarbon_version",
    "started_at",
    "source",
]

# The metrics that make sense to aggregate over seeds.
METRICS = [
    "test_accuracy",
    "train_time_s",
    "train_energy_kwh",
    "train_co2_kg",
    "total_time_s",
    "total_energy_kwh",
    "total_co2_kg",
    "time_to_target_s",
    "energy_to_target_kwh",
    "latency_ms_p50",
    "throughput_ips",
    "inference_energy_kwh_per_1k",
]


def _get(d: Any, *keys: str, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d or d[k] is None:
            return default
        d = d[k]
    return d


def _sum(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(sum(vals)) if vals else None


def _combine_sources(sources: Iterable[str | None]) -> str | None:
    kinds = {s for s in sources if s}
    if not kinds:
        return None
    if len(kinds) == 1:
        return kinds.pop()
    if kinds <= {"measured", "estimated", "mixed"}:
        return "mixed"
    return "+".join(sorted(kinds))


def record_to_row(rec: dict[str, Any], source: str = "") -> dict[str, Any]:
    """Flatten one record into one table row."""
    cfg = rec.get("config", {}) or {}
    metrics = rec.get("metrics", {}) or {}
    phases = rec.get("phases", {}) or {}
    comp = rec.get("compression") or {}
    env = rec.get("env", {}) or {}
    versions = env.get("versions", {}) if isinstance(env.get("versions"), dict) else {}
    train = phases.get("train", {})
    energies = [p.get("energy") or {} for p in phases.values()]
    row: dict[str, Any] = {
        "run_id": rec.get("run_id"),
        "workload_id": rec.get("workload_id"),
        "suite": rec.get("suite"),
        **{k: cfg.get(k) for k in CONFIG_COLUMNS},
        "status": rec.get("status"),
        "reason": rec.get("reason"),
        "test_accuracy": metrics.get("test_accuracy"),
        "test_loss": metrics.get("test_loss"),
        "params": metrics.get("params"),
        "epochs_run": metrics.get("epochs_run"),
        "train_time_s": train.get("wall_s"),
        "train_cpu_s": train.get("cpu_s"),
        "train_energy_kwh": _get(train, "energy", "total_kwh"),
        "train_co2_kg": _get(train, "energy", "co2_kg"),
        "evaluate_time_s": _get(phases, "evaluate", "wall_s"),
        "total_time_s": _sum(p.get("wall_s") for p in phases.values()),
        "total_energy_kwh": _sum(e.get("total_kwh") for e in energies),
        "total_co2_kg": _sum(e.get("co2_kg") for e in energies),
        "energy_source": _combine_sources(e.get("energy_source") for e in energies),
        "cpu_energy_source": _combine_sources(_get(e, "provenance", "cpu") for e in energies),
        "gpu_energy_source": _combine_sources(_get(e, "provenance", "gpu") for e in energies),
        "ram_energy_source": _combine_sources(_get(e, "provenance", "ram") for e in energies),
        "energy_low_confidence": any(bool(e.get("low_confidence")) for e in energies) if energies else None,
        "country": next((e.get("country") for e in energies if e.get("country")), _get(cfg, "energy", "country")),
        "carbon_intensity_g_per_kwh": next(
            (e.get("carbon_intensity_g_per_kwh") for e in energies if e.get("carbon_intensity_g_per_kwh")), None
        ),
        "peak_rss_bytes": max((p.get("peak_rss_bytes") or 0 for p in phases.values()), default=None) or None,
        "peak_device_mem_bytes": max((p.get("peak_device_mem_bytes") or 0 for p in phases.values()), default=None)
        or None,
        "time_to_target_s": metrics.get("time_to_target_s"),
        "energy_to_target_kwh": metrics.get("energy_to_target_kwh"),
        "size_bytes": comp.get("size_bytes"),
        "nonzero_params": comp.get("nonzero_params"),
        "sparsity": comp.get("sparsity"),
        "accuracy_delta_pp": comp.get("accuracy_delta_pp"),
        "latency_ms_p50": comp.get("latency_ms_p50"),
        "latency_ms_p95": comp.get("latency_ms_p95"),
        "throughput_ips": comp.get("throughput_ips"),
        "inference_energy_kwh_per_1k": comp.get("inference_energy_kwh_per_1k"),
        "compress_time_s": _get(phases, "compress", "wall_s"),
        "compress_energy_kwh": _get(phases, "compress", "energy", "total_kwh"),
        "trained_run_id": comp.get("trained_run_id"),
        "machine": rec.get("machine"),
        "cpu_model": _get(env, "cpu", "model") or env.get("cpu_model"),
        "threads": _get(metrics, "threads", "intra_op"),
        "epochs": _get(cfg, "training", "epochs"),
        "batch_size": _get(cfg, "training", "batch_size"),
        "learning_rate": _get(cfg, "training", "learning_rate"),
        "dataset": _get(cfg, "data", "dataset"),
        "train_samples": _get(cfg, "data", "train_samples"),
        "test_samples": _get(cfg, "data", "test_samples"),
        "greenbench_version": rec.get("greenbench_version"),
        **{f"{key}_version": versions.get(key) for key in FRAMEWORK_VERSION_KEYS},
        "codecarbon_version": versions.get("codecarbon"),
        "started_at": rec.get("started_at"),
        "source": source,
    }
    return row


def iter_records(paths: str | Path | Sequence[str | Path]) -> Iterable[tuple[dict[str, Any], str]]:
    """Yield ``(record, source)`` for every valid record under ``paths`` (dirs, suite dirs or files)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    for p in map(Path, paths):
        found = find_records(p)
        if found.corrupt and p.is_file():  # a record file named outright must be one
            raise ValueError(found.corrupt[0][1])
        yield from found.records


def records_frame(records: Iterable[tuple[dict[str, Any], str]]) -> pd.DataFrame:
    rows = [record_to_row(r, s) for r, s in records]
    df = pd.DataFrame(rows, columns=COLUMNS)
    if not df.empty:
        df = df.drop_duplicates(subset=["run_id", "machine", "source"]).reset_index(drop=True)
    return df


def load_results(paths: str | Path | Sequence[str | Path] = "results") -> pd.DataFrame:
    """Load run records into a DataFrame with one row per run (see :data:`COLUMNS`)."""
    return records_frame(iter_records(paths))


def aggregate(
    df: pd.DataFrame,
    metrics: Sequence[str] = METRICS,
    by: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Aggregate completed runs over seeds: ``<metric>_mean``, ``_std``, ``_ci_low``, ``_ci_high`` and ``n``.

    The confidence interval is Student's t over the seeds (half-width t·s/√n); with one
    seed the interval is undefined (NaN), never a made-up zero.
    """
    from scipy import stats

    by = list(by) if by is not None else ["machine", *CONFIG_AXES]
    done = df[df["status"] == "completed"].copy()
    if done.empty:
        return pd.DataFrame(columns=[*by, "n"])
    for col in by:
        done[col] = done[col].astype(object).where(done[col].notna(), "-")
    out = []
    for key, grp in done.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(by, key))
        row["n"] = len(grp)
        for m in metrics:
            vals = pd.to_numeric(grp[m], errors="coerce").dropna().to_numpy(dtype=float)
            n = len(vals)
            mean = float(vals.mean()) if n else np.nan
            std = float(vals.std(ddof=1)) if n > 1 else np.nan
            half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / np.sqrt(n)) if n > 1 else np.nan
            row[f"{m}_mean"] = mean
            row[f"{m}_std"] = std
            row[f"{m}_ci_low"] = mean - half if n > 1 else np.nan
            row[f"{m}_ci_high"] = mean + half if n > 1 else np.nan
        out.append(row)
    return pd.DataFrame(out)
