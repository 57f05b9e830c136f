"""Hardware comparison: results from several machines in one table, each relative to a reference machine.

Pure functions of :func:`greenbench.results.load_results` frames (the report calls them too)::

    df = load_results(["ci/ubuntu-latest", "ci/ubuntu-24.04-arm", "ci/macos-14"])
    table = hardware_table(df)                     # reference: the first machine in the frame
    hardware_summary(table)                        # one row per machine: geometric means
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from greenbench.errors import UserError
from greenbench.choices import CONFIG_AXES, LABEL_AXES
from greenbench.compare.methods import NO_CLAIM, methods
from greenbench.results.frame import BOUNDED_COLUMNS, load_results

# A workload, as far as a results frame can tell: the suite (model widths live there) and every
# configuration column except the seed, plus the data and training settings.
HARDWARE_KEY = [
    "suite",
    *CONFIG_AXES,
    "dataset",
    "epochs",
    "batch_size",
    "learning_rate",
    "train_samples",
    "test_samples",
]
DEFAULT_HARDWARE_METRICS = ("train_time_s", "total_energy_kwh")


def _method_text(grp: pd.DataFrame) -> str | None:
    """The per-component energy method of a machine's runs: ``"cpu estimated:tdp, gpu none, ram estimated:ram-model"``
    (several, joined by `` / ``, when its runs differ); ``None`` when not recorded."""
    found = sorted(", ".join(f"{c} {p or 'none'}" for c, p in zip(("cpu", "gpu", "ram"), m)) for m in methods(grp))
    return " / ".join(found) if found else None


def _bounds_of_mean(grp: pd.DataFrame, metric: str) -> tuple[float, float]:
    """The method's interval of the mean: the means of the runs' bounds (a systematic error moves every run
    alike), when every run with a value has its bounds."""
    vals = pd.to_numeric(grp[metric], errors="coerce").dropna()
    if f"{metric}_low" not in grp or f"{metric}_high" not in grp:
        return np.nan, np.nan
    lows = pd.to_numeric(grp[f"{metric}_low"], errors="coerce").dropna()
    highs = pd.to_numeric(grp[f"{metric}_high"], errors="coerce").dropna()
    if len(vals) and len(lows) == len(highs) == len(vals):
        return float(np.mean(lows)), float(np.mean(highs))
    return np.nan, np.nan


def _frame(results: pd.DataFrame | str | Path | Sequence[str | Path]) -> pd.DataFrame:
    return results if isinstance(results, pd.DataFrame) else load_results(results)


def hardware_table(
    results: pd.DataFrame | str | Path | Sequence[str | Path],
    metrics: Sequence[str] = DEFAULT_HARDWARE_METRICS,
    reference: str | None = None,
) -> pd.DataFrame:
    """One row per workload × machine: means over the repeats and ratios to the reference machine.

    ``results`` is a :func:`load_results` frame (or paths to load). ``reference`` names the
    machine the others are compared with; by default the first machine in the frame (the first
    directory given). Columns: the workload columns, ``workload`` (a label), ``machine``,
    ``cpu_model``, ``energy_source``, ``n``, ``<metric>_mean``, ``<metric>_std``,
    ``<metric>_ratio`` (machine / reference), ``relative_speed`` (reference time / machine time,
    > 1 is faster; when ``train_time_s`` is among the metrics), ``relative_energy`` (machine /
    reference energy, < 1 is greener; when ``total_energy_kwh`` is) and ``reference``.
    A workload the reference machine did not run has NaN ratios.

    Energy and CO₂ metrics (:data:`greenbench.results.frame.BOUNDED_COLUMNS`) also get
    ``<metric>_low`` / ``<metric>_high`` beside the mean: the interval of the mean by the method that
    produced it (:mod:`greenbench.measure.intervals`). ``energy_method`` names that method per
    component; where a machine's method differs from the reference's for the workload, its energy and
    CO₂ ratios (and ``relative_energy``) are NaN and ``energy_note`` says why: a ratio would compare
    methods, not machines.
    """
    df = _frame(results)
    metrics = list(metrics)
    unknown = [m for m in metrics if m not in df.columns]
    if unknown:
        raise UserError(f"unknown metric(s) {', '.join(unknown)} for the hardware table")
    done = df[df["status"] == "completed"].copy()
    bounded = [m for m in metrics if m in BOUNDED_COLUMNS]
    out_cols = [*HARDWARE_KEY, "workload", "machine", "cpu_model", "energy_source", "energy_method", "n",
                *[f"{m}_{s}" for m in metrics
                  for s in (("mean", "low", "high", "std", "ratio") if m in bounded else ("mean", "std", "ratio"))],
                "energy_note", "reference"]
    if done.empty:
        return pd.DataFrame(columns=out_cols)
    machines = list(dict.fromkeys(str(m) for m in done["machine"].fillna("unknown")))
    ref = reference if reference is not None else machines[0]
    if ref not in machines:
        raise UserError(f"reference machine {ref!r} is not in the results; machines: {', '.join(machines)}")
    done["machine"] = done["machine"].fillna("unknown").astype(str)
    for col in HARDWARE_KEY:
        done[col] = done[col].astype(object).where(done[col].notna(), "-")
    rows = []
    for key, grp in done.groupby([*HARDWARE_KEY, "machine"], sort=False, dropna=False):
        row = dict(zip([*HARDWARE_KEY, "machine"], key))
        row["workload"] = "/".join(str(row[c]) for c in LABEL_AXES)
        row["cpu_model"] = next(iter(grp["cpu_model"].dropna()), None)
        sources = sorted({str(s) for s in grp["energy_source"].dropna()})
        row["energy_source"] = "+".join(sources) if sources else None
        row["energy_method"] = _method_text(grp)
        row["n"] = len(grp)
        for m in metrics:
            vals = pd.to_numeric(grp[m], errors="coerce").dropna().to_numpy(dtype=float)
            row[f"{m}_mean"] = float(vals.mean()) if len(vals) else np.nan
            if m in bounded:
                row[f"{m}_low"], row[f"{m}_high"] = _bounds_of_mean(grp, m)
            row[f"{m}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    ref_means = table.loc[table["machine"] == ref, [*HARDWARE_KEY, "energy_method", *[f"{m}_mean" for m in metrics]]]
    ref_means = ref_means.rename(columns={"energy_method": "_ref_method",
                                          **{f"{m}_mean": f"_ref_{m}" for m in metrics}})
    table = table.merge(ref_means, on=HARDWARE_KEY, how="left")
    ref_method = table.pop("_ref_method")
    # Energy from different methods on this machine and the reference: no ratio (it would compare methods).
    differs = table["energy_method"].notna() & ref_method.notna() & (table["energy_method"] != ref_method)
    table["energy_note"] = [
        f"energy method differs from the reference {ref}'s ({r}): {NO_CLAIM}" if d else None
        for d, r in zip(differs, ref_method)
    ]
    for m in metrics:
        ref_vals = pd.to_numeric(table.pop(f"_ref_{m}"), errors="coerce")
        table[f"{m}_ratio"] = table[f"{m}_mean"] / ref_vals.where(ref_vals > 0)
        if m in bounded:
            table.loc[differs, f"{m}_ratio"] = np.nan
    if "train_time_s" in metrics:
        table["relative_speed"] = 1.0 / table["train_time_s_ratio"]
    if "total_energy_kwh" in metrics:
        table["relative_energy"] = table["total_energy_kwh_ratio"]
    table["reference"] = ref
    order = {m: i for i, m in enumerate(machines)}
    table["_m"] = table["machine"].map(order)
    table = table.sort_values([*HARDWARE_KEY, "_m"], kind="stable").drop(columns="_m").reset_index(drop=True)
    extra = [c for c in ("relative_speed", "relative_energy") if c in table]
    return table[[*out_cols[:-2], *extra, "energy_note", "reference"]]


def _geomean(x: pd.Series) -> float:
    v = pd.to_numeric(x, errors="coerce").dropna()
    v = v[v > 0]
    return float(np.exp(np.log(v).mean())) if len(v) else np.nan


def hardware_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per machine of a :func:`hardware_table`: workloads run, workloads shared with the
    reference, and the geometric means of every ``*_ratio`` column (and of ``relative_speed``)
    over the shared workloads."""
    ratio_cols = [c for c in table.columns if c.endswith("_ratio") or c in ("relative_speed", "relative_energy")]
    rows = []
    for machine, grp in table.groupby("machine", sort=False):
        row = {"machine": machine, "cpu_model": next(iter(grp["cpu_model"].dropna()), None),
               "workloads": len(grp)}
        first_ratio = next((c for c in ratio_cols), None)
        row["shared_with_reference"] = int(grp[first_ratio].notna().sum()) if first_ratio else 0
        for c in ratio_cols:
            row[f"{c}_geomean" if c.endswith("_ratio") else c] = _geomean(grp[c])
        rows.append(row)
    out = pd.DataFrame(rows)
    if not out.empty:
        out["reference"] = table["reference"].iloc[0]
    return out
