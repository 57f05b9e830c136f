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
from greenbench.choices import AXIS_DEFAULTS, CONFIG_AXES, MATRIX_AXES
from greenbench.measure.intervals import interval as energy_interval
from greenbench.results.record import outer_phases
from greenbench.results.walk import find_records

# One ``<framework>_version`` column per built-in backend (its registry entry's own version key).
FRAMEWORK_VERSION_KEYS = [b.version_key for b in BUILTIN if b.version_key]
FRAMEWORK_VERSION_COLUMNS = [f"{key}_version" for key in FRAMEWORK_VERSION_KEYS]

# Columns every frame has, in this order (more may follow); the configuration columns are the matrix axes.
CONFIG_COLUMNS = list(MATRIX_AXES)


def _with_bounds(*columns: str) -> list[str]:
    """Each energy / CO₂ column followed by its ``_low`` and ``_high`` bounds (greenbench.measure.intervals)."""
    return [name for c in columns for name in (c, f"{c}_low", f"{c}_high")]


# The energy and CO₂ columns that carry an interval by method (``<column>_low`` / ``<column>_high``).
BOUNDED_COLUMNS = ["train_energy_kwh", "train_co2_kg", "total_energy_kwh", "total_co2_kg", "energy_to_target_kwh",
                   "inference_energy_kwh_per_1k", "compress_energy_kwh", "train_net_energy_kwh",
                   "total_net_energy_kwh", "total_cpu_kwh", "total_gpu_kwh", "total_ram_kwh"]
