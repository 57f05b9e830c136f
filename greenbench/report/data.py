"""What a report is built from: the records, their pandas frame, and what several sections share
(run labels, subsets, per-configuration aggregates, the Pareto front). Each section's own
numbers are computed in its module under :mod:`greenbench.report.sections`.

Pure pandas/numpy; no plotting here. Every function tolerates missing keys, since
records come from several versions of greenbench and from failed runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from greenbench.errors import UserError
from greenbench.choices import CONFIG_AXES, NO_COMPRESSION
from greenbench.results.frame import BOUNDED_COLUMNS, aggregate, records_frame
from greenbench.results.walk import find_records

from . import fmt

# Axes shown in run labels, in this order (backend and model always; the others when they vary).
LABEL_AXES = ("machine", *CONFIG_AXES)
GROUP_BY = ["machine", *CONFIG_AXES]
REPORT_METRICS = [
    "test_accuracy",
    "train_time_s",
    "total_time_s",
    "train_energy_kwh",
    "total_energy_kwh",
    "total_co2_kg",
    "time_to_target_s",
    "energy_to_target_kwh",
    "train_net_energy_kwh",
    "total_net_energy_kwh",
    "total_cpu_kwh",
    "total_gpu_kwh",
    "total_ram_kwh",
]
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


@dataclass
class Results:
    """Records aligned with the rows of ``df`` (``df.loc[i]`` is ``records[i]``)."""

    records: list[dict[str, Any]]
    df: pd.DataFrame
    corrupt: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    dirs: list[Path] = field(default_factory=list)

    @property
    def suites(self) -> list[str]:
        return sorted({str(s) for s in self.df["suite"].dropna()})

    @property
    def machines(self) -> list[str]:
        return sorted({str(m) for m in self.df["machine"].dropna()})


def load(dirs: Sequence[str | Path]) -> Results:
    """Read every record under ``dirs`` (result dirs, a parent of suite dirs, or record files)."""
    pairs: list[tuple[dict[str, Any], str]] = []
    corrupt: list[tuple[str, str]] = []
    for p in dirs:
        found = find_records(p)
        pairs.extend(found.records)
        corrupt.extend(found.corrupt)
    seen: set[tuple[Any, Any, str]] = set()
    unique: list[tuple[dict[str, Any], str]] = []
    for rec, src in pairs:
        key = (rec.get("run_id"), rec.get("machine"), src)
        if key not in seen:
            seen.add(key)
            unique.append((rec, src))
    if not unique:
        where = ", ".join(str(d) for d in dirs)
        if corrupt and len(dirs) == 1 and Path(dirs[0]).is_file():  # a file given, which is no record: say why
            raise UserError(" ".join(f"{dirs[0]}: a file, not a results directory, and not a run record "
                                     f"({corrupt[0][1]}); give a results directory (results/<suite>) or a record "
                                     "file".split()))
        if corrupt:  # name the problem, not only a count
            f, why = corrupt[0]
            raise UserError(" ".join(f"no run records found in {where}: {len(corrupt)} record file(s) could not be "
                                     f"read, e.g. {f}: {why}".split()))
        raise UserError(f"no run records found in {where}; run `greenbench run SUITE` first")
    df = records_frame(unique)  # deduplicated above on the same key, so row i is unique[i]
    records = [rec for rec, _ in unique]
    assert len(df) == len(records), "records and frame rows out of step"
    df = add_labels(df)
    df["baseline_size_bytes"] = [
        (r.get("compression") or {}).get("baseline_size_bytes") if isinstance(r.get("compression"), dict) else None
        for r in records
    ]
    df["inference_energy_source"] = [
        (r.get("compression") or {}).get("inference_energy_source") if isinstance(r.get("compression"), dict) else None
        for r in records
    ]
    return Results(records=records, df=df, corrupt=corrupt, dirs=[Path(d) for d in dirs])


# --------------------------------------------------------------------------- labels
def _axis_text(axis: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if axis == "dropout":
        return f"dropout {float(value):g}"
    if axis in ("l1", "l2"):
        return f"{axis.upper()} {float(value):g}"
    if axis == "compression" and value == NO_COMPRESSION:
        return ""  # the plain trained model; variants name their method
    if axis == "augmentation":
        return f"aug {value}"
    return str(value)


def varying_axes(df: pd.DataFrame) -> list[str]:
    """Label axes needed to tell runs apart (backend and model always count).

    An axis counts when two runs agree on every other varying axis but differ in this one;
    an axis that only follows another (say, each model's own dropout) adds nothing to a label.
    """
    cands = [a for a in LABEL_AXES if a in df and df[a].astype(str).nunique(dropna=False) > 1]
    text = df[cands].astype(str) if cands else pd.DataFrame(index=df.index)
    out = []
    for axis in LABEL_AXES:
        if axis in ("backend", "model"):
            out.append(axis)
        elif axis in cands:
            others = [c for c in cands if c != axis]
            needed = (text.groupby(others)[axis].nunique() > 1).any() if others else True
            if needed:
                out.append(axis)
    return out


def join_label(parts: Iterable[str]) -> str:
    return " · ".join(p for p in parts if p)


def add_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``config_label`` (without the seed) and ``label`` (with it) to every row."""
    df = df.copy()
    axes = varying_axes(df)
    df["config_label"] = [join_label(_axis_text(a, row[a]) for a in axes) for _, row in df.iterrows()]
    df["label"] = [f"{cl} · s{int(s)}" if fmt.finite(s) else cl for cl, s in zip(df["config_label"], df["seed"])]
    df["estimated"] = df["energy_source"].isin(fmt.ESTIMATED_SOURCES)
    df["low_confidence"] = df["energy_low_confidence"].fillna(False).astype(bool)
    # Co-tenancy: a run measured while other processes shared the machine carries § in its label, wherever
    # the label appears (its time and energy may be inflated); the reason is in the Methodology section.
    shared = df["contaminated"] if "contaminated" in df.columns else pd.Series(None, index=df.index)
    df["shared_machine"] = shared.map(lambda v: v is True or v == 1).astype(bool)
    df["label"] = [f"{lab} {fmt.SHARED}" if c else lab for lab, c in zip(df["label"], df["shared_machine"])]
    return df


def contaminated(df: pd.DataFrame) -> pd.DataFrame:
    """The runs measured while other processes shared the machine (``§``)."""
    return df[df["shared_machine"]] if "shared_machine" in df.columns else df.iloc[0:0]


def config_key(row: pd.Series | dict[str, Any]) -> tuple[str, ...]:
    out = []
    for c in GROUP_BY:
        v = row.get(c) if isinstance(row, dict) else row[c]
        out.append("-" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    return tuple(out)


# --------------------------------------------------------------------------- subsets
def completed(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "completed"]


def primary(df: pd.DataFrame) -> pd.DataFrame:
    """Completed training runs (uncompressed); compression variants are compared on their own."""
    done = completed(df)
    base = done[done["compression"].fillna(NO_COMPRESSION) == NO_COMPRESSION]
    return base if not base.empty else done


def with_energy(df: pd.DataFrame, col: str = "total_energy_kwh") -> pd.DataFrame:
    return df[pd.to_numeric(df[col], errors="coerce").notna()]


def aggregates(df: pd.DataFrame, metrics: Sequence[str] = REPORT_METRICS) -> pd.DataFrame:
    """Mean, std and 95 % CI over seeds per configuration, with the labels of ``df`` attached."""
    agg = aggregate(df, metrics=list(metrics), by=GROUP_BY)
    if agg.empty:
        return agg.assign(config_label=pd.Series(dtype=object), estimated=pd.Series(dtype=bool),
                          low_confidence=pd.Series(dtype=bool))
    labels = {config_key(r): r["config_label"] for _, r in df.iterrows()}
    est = df.groupby(df.apply(config_key, axis=1))["estimated"].any().to_dict()
    low = (df.groupby(df.apply(config_key, axis=1))["low_confidence"].any().to_dict()
           if "low_confidence" in df else {})
    keys = [config_key(r) for _, r in agg.iterrows()]
    agg["config_label"] = [labels.get(k, " · ".join(k)) for k in keys]
    agg["estimated"] = [bool(est.get(k, False)) for k in keys]
    agg["low_confidence"] = [bool(low.get(k, False)) for k in keys]  # some run has a too-short reading
    done = df[df["status"] == "completed"]
    groups = {k: g for k, g in done.groupby(done.apply(config_key, axis=1))} if not done.empty else {}
    for m in metrics:
        if m not in BOUNDED_COLUMNS or f"{m}_low" not in df:
            continue
        bounds = [method_bounds(groups.get(k), m) for k in keys]
        agg[f"{m}_method_low"] = [b[0] for b in bounds]
        agg[f"{m}_method_high"] = [b[1] for b in bounds]
    agg["methods"] = [method_signature(groups[k]) if k in groups else () for k in keys]
    return agg


def method_bounds(runs: pd.DataFrame | None, metric: str) -> tuple[float, float]:
    """A configuration's method interval of ``metric`` over its seeds: the mean of the runs' lows and the
    mean of their highs (the same runs the mean is taken over). NaN when a run with a figure has no bounds:
    no interval is claimed for a mean that includes an unbounded figure."""
    if runs is None or runs.empty:
        return math.nan, math.nan
    val = pd.to_numeric(runs[metric], errors="coerce")
    lo = pd.to_numeric(runs[f"{metric}_low"], errors="coerce")[val.notna()]
    hi = pd.to_numeric(runs[f"{metric}_high"], errors="coerce")[val.notna()]
    if not val.notna().any() or lo.isna().any() or hi.isna().any():
        return math.nan, math.nan
    return float(lo.mean()), float(hi.mean())


METHOD_COLUMNS = ("cpu_energy_source", "gpu_energy_source", "ram_energy_source")
NO_METHOD = {"none", "disabled", "unavailable", "unknown", ""}


def run_methods(row: pd.Series | dict[str, Any]) -> tuple[str, ...]:
    """The energy methods (provenance labels) of one run's figures, e.g. ``("cpu=estimated:tdp", ...)``."""
    out = []
    for col in METHOD_COLUMNS:
        v = row.get(col) if isinstance(row, dict) else (row[col] if col in row else None)
        if isinstance(v, str):
            labels = [x for x in v.split("+") if x not in NO_METHOD]
            if labels:
                out.append(f"{col.split('_')[0]}={'+'.join(labels)}")
    return tuple(out)


def method_signature(runs: pd.DataFrame) -> tuple[str, ...]:
    """The methods of a configuration's runs (all seeds together)."""
    return tuple(sorted({m for _, r in runs.iterrows() for m in run_methods(r)}))


def mean_ci(agg_row: pd.Series | None, metric: str) -> tuple[float, float, int]:
    """(mean, half-width of the 95 % CI or NaN, n) of ``metric`` in one aggregate row."""
    if agg_row is None:
        return math.nan, math.nan, 0
    mean = float(agg_row.get(f"{metric}_mean", math.nan))
    lo, hi = agg_row.get(f"{metric}_ci_low", math.nan), agg_row.get(f"{metric}_ci_high", math.nan)
    half = (float(hi) - float(lo)) / 2 if fmt.finite(lo) and fmt.finite(hi) else math.nan
    return mean, half, int(agg_row.get("n", 0))


# --------------------------------------------------------------------------- answers
def pareto_mask(cost: Iterable[float], gain: Iterable[float]) -> np.ndarray:
    """True for points no other point beats (lower or equal cost and higher or equal gain, one strictly)."""
    c = np.asarray(list(cost), dtype=float)
    g = np.asarray(list(gain), dtype=float)
    mask = np.zeros(len(c), dtype=bool)
    order = np.lexsort((-g, c))  # by cost ascending, then gain descending
    best = -np.inf
    for i in order:
        if not (np.isfinite(c[i]) and np.isfinite(g[i])):
            continue
        if g[i] > best:
            mask[i] = True
            best = g[i]
    return mask


# --------------------------------------------------------------------------- per-record details
def class_names(dataset: Any, n: int) -> list[str]:
    if dataset == "fashion-mnist" and n == len(FASHION_CLASSES):
        return list(FASHION_CLASSES)
    return [str(i) for i in range(n)]


def _run_conditions(runs: pd.DataFrame) -> dict[str, Any]:
    """What runs ran under beyond their configuration: threads, OpenMP's wait policy, loop style, shared machine."""
    def values(col: str) -> tuple[str, ...]:
        if col not in runs:
            return ()
        return tuple(sorted({str(int(v)) if fmt.finite(v) else str(v) for v in runs[col].dropna()}))

    shared = int(runs["shared_machine"].sum()) if "shared_machine" in runs else 0
    return {"intra-op threads": values("intra_op_threads"), "OpenMP wait": values("omp_wait_policy"),
            "loop": values("loop"), "shared": shared, "runs": len(runs)}


def condition_differences(a: pd.DataFrame, b: pd.DataFrame, skip: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """How runs ``a`` and runs ``b`` differ in intra-op threads, OpenMP wait policy, loop style or co-tenancy,
    one phrase each (``intra-op threads 2 vs 1``); ``skip`` leaves out what a comparison changes on purpose."""
    ca, cb = _run_conditions(a), _run_conditions(b)
    out = [f"{name} {'/'.join(ca[name])} vs {'/'.join(cb[name])}"
           for name in ("intra-op threads", "OpenMP wait", "loop")
           if name not in skip and ca[name] and cb[name] and ca[name] != cb[name]]
    if ca["shared"] or cb["shared"]:
        out.append(f"{fmt.SHARED} shared machine: {ca['shared']} of {ca['runs']} vs {cb['shared']} of {cb['runs']} runs")
    return out
