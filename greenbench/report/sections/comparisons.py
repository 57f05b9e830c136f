"""Comparisons by backend, model and optimizer: per configuration, and one factor at a time."""

from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from greenbench.measure.intervals import RATIO_CAVEAT
from greenbench.results.frame import ENERGY_COMPONENTS

from .. import bounds
from .. import data as rd
from .. import fmt, plot
from ..markdown import md_escape, md_tables
from .base import Inputs, Section, Spec, Table, pm


def head_to_head(agg: pd.DataFrame, factor: str) -> list[dict[str, Any]]:
    """Each level of ``factor`` against the first, over configurations that differ only in ``factor``.

    Ratios of time, energy and CO₂ are geometric means over the matched configurations;
    the accuracy difference is a mean in percentage points.
    """
    if agg.empty or factor not in agg or agg[factor].nunique() < 2:
        return []
    others = [c for c in rd.GROUP_BY if c != factor]
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
        row["energy_range"] = ratio_range(cur.loc[common], base.loc[common])
        row["accuracy_pp"] = float(da.mean() * 100) if da.notna().any() else math.nan
        row["estimated"] = bool(cur.loc[common, "estimated"].any() or base.loc[common, "estimated"].any())
        if "methods" in keyed:
            same = {bounds.compare_methods(cur.at[k, "methods"], base.at[k, "methods"]) for k in common}
            row["methods"] = "different" if "different" in same else ("same" if same == {"same"} else "unknown")
            row["level_methods"] = sorted({m for k in common for m in cur.at[k, "methods"]})
            row["reference_methods"] = sorted({m for k in common for m in base.at[k, "methods"]})
        else:
            row["methods"] = "unknown"
        rows.append(row)
    return rows


