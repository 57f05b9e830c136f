"""What a report is built from: the records, their pandas frame and the derived answers.

Pure pandas/numpy; no plotting here. Every function tolerates missing keys, since
records come from several versions of greenbench and from failed runs.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from greenbench.errors import UserError
from greenbench.results.frame import CONFIG_COLUMNS, aggregate, records_frame
from greenbench.results.store import ResultStore, read_record

from . import fmt

# Axes shown in run labels, in this order (backend and model always; the others when they vary).
LABEL_AXES = (
    "machine",
    "backend",
    "model",
    "device",
    "optimizer",
    "compression",
    "dropout",
    "l1",
    "l2",
    "augmentation",
)
GROUP_BY = ["machine", *[c for c in CONFIG_COLUMNS if c != "seed"]]
REPORT_METRICS = [
    "test_accuracy",
    "train_time_s",
    "total_time_s",
    "train_energy_kwh",
    "total_energy_kwh",
    "total_co2_kg",
    "time_to_target_s",
    "energy_to_target_kwh",
]
NEAR_BEST_PP = 0.5  # "greenest run within 0.5 pp of the best accuracy"

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
    for p in map(Path, dirs):
        if p.is_file():
            try:
                pairs.append((read_record(p), str(p.parent)))
            except ValueError as exc:
                corrupt.append((str(p), str(exc)))
        elif p.is_dir():
            for d in [p, *sorted(x for x in p.iterdir() if x.is_dir() and not x.name.startswith("."))]:
                scan = ResultStore(d).scan()
                pairs.extend((rec, str(d)) for rec in scan.records.values())
                corrupt.extend((str(f), why) for f, why in scan.corrupt)
        else:
            raise UserError(f"{p}: no such results directory or record file")
    seen: set[tuple[Any, Any, str]] = set()
    unique: list[tuple[dict[str, Any], str]] = []
    for rec, src in pairs:
        key = (rec.get("run_id"), rec.get("machine"), src)
        if key not in seen:
            seen.add(key)
            unique.append((rec, src))
    if not unique:
        where = ", ".join(str(d) for d in dirs)
        extra = f" ({len(corrupt)} unreadable record file(s))" if corrupt else ""
        raise UserError(f"no run records found in {where}{extra}; run `greenbench run SUITE` first")
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
    if axis == "compression" and value == "none":
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
    return df


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
    base = done[done["compression"].fillna("none") == "none"]
    return base if not base.empty else done


def with_energy(df: pd.DataFrame, col: str = "total_energy_kwh") -> pd.DataFrame:
    return df[pd.to_numeric(df[col], errors="coerce").notna()]


def aggregates(df: pd.DataFrame, metrics: Sequence[str] = REPORT_METRICS) -> pd.DataFrame:
    """Mean, std and 95 % CI over seeds per configuration, with the labels of ``df`` attached."""
    agg = aggregate(df, metrics=list(metrics), by=GROUP_BY)
    if agg.empty:
        return agg.assign(config_label=pd.Series(dtype=object), estimated=pd.Series(dtype=bool))
    labels = {config_key(r): r["config_label"] for _, r in df.iterrows()}
    est = df.groupby(df.apply(config_key, axis=1))["estimated"].any().to_dict()
    keys = [config_key(r) for _, r in agg.iterrows()]
    agg["config_label"] = [labels.get(k, " · ".join(k)) for k in keys]
    agg["estimated"] = [bool(est.get(k, False)) for k in keys]
    return agg


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


@dataclass
class Headline:
    best: pd.Series | None
    greenest: pd.Series | None
    near_best: pd.Series | None
    totals: dict[str, Any]
    best_agg: pd.Series | None = None
    greenest_agg: pd.Series | None = None
    near_best_agg: pd.Series | None = None
    saving_vs_best: float | None = None  # fraction of the best run's energy the near-best run saves


def headline(df: pd.DataFrame, agg: pd.DataFrame) -> Headline:
    runs = primary(df)
    runs = runs[pd.to_numeric(runs["test_accuracy"], errors="coerce").notna()]
    best = greenest = near = None
    if not runs.empty:
        acc = pd.to_numeric(runs["test_accuracy"])
        energy = pd.to_numeric(runs["total_energy_kwh"], errors="coerce")
        # best accuracy; ties go to the lower energy
        top = runs[acc == acc.max()]
        best = top.loc[pd.to_numeric(top["total_energy_kwh"], errors="coerce").fillna(np.inf).idxmin()]
        if energy.notna().any():
            greenest = runs.loc[energy.idxmin()]
            near_runs = runs[(acc >= acc.max() - NEAR_BEST_PP / 100 - 1e-12) & energy.notna()]
            if not near_runs.empty:
                near = near_runs.loc[pd.to_numeric(near_runs["total_energy_kwh"]).idxmin()]
    totals = {
        "runs": len(df),
        "completed": int((df["status"] == "completed").sum()),
        "time_s": _nansum(df["total_time_s"]),
        "energy_kwh": _nansum(df["total_energy_kwh"]),
        "co2_kg": _nansum(df["total_co2_kg"]),
        "estimated": bool(df.loc[pd.to_numeric(df["total_energy_kwh"], errors="coerce").notna(), "estimated"].any()),
        "low_confidence": bool(df["low_confidence"].any()),
        "runs_without_energy": int(
            (pd.to_numeric(df["total_energy_kwh"], errors="coerce").isna() & (df["status"] == "completed")).sum()
        ),
    }
    by_key = {config_key(r): r for _, r in agg.iterrows()} if not agg.empty else {}
    h = Headline(best=best, greenest=greenest, near_best=near, totals=totals)
    h.best_agg = by_key.get(config_key(best)) if best is not None else None
    h.greenest_agg = by_key.get(config_key(greenest)) if greenest is not None else None
    h.near_best_agg = by_key.get(config_key(near)) if near is not None else None
    if near is not None and best is not None and fmt.finite(best["total_energy_kwh"]) and best["total_energy_kwh"] > 0:
        h.saving_vs_best = 1.0 - float(near["total_energy_kwh"]) / float(best["total_energy_kwh"])
    return h


def _nansum(s: pd.Series) -> float | None:
    v = pd.to_numeric(s, errors="coerce")
    return float(v.sum()) if v.notna().any() else None


def head_to_head(agg: pd.DataFrame, factor: str) -> list[dict[str, Any]]:
    """Each level of ``factor`` against the first, over configurations that differ only in ``factor``.

    Ratios of time, energy and CO₂ are geometric means over the matched configurations;
    the accuracy difference is a mean in percentage points.
    """
    if agg.empty or factor not in agg or agg[factor].nunique() < 2:
        return []
    others = [c for c in GROUP_BY if c != factor]
    levels = sorted(agg[factor].astype(str).unique())
    ref = levels[0]
    rows = []
    metrics = {"time": "train_time_s_mean", "energy": "total_energy_kwh_mean", "co2": "total_co2_kg_mean"}
    keyed = agg.assign(_k=agg[others].astype(str).agg("|".join, axis=1), _f=agg[factor].astype(str))
    base = keyed[keyed["_f"] == ref].set_index("_k")
    for level in levels[1:]:
        cur = keyed[keyed["_f"] == level].set_index("_k")
        common = base.index.intersection(cur.index)
        if common.empty:
            continue
        row: dict[str, Any] = {"factor": factor, "level": level, "reference": ref, "matched": len(common)}
        for name, col in metrics.items():
            a = pd.to_numeric(cur.loc[common, col], errors="coerce")
            b = pd.to_numeric(base.loc[common, col], errors="coerce")
            ok = (a > 0) & (b > 0)
            row[name] = float(np.exp(np.mean(np.log(a[ok] / b[ok])))) if ok.any() else math.nan
        da = pd.to_numeric(cur.loc[common, "test_accuracy_mean"], errors="coerce") - pd.to_numeric(
            base.loc[common, "test_accuracy_mean"], errors="coerce"
        )
        row["accuracy_pp"] = float(da.mean() * 100) if da.notna().any() else math.nan
        row["estimated"] = bool(cur.loc[common, "estimated"].any() or base.loc[common, "estimated"].any())
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- per-record details
def class_names(dataset: Any, n: int) -> list[str]:
    if dataset == "fashion-mnist" and n == len(FASHION_CLASSES):
        return list(FASHION_CLASSES)
    return [str(i) for i in range(n)]


def per_class(df: pd.DataFrame, records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per completed run with ``per_class_accuracy``: the classes as columns plus gap facts."""
    rows = []
    for i, row in completed(df).iterrows():
        pca = (records[i].get("metrics") or {}).get("per_class_accuracy")
        if not isinstance(pca, list) or not pca or not all(fmt.finite(v) for v in pca):
            continue
        vals = [float(v) for v in pca]
        names = class_names(row["dataset"], len(vals))
        worst, best = int(np.argmin(vals)), int(np.argmax(vals))
        rows.append(
            {
                "index": i,
                "label": row["label"],
                "config_label": row["config_label"],
                "compression": row["compression"],
                "accuracy": row["test_accuracy"],
                "classes": names,
                "values": vals,
                "worst_class": names[worst],
                "worst": vals[worst],
                "best_class": names[best],
                "best": vals[best],
                "gap": vals[best] - vals[worst],
            }
        )
    return pd.DataFrame(rows)