ENERGY_COMPONENTS = ("cpu", "gpu", "ram")  # a run's energy by component: its figures' methods differ per component
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
    *_with_bounds("train_energy_kwh", "train_co2_kg", "train_net_energy_kwh"),
    "evaluate_time_s",
    "total_time_s",
    *_with_bounds("total_energy_kwh", "total_co2_kg", "total_net_energy_kwh"),
    *_with_bounds("total_cpu_kwh", "total_gpu_kwh", "total_ram_kwh"),
    "idle_power_w",
    "energy_source",
    "cpu_energy_source",
    "gpu_energy_source",
    "ram_energy_source",
    "energy_low_confidence",
    "contaminated",
    "contamination_reason",
    "max_other_cpu_share",
    "country",
    "carbon_intensity_g_per_kwh",
    "peak_rss_bytes",
    "peak_device_mem_bytes",
    "time_to_target_s",
    *_with_bounds("energy_to_target_kwh"),
    "size_bytes",
    "nonzero_params",
    "sparsity",
    "accuracy_delta_pp",
    "latency_ms_p50",
    "latency_ms_p95",
    "throughput_ips",
    *_with_bounds("inference_energy_kwh_per_1k"),
    "compress_time_s",
    *_with_bounds("compress_energy_kwh"),
    "trained_run_id",
    "machine",
    "cpu_model",
    "intra_op_threads",
    "inter_op_threads",
    "omp_wait_policy",
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
    outer = outer_phases(phases)  # totals: a nested window (train/epoch-N) is inside train already
    energies = [p.get("energy") or {} for p in outer.values()]
    row: dict[str, Any] = {
        "run_id": rec.get("run_id"),
        "workload_id": rec.get("workload_id"),
        "suite": rec.get("suite"),
        # An axis added later reads as the value every run had before it (a record written then lacks it).
        **{k: cfg.get(k, AXIS_DEFAULTS.get(k)) for k in CONFIG_COLUMNS},
        "threads": _threads_setting(cfg),
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
        "total_time_s": _sum(p.get("wall_s") for p in outer.values()),
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
        "intra_op_threads": _get(metrics, "threads", "intra_op"),
        "inter_op_threads": _get(metrics, "threads", "inter_op"),
        "omp_wait_policy": _get(metrics, "threads", "omp_wait_policy"),
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
    row["train_net_energy_kwh"] = _get(train, "energy", "net_total_kwh")
    row["total_net_energy_kwh"] = _sum(e.get("net_total_kwh") for e in energies) if all(
        e.get("net_total_kwh") is not None for e in energies if e.get("total_kwh") is not None) else None
    for c in ENERGY_COMPONENTS:
        row[f"total_{c}_kwh"] = _sum(e.get(f"{c}_kwh") for e in energies if e.get("total_kwh") is not None)
    row.update(_bounds(row, phases, energies))
    row["idle_power_w"] = _get(rec, "idle_baseline", "total_w")
    # co-tenancy: were the run's measured windows shared with other processes? (greenbench.measure.cotenancy)
    row["contaminated"] = _get(rec, "cotenancy", "contaminated")
    row["contamination_reason"] = _get(rec, "cotenancy", "reason") if row["contaminated"] else None
    row["max_other_cpu_share"] = _get(rec, "cotenancy", "max_other_share")
    return row


def _threads_setting(cfg: dict[str, Any]) -> str:
    """The threads axis as text (``"all"``, ``"2"``): a record from before the axis has ``training.threads``."""
    setting = cfg.get("threads")
    if setting is None:
        count = _get(cfg, "training", "threads")
        setting = count if count is not None else AXIS_DEFAULTS["threads"]
    return str(setting)


def _interval(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """A window's interval: as recorded, or computed from its provenance (records written before intervals)."""
    if not entry or entry.get("total_kwh") is None:
        return None
    return entry.get("interval") or energy_interval(entry)


def _scaled(value: Any, entry: dict[str, Any] | None, iv: dict[str, Any] | None) -> tuple[Any, Any]:
    """Bounds of a figure derived from one window's energy (per 1k images, to target): the window's own factors."""
    total = (entry or {}).get("total_kwh")
    if value is None or not iv or not total:
        return None, None
    return value * iv["total_kwh"][0] / total, value * iv["total_kwh"][1] / total


def _sum_bounds(bounds: list[Any]) -> tuple[float, float] | None:
    return (sum(b[0] for b in bounds), sum(b[1] for b in bounds)) if bounds and all(bounds) else None


def _bounds(row: dict[str, Any], phases: dict[str, Any], energies: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``_low`` / ``_high`` columns of :data:`BOUNDED_COLUMNS`."""
    train, inference = _get(phases, "train", "energy"), _get(phases, "inference", "energy")
    train_iv, inference_iv = _interval(train), _interval(inference)
    compress_iv = _interval(_get(phases, "compress", "energy"))
    ivs = [_interval(e) for e in energies if e.get("total_kwh") is not None]
    whole = all(ivs)  # every metered window has an interval: the run's totals can be bounded
    nets = [e.get("net_interval_kwh") for e in energies if e.get("total_kwh") is not None]
    bounds = {
        "train_energy_kwh": train_iv and train_iv["total_kwh"],
        "train_co2_kg": train_iv and train_iv["co2_kg"],
        "compress_energy_kwh": compress_iv and compress_iv["total_kwh"],
        "total_energy_kwh": _sum_bounds([i["total_kwh"] for i in ivs]) if whole else None,
        "total_co2_kg": _sum_bounds([i["co2_kg"] for i in ivs]) if whole else None,
        "energy_to_target_kwh": _scaled(row.get("energy_to_target_kwh"), train, train_iv),
        "inference_energy_kwh_per_1k": _scaled(row.get("inference_energy_kwh_per_1k"), inference, inference_iv),
        # net above idle: the interval idle.net_energy recorded beside each net figure
        "train_net_energy_kwh": (train or {}).get("net_interval_kwh") if row.get("train_net_energy_kwh") is not None
        else None,
        "total_net_energy_kwh": _sum_bounds(nets) if row.get("total_net_energy_kwh") is not None and all(nets)
        else None,
        **{f"total_{c}_kwh": _sum_bounds([i[f"{c}_kwh"] for i in ivs]) if whole and row.get(f"total_{c}_kwh")
           is not None and all(i.get(f"{c}_kwh") for i in ivs) else None for c in ENERGY_COMPONENTS},
    }
    out: dict[str, Any] = {}
    for column, b in bounds.items():
        out[f"{column}_low"], out[f"{column}_high"] = (b[0], b[1]) if b else (None, None)
    return out


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