def ratio_range(cur: pd.DataFrame, base: pd.DataFrame) -> tuple[float, float] | None:
    """The range of a same-method energy ratio (geometric mean over matched configurations) when each
    component's method errs by one factor on both sides, anywhere within its band, independently of the
    other components: ``(low, high)`` as factors of the stated ratio, ``None`` without per-component figures.

    A method's factor cancels in a ratio only where both sides split their energy alike between components;
    this is what remains when they do not (a CPU-heavy side against a RAM-heavy one). The band of each
    component is the widest of the two sides' method intervals relative to their figures (seed means)."""
    comps, lows, highs = [], [], []
    for c in ENERGY_COMPONENTS:
        col = f"total_{c}_kwh"
        if f"{col}_mean" not in cur or f"{col}_method_low" not in cur:
            return None
        a = pd.to_numeric(cur[f"{col}_mean"], errors="coerce").to_numpy(float)
        b = pd.to_numeric(base[f"{col}_mean"], errors="coerce").to_numpy(float)
        if not (np.nan_to_num(a) > 0).any() and not (np.nan_to_num(b) > 0).any():
            continue  # no energy in this component on either side
        factors = []
        for side, v in ((cur, a), (base, b)):
            lo = pd.to_numeric(side[f"{col}_method_low"], errors="coerce").to_numpy(float)
            hi = pd.to_numeric(side[f"{col}_method_high"], errors="coerce").to_numpy(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                factors += [lo[v > 0] / v[v > 0], hi[v > 0] / v[v > 0]]
        if any(not np.isfinite(f).all() for f in factors) or not any(len(f) for f in factors):
            return None  # a figure without a bound: no range can be claimed
        comps.append((np.nan_to_num(a), np.nan_to_num(b)))
        lows.append(min(float(f.min()) for f in factors if len(f)))
        highs.append(max(float(f.max()) for f in factors if len(f)))
    if not comps:
        return None

    def gm_ratio(f: Sequence[float]) -> float:
        num = sum(fc * a for fc, (a, _) in zip(f, comps))
        den = sum(fc * b for fc, (_, b) in zip(f, comps))
        ok = (num > 0) & (den > 0)
        return float(np.exp(np.mean(np.log(num[ok] / den[ok])))) if ok.any() else math.nan

    stated = gm_ratio([1.0] * len(comps))
    corners = [gm_ratio(f) for f in itertools.product(*zip(lows, highs))]
    if not fmt.finite(stated) or stated <= 0 or not all(fmt.finite(x) for x in corners):
        return None
    return min(corners) / stated, max(corners) / stated


def figure(
    agg: pd.DataFrame,
    axes_varying: Sequence[str],
    e_unit: tuple[str, float],
    c_unit: tuple[str, float],
    caption: str = "",
) -> plot.Img | None:
    """Accuracy, time, energy and CO₂ per configuration (mean over seeds, 95 % CI bars), by backend."""
    if agg.empty:
        return None
    agg = agg.copy()
    group_axes = [a for a in axes_varying if a != "backend"]
    agg["_group"] = [rd.join_label(rd._axis_text(a, r[a]) for a in group_axes) or "all" for _, r in agg.iterrows()]
    order = agg.groupby("_group")["test_accuracy_mean"].max().sort_values(ascending=True).index.tolist()
    if len(order) > plot.MAX_ROWS:
        order = order[-plot.MAX_ROWS:]
    backends = sorted(agg["backend"].astype(str).unique())
    pos = {g: i for i, g in enumerate(order)}
    h = 0.8 / len(backends)
    metrics = [
        ("test_accuracy", "Test accuracy (%)", 100.0),
        ("train_time_s", "Training time (s)", 1.0),
        ("total_energy_kwh", f"Energy per run ({e_unit[0]})", 1.0 / e_unit[1]),
        ("total_co2_kg", f"CO₂ per run ({c_unit[0]})", 1.0 / c_unit[1]),
    ]
    metrics = [m for m in metrics if pd.to_numeric(agg[f"{m[0]}_mean"], errors="coerce").notna().any()]
    est = bool(agg["estimated"].any())
    with plot.theme():
        fig, axes = plot.new_figure(
            2.9 * len(metrics) + 1.6,
            max(2.4, 0.2 * len(order) * len(backends) + 1.3),
            ncols=len(metrics),
            sharey=True,
            squeeze=False,
        )
        for ax, (m, title, scale) in zip(axes[0], metrics):
            for j, b in enumerate(backends):
                sub = agg[(agg["backend"].astype(str) == b) & agg["_group"].isin(pos)]
                if sub.empty:
                    continue
                y = np.array([pos[g] for g in sub["_group"]]) - 0.4 + h * (j + 0.5)
                mean = pd.to_numeric(sub[f"{m}_mean"], errors="coerce").to_numpy() * scale
                lo = pd.to_numeric(sub[f"{m}_ci_low"], errors="coerce").to_numpy() * scale
                hi = pd.to_numeric(sub[f"{m}_ci_high"], errors="coerce").to_numpy() * scale
                err = np.vstack([np.where(np.isfinite(lo), mean - lo, 0), np.where(np.isfinite(hi), hi - mean, 0)])
                color = plot.backend_color(b, backends)
                if m in ("total_energy_kwh", "total_co2_kg"):
                    bounds.draw_method_interval(ax, sub, m, mean, y, scale=scale, gid=f"{m}-{b}", zorder=3)
                if m == "test_accuracy":
                    ax.errorbar(
                        mean,
                        y,
                        xerr=err,
                        fmt=plot.backend_marker(b, backends),
                        color=color,
                        ms=6,
                        capsize=2.5,
                        lw=1.2,
                        label=b,
                    )
                else:
                    ax.barh(
                        y,
                        mean,
                        height=h * 0.92,
                        xerr=err,
                        color=color,
                        alpha=0.88,
                        label=b,
                        error_kw={"capsize": 2.5, "lw": 1.0, "ecolor": "#333"},
                    )
            ttl = title + (f" {fmt.EST}" if est and m in ("total_energy_kwh", "total_co2_kg") else "")
            ax.set_title(ttl)
            ax.grid(axis="y", visible=False)
        axes[0][0].set_yticks(range(len(order)), [plot.short(g, 40) for g in order])
        handles, labels = axes[0][-1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=len(backends), fontsize=8)
        return plot.render(
            fig,
            "Bar charts of accuracy, training time, energy and CO₂ per configuration and backend",
            caption=caption,
        )


def _ratio(v: float) -> str:
    return f"×{v:.2f}" if fmt.finite(v) else fmt.NA


def _energy_ratio(r: dict[str, Any], key: str) -> str:
    """An energy or CO₂ ratio: refused across different methods; same-method ratios carry their mark and the
    range the components' bands leave them (:func:`ratio_range`)."""
    if r.get("methods") == "different":
        return "not compared: energy by different methods"
    text = _ratio(r[key]) + (f" {fmt.EST}" if r["estimated"] else "")
    rng = r.get("energy_range")
    if rng and fmt.finite(r[key]) and rng[1] / rng[0] > 1.005:
        text += f" ({_ratio(r[key] * rng[0])[1:]}–{_ratio(r[key] * rng[1])[1:]} by method)"
    return text


def _h2h_note(h2h: list[dict[str, Any]]) -> str:
    note = (
        "Ratios are geometric means over the configurations that differ only in that factor "
        "(×1.50 = 50 % more than the reference); accuracy is the mean difference in percentage points. "
        "Energy and CO₂ are those of the whole run — setup, training, evaluation, compression and the "
        "inference window — not of training alone (Training energy per configuration has that)."
    )
    same = [r for r in h2h if r.get("methods") == "same"]
    if any(r["factor"] != "machine" for r in same):
        note += (
            " Both sides' energy comes from the same method on the same machine: " + RATIO_CAVEAT + "."
            + (" In brackets ('by method'): the range the ratio takes if each component's method errs by one "
               "factor on both sides, anywhere within its band — what the two sides' different split between "
               "components leaves of the method's error; an error that changes with the load can add to it."
               if any(r.get("energy_range") and r["energy_range"][1] / r["energy_range"][0] > 1.005 for r in same)
               else "")
        )
    if any(r["factor"] == "machine" for r in same):
        note += (
            " Across machines the same method can be off by a different factor on each machine, so "
            "machine ratios keep both sides' method intervals."
        )
    diff = [r for r in h2h if r.get("methods") == "different"]
    if diff:
        pairs = "; ".join(
            f"{r['level']} ({bounds.describe_methods(r.get('level_methods', []))}) vs {r['reference']} "
            f"({bounds.describe_methods(r.get('reference_methods', []))})"
            for r in diff
        )
        note += (
            f" No energy or CO₂ ratio is given where the two sides' energy came from different methods "
            f"({pairs}): their systematic errors differ, and the report makes no energy claim across methods."
        )
    if any(r["estimated"] for r in h2h):
        note += f" {fmt.EST} estimated energy."
    return note


def conditions(df: pd.DataFrame, factor: str, level: str, reference: str) -> str:
    """How the two sides of a head-to-head differ in threads, OpenMP wait policy, loop style or co-tenancy
    ('' when they do not); what the factor itself changes is not repeated."""
    runs = rd.primary(df)
    if factor not in runs:
        return ""
    skip = {factor, "intra-op threads"} if factor == "threads" else {factor}
    return "; ".join(rd.condition_differences(runs[runs[factor].astype(str) == level],
                                              runs[runs[factor].astype(str) == reference], skip=skip))


def build(inp: Inputs, sec: Section) -> None:
    res, agg, eu, cu, with_figures = inp.res, inp.agg, inp.eu, inp.cu, inp.with_figures
    if agg.empty:
        sec.empty = "No completed runs to compare."
        return
    axes = rd.varying_axes(res.df)
    sec.intro.append(
        "Mean over seeds per configuration; thin black error bars are 95 % confidence intervals over seeds "
        "(none with a single seed). On energy and CO₂, the wide grey bars are the method interval: the "
        "systematic error band of the method that produced the figure, averaged over seeds (mean of the "
        "runs' lower bounds, mean of their upper bounds)."
    )
    dom = bounds.dominance_summary(agg, "total_energy_kwh")
    caption = bounds.bars_caption(
        inp.df, "thin black bars, 95 % CI of the mean over seeds (none with one seed)"
    ) + (f" For energy, {dom}." if dom else "")
    if with_figures and (img := figure(agg, axes, eu, cu, caption)):
        sec.figures.append(img)
    # "loop": idiomatic vs parity per framework — the convenience cost of the loop users write; "threads": the
    # same workload at another thread setting (issue 13)
    h2h = [r for f in ("backend", "model", "optimizer", "device", "loop", "threads", "machine")
           for r in head_to_head(agg, f)]
    if h2h:
        t = pd.DataFrame(
            [
                {
                    "factor": r["factor"],
                    "comparison": f"{r['level']} vs {r['reference']}",
                    "matched configs": r["matched"],
                    "training time": _ratio(r["time"]),
                    "energy (whole run)": _energy_ratio(r, "energy"),
                    "CO₂ (whole run)": _energy_ratio(r, "co2"),
                    "accuracy": f"{r['accuracy_pp']:+.2f} pp" if fmt.finite(r["accuracy_pp"]) else fmt.NA,
                    "sides differ in": conditions(res.df, r["factor"], r["level"], r["reference"]) or "—",
                }
                for r in h2h
            ]
        )
        note = _h2h_note(h2h)
        if any(r["factor"] == "loop" for r in h2h):
            note += (" loop: the framework's idiomatic loop (Keras compile + fit, a torch DataLoader loop) against "
                     "greenbench's shared-schedule parity loop, from the same weights and data — what a user "
                     "pays, in time and energy, for writing the loop the usual way.")
        if (t["sides differ in"] != "—").any():
            note += (" 'Sides differ in' names what the two sides ran under beyond the factor — intra-op threads, "
                     f"OpenMP's wait policy, loop style, runs measured on a shared machine ({fmt.SHARED}) — which can "
                     "move time and energy as much as the factor itself.")
        sec.tables.append(
            Table(
                t,
                caption="Head to head: one factor changed, everything else equal",
                note=note,
            )
        )
    rows = []
    net = bounds.has_values(agg, "total_net_energy_kwh_mean")
    for _, r in agg.sort_values("test_accuracy_mean", ascending=False).iterrows():
        mark = fmt.run_marks(r)
        row = {
            "configuration": r["config_label"],
            "seeds": int(r["n"]),
            "test accuracy": pm(r, "test_accuracy", 100, " %", 4),
            "training time": pm(r, "train_time_s", 1, " s"),
            "energy (whole run)": bounds.agg_cell(r, "total_energy_kwh", eu) + mark,
        }
        if net:
            row["net energy (whole run, above idle)"] = bounds.agg_cell(r, "total_net_energy_kwh", eu) + mark
        row["CO₂ (whole run)"] = bounds.agg_cell(r, "total_co2_kg", cu) + mark
        row["wider interval (energy)"] = bounds.dominance(r, "total_energy_kwh", eu)
        rows.append(row)
    note = (
        "Energy and CO₂ of the whole run (every phase, not training alone): mean ± 95 % CI half-width over "
        "seeds (seed-to-seed noise), then in brackets the "
        "method interval (the mean over seeds of each run's lower and upper bound by the method that "
        "produced it). The two are separate intervals and are never added; the last column says which "
        "is wider."
    )
    if net:
        note += " Net energy is the energy above the idle baseline (see Methodology for what idle means)."
    if agg["estimated"].any():
        note += f" {fmt.EST} estimated energy (not measured)."
    if agg["low_confidence"].any():
        note += f" {fmt.LOW} a run of that configuration has a phase too short for a reliable energy reading."
    sec.tables.append(
        Table(
            pd.DataFrame(rows),
            caption="Per configuration: mean ± 95 % CI half-width over seeds",
            note=note,
            wide=True,
        )
    )


def markdown(sec: Section, rows: int) -> list[str]:
    return ["", "## Comparisons", ""] + ([md_escape(sec.empty)] if sec.empty else md_tables(sec, rows))


SECTION = Spec("comparisons", "Comparisons by backend, model and optimizer", build, markdown)