def history_frame(df: pd.DataFrame, records: list[dict[str, Any]]) -> pd.DataFrame:
    """Per-epoch history of completed primary runs in long form (with cumulative energy)."""
    rows = []
    for i, row in primary(df).iterrows():
        hist = records[i].get("history") or []
        cum_e = 0.0
        have_e = True
        for h in hist:
            if not isinstance(h, dict) or not fmt.finite(h.get("epoch")):
                continue
            e = h.get("energy_kwh")
            if fmt.finite(e) and have_e:
                cum_e += float(e)
            else:
                have_e = False
            rows.append(
                {
                    "index": i,
                    "label": row["label"],
                    "config_label": row["config_label"],
                    "backend": row["backend"],
                    "model": row["model"],
                    "seed": row["seed"],
                    "epoch": int(h["epoch"]),
                    "train_loss": _f(h.get("train_loss")),
                    "train_accuracy": _f(h.get("train_accuracy")),
                    "val_accuracy": _f(h.get("val_accuracy")),
                    "cum_energy_kwh": cum_e if have_e else math.nan,
                    "estimated": bool(row["estimated"]),
                }
            )
    return pd.DataFrame(rows)


def _f(v: Any) -> float:
    return float(v) if fmt.finite(v) else math.nan


@dataclass
class Samples:
    images: np.ndarray  # (n, 28, 28) uint8
    labels: list[int]
    predictions: list[int]
    indices: list[int]


def decode_samples(samples: Any) -> Samples | str:
    """The sample predictions of a record, or a one-line reason why they cannot be shown."""
    if not isinstance(samples, dict):
        return "no sample predictions were recorded"
    labels, preds = samples.get("labels"), samples.get("predictions")
    if not isinstance(labels, list) or not isinstance(preds, list) or len(labels) != len(preds) or not labels:
        return "the recorded samples have no matching labels and predictions"
    try:
        raw = base64.b64decode(samples.get("images_b64") or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        return "the recorded sample images are not valid base64"
    n = len(labels)
    if len(raw) != n * 28 * 28:
        return f"the recorded sample images hold {len(raw)} bytes, expected {n}×28×28"
    try:
        lab = [int(v) for v in labels]
        pre = [int(v) for v in preds]
    except (TypeError, ValueError):
        return "the recorded sample labels are not integers"
    idx = samples.get("indices")
    indices = [int(v) for v in idx] if isinstance(idx, list) and len(idx) == n else list(range(n))
    return Samples(np.frombuffer(raw, dtype=np.uint8).reshape(n, 28, 28), lab, pre, indices)


# --------------------------------------------------------------------------- methodology
PROVENANCE_TEXT = {
    "measured:rapl": "measured with RAPL energy counters (Intel/AMD, via the Linux powercap interface)",
    "measured:nvml": "measured with NVIDIA NVML (board energy counter or sampled power)",
    "measured:powermetrics": "measured with Apple powermetrics",
    "measured:intel-power-gadget": "measured with Intel Power Gadget",
    "estimated:tdp": "estimated from the CPU's thermal design power (TDP) × load, codecarbon's model",
    "estimated:constant": "estimated from a constant power figure",
    "estimated:ram-model": "estimated from installed memory size, codecarbon's RAM power model",
    "estimated:ram": "estimated from installed memory size, codecarbon's RAM power model",
    "none": "not metered (no such device, or not used by the run)",
    "disabled": "energy measurement was switched off in the suite",
    "unavailable": "no energy reading could be obtained",
}
ENERGY_KNOWN_KEYS = {
    "cpu_kwh",
    "gpu_kwh",
    "ram_kwh",
    "total_kwh",
    "co2_kg",
    "energy_source",
    "provenance",
    "country",
    "carbon_intensity_g_per_kwh",
    "low_confidence",
}


def describe_provenance(value: str) -> str:
    if value in PROVENANCE_TEXT:
        return PROVENANCE_TEXT[value]
    kind, _, how = value.partition(":")
    if kind in ("measured", "estimated") and how:
        return f"{kind} ({how})"
    return value


def provenance_table(df: pd.DataFrame, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How energy was obtained: one row per (machine, device, provenance) with phase counts."""
    counts: Counter[tuple[str, str, str]] = Counter()
    runs: dict[tuple[str, str, str], set[int]] = {}
    for i, rec in enumerate(records):
        machine = str(df.at[i, "machine"])
        for phase in (rec.get("phases") or {}).values():
            energy = (phase or {}).get("energy") if isinstance(phase, dict) else None
            if not isinstance(energy, dict):
                continue
            prov = energy.get("provenance")
            if isinstance(prov, dict) and prov:
                items = [(str(k), str(v)) for k, v in prov.items()]
            else:
                items = [("all", str(energy.get("energy_source") or "unknown"))]
            for device, how in items:
                key = (machine, device, how)
                counts[key] += 1
                runs.setdefault(key, set()).add(i)
    order = {"cpu": 0, "gpu": 1, "ram": 2}
    out = []
    for (machine, device, how), n in sorted(
        counts.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9), kv[0][2])
    ):
        out.append(
            {
                "machine": machine,
                "device": device.upper() if device in order else device,
                "provenance": how,
                "meaning": describe_provenance(how),
                "kind": how.partition(":")[0],
                "phases": n,
                "runs": len(runs[(machine, device, how)]),
            }
        )
    return out


def energy_extras(records: list[dict[str, Any]], limit: int = 20) -> list[tuple[str, str, int]]:
    """Keys the measurement helper added beyond the known ones: (key, value, phases), most common first.

    Text values are counted per distinct value; numbers (sample counts, power readings) vary from
    phase to phase, so each numeric key is one row with its range over the phases.
    """
    c: Counter[tuple[str, str]] = Counter()
    numbers: dict[str, list[float]] = {}
    for rec in records:
        for phase in (rec.get("phases") or {}).values():
            energy = (phase or {}).get("energy") if isinstance(phase, dict) else None
            if not isinstance(energy, dict):
                continue
            for k, v in energy.items():
                if k in ENERGY_KNOWN_KEYS or v is None:
                    continue
                if isinstance(v, (int, float)) and not isinstance(v, bool) and fmt.finite(v):
                    numbers.setdefault(str(k), []).append(float(v))
                else:
                    c[(str(k), fmt.truncate(v if not isinstance(v, (dict, list)) else _compact(v), 300))] += 1
    for k, vals in numbers.items():
        show = (lambda x: f"{int(x):,}") if all(x.is_integer() for x in vals) else fmt.num
        lo, hi = show(min(vals)), show(max(vals))
        text = lo if lo == hi else f"{lo} – {hi}"
        c[(k, text)] = len(vals)
    return [(k, v, n) for (k, v), n in c.most_common(limit)]


def _compact(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}={_compact(x)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(_compact(x) for x in v)
    return str(v)


def flatten(d: Any, prefix: str = "") -> dict[str, str]:
    """Nested dicts → ``{"a.b": "value"}``; lists joined; long values truncated."""
    out: dict[str, str] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                out.update(flatten(v, key))
            elif str(k).endswith("_bytes") and fmt.finite(v):
                out[key] = f"{fmt.size(v)} ({int(v):,} bytes)"
            elif isinstance(v, list) and not v:
                out[key] = "none"
            else:
                out[key] = fmt.truncate(_compact(v) if isinstance(v, (dict, list)) else ("" if v is None else v), 200)
    return out


def environment(df: pd.DataFrame, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per machine: software versions, system facts, and keys whose value changed between runs."""
    per_machine: dict[str, list[dict[str, str]]] = {}
    versions: dict[str, dict[str, str]] = {}
    for i, rec in enumerate(records):
        machine = str(df.at[i, "machine"])
        env = rec.get("env") if isinstance(rec.get("env"), dict) else {}
        flat = flatten({k: v for k, v in env.items() if k != "versions"})
        per_machine.setdefault(machine, []).append(flat)
        v = versions.setdefault(machine, {})
        v.setdefault("greenbench", str(rec.get("greenbench_version") or ""))
        if isinstance(env.get("versions"), dict):
            for pkg, ver in env["versions"].items():
                if ver is not None:
                    v.setdefault(str(pkg), fmt.truncate(ver, 80))
    machines = sorted(per_machine)
    system: dict[str, dict[str, str]] = {}
    changed: dict[str, list[str]] = {}
    for m in machines:
        flats = per_machine[m]
        keys = sorted({k for f in flats for k in f})
        for k in keys:
            values = {f.get(k, "") for f in flats}
            system.setdefault(k, {})[m] = flats[0].get(k, "")
            if len(values) > 1:
                changed.setdefault(m, []).append(k)
    packages = sorted({p for v in versions.values() for p in v}, key=lambda p: (p != "greenbench", p))
    return {
        "machines": machines,
        "system": system,
        "versions": {p: {m: versions[m].get(p, "") for m in machines} for p in packages},
        "changed": changed,
    }
