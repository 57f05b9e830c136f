"""Accuracy vs energy and CO₂: every configuration, and the Pareto front over them."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import bounds
from .. import data as rd
from .. import fmt, plot
from .base import Inputs, Section, Spec, Table, pm


def front_numbers(agg: pd.DataFrame) -> dict[Any, int]:
    """Row index → 1, 2, … for the configurations on the accuracy-vs-energy Pareto front, cheapest first."""
    e, a = "total_energy_kwh_mean", "test_accuracy_mean"
    d = agg[pd.to_numeric(agg[a], errors="coerce").notna() & pd.to_numeric(agg[e], errors="coerce").notna()]
    if d.empty:
        return {}
    mask = rd.pareto_mask(pd.to_numeric(d[e]), pd.to_numeric(d[a]))
    front = d[mask].sort_values([e, a], ascending=[True, False])
    return {idx: i + 1 for i, idx in enumerate(front.index)}


def figure(
    runs: pd.DataFrame,
    agg: pd.DataFrame,
    e_unit: tuple[str, float],
    c_unit: tuple[str, float],
    caption: str = "",
) -> plot.Img | None:
    """Accuracy vs energy and vs CO₂: runs as faint dots, configuration means (95 % CI bars) on top,
    and the Pareto front over the means (less energy, more accuracy)."""
    pts = runs[pd.to_numeric(runs["test_accuracy"], errors="coerce").notna()]
    means = agg[pd.to_numeric(agg["test_accuracy_mean"], errors="coerce").notna()]
    panels = [
        (c, u, w)
        for c, u, w in (("total_energy_kwh", e_unit, "Energy"), ("total_co2_kg", c_unit, "CO₂"))
        if pd.to_numeric(means[f"{c}_mean"], errors="coerce").notna().any()
    ]
    if means.empty or not panels:
        return None
    models = sorted(means["model"].astype(str).unique())
    backends = sorted(means["backend"].astype(str).unique())
    colors = plot.palette(models)
    markers = {b: plot.backend_marker(b, backends) for b in backends}
    mixed = bool(means["estimated"].any() and not means["estimated"].all())
    numbers = front_numbers(means)
    several_seeds = bool((means["n"] > 1).any())
    with plot.theme():
        fig, axes = plot.new_figure(5.6 * len(panels), 4.4, ncols=len(panels), sharey=True, squeeze=False)
        for ax, (col, unit, what) in zip(axes[0], panels):
            if several_seeds:
                r = pts[pd.to_numeric(pts[col], errors="coerce").notna()]
                for (b, m), g in r.groupby([r["backend"].astype(str), r["model"].astype(str)]):
                    ax.scatter(
                        pd.to_numeric(g[col]) / unit[1],
                        pd.to_numeric(g["test_accuracy"]) * 100,
                        marker=markers.get(b, "o"),
                        s=14,
                        color=colors.get(m, plot.GREY),
                        alpha=0.28,
                        lw=0,
                        zorder=2,
                    )
            d = means[pd.to_numeric(means[f"{col}_mean"], errors="coerce").notna()].copy()
            d["_x"] = pd.to_numeric(d[f"{col}_mean"]) / unit[1]
            d["_y"] = pd.to_numeric(d["test_accuracy_mean"]) * 100
            for idx, row in d.iterrows():
                hollow = mixed and bool(row["estimated"])
                c = colors[str(row["model"])]
                xlo, xhi = row.get(f"{col}_ci_low"), row.get(f"{col}_ci_high")
                ylo, yhi = row.get("test_accuracy_ci_low"), row.get("test_accuracy_ci_high")
                xerr = (
                    [[row["_x"] - xlo / unit[1]], [xhi / unit[1] - row["_x"]]]
                    if fmt.finite(xlo) and fmt.finite(xhi)
                    else None
                )
                yerr = (
                    [[row["_y"] - ylo * 100], [yhi * 100 - row["_y"]]] if fmt.finite(ylo) and fmt.finite(yhi) else None
                )
                mlo, mhi = bounds.method_interval(row, col)
                if fmt.finite(mlo):
                    bounds.draw(
                        ax,
                        [row["_x"]],
                        [row["_y"]],
                        xerr=bounds.yerr(row["_x"], mlo / unit[1], mhi / unit[1]),
                        gid=f"{col}-{idx}",
                        ecolor=c,
                        alpha=0.25,
                        elinewidth=4,
                    )
                if xerr or yerr:
                    ax.errorbar(
                        [row["_x"]],
                        [row["_y"]],
                        xerr=xerr,
                        yerr=yerr,
                        fmt="none",
                        ecolor=c,
                        elinewidth=1,
                        alpha=0.7,
                        capsize=2,
                        zorder=3,
                    )
                ax.scatter(
                    [row["_x"]],
                    [row["_y"]],
                    marker=markers[str(row["backend"])],
                    s=62,
                    facecolors="white" if hollow else c,
                    edgecolors=c if hollow else "white",
                    linewidths=1.4 if hollow else 0.7,
                    zorder=4,
                )
            mask = rd.pareto_mask(d["_x"], d["_y"])
            front = d[mask].sort_values("_x")
            if len(front):
                xs = list(front["_x"]) + [d["_x"].max()]
                ys = list(front["_y"]) + [front["_y"].iloc[-1]]
                ax.step(xs, ys, where="post", color=plot.GREEN, lw=1.6, alpha=0.85, zorder=2.5)
                ax.scatter(
                    front["_x"], front["_y"], s=190, facecolors="none", edgecolors=plot.GREEN, linewidths=1.6, zorder=5
                )
            for idx, row in d[d.index.isin(list(numbers))].iterrows():
                ax.annotate(
                    str(numbers[idx]),
                    (row["_x"], row["_y"]),
                    xytext=(0, 10),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=8.5,
                    fontweight="bold",
                    color=plot.GREEN,
                    zorder=6,
                )
            xmin, xmax = d["_x"].min(), d["_x"].max()
            if xmin > 0 and xmax / xmin > 30:
                ax.set_xscale("log")
            ax.set_xlabel(plot.energy_axis_label(what, unit[0], d["estimated"]))
            ax.set_title(f"Accuracy vs {what.lower() if what == 'Energy' else what}")
        axes[0][0].set_ylabel("Test accuracy (%)")
        handles = plot.legend_handles(colors, markers, mixed)
        from matplotlib.lines import Line2D

        if several_seeds:
            handles.append(
                Line2D([], [], ls="", marker="o", color="#555", alpha=0.35, markersize=4, label="single runs (seeds)")
            )
        handles.append(
            Line2D(
                [], [], color=plot.GREEN, lw=1.6, marker="o", markerfacecolor="none", markersize=9, label="Pareto front"
            )
        )
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 7), fontsize=8)
        return plot.render(
            fig,
            "Scatter of test accuracy against energy and CO₂ per configuration, Pareto front marked",
            caption=caption,
        )


def build(inp: Inputs, sec: Section) -> None:
    res, agg, eu, cu, with_figures = inp.res, inp.agg, inp.eu, inp.cu, inp.with_figures
    runs = rd.with_energy(rd.primary(res.df))
    means = agg[pd.to_numeric(agg["total_energy_kwh_mean"], errors="coerce").notna()] if not agg.empty else agg
    if runs.empty or means.empty:
        sec.empty = "No completed run has both an accuracy and an energy reading."
        return
    several = bool((means["n"] > 1).any())
    sec.intro.append(
        (
            "Each large point is one configuration, averaged over its seeds (bars: 95 % confidence intervals; "
            "faint dots: the single runs). "
            if several
            else "Each point is one run. "
        )
        + "The green staircase is the Pareto front: nothing else is both more accurate and cheaper in energy. "
        "Points below and to the right of it are dominated."
    )
    sec.intro.append(
        "Horizontal wide pale bars: the method interval of each configuration's energy (CO₂) — the systematic "
        "error band of the method that produced it, mean over seeds of the runs' bounds. With estimated "
        "energy these bands are wide and overlap: the front ranks the figures, not the true energy."
    )
    dom = bounds.dominance_summary(means, "total_energy_kwh")
    caption = bounds.bars_caption(
        res.df, "thin bars, 95 % CI of the mean over seeds" if several else "one seed, no seed interval"
    ) + (f" For energy, {dom}." if dom else "")
    if with_figures and (img := figure(runs, means, eu, cu, caption)):
        sec.figures.append(img)
    numbers = front_numbers(means)
    front = means.loc[list(numbers)]
    t = pd.DataFrame(
        {
            "#": list(numbers.values()),
            "configuration": front["config_label"],
            "seeds": front["n"].astype(int),
            "test accuracy": [pm(r, "test_accuracy", 100, " %", 4) for _, r in front.iterrows()],
            "energy (whole run)": [
                bounds.agg_cell(r, "total_energy_kwh", eu) + fmt.run_marks(r)
                for _, r in front.iterrows()
            ],
            "CO₂ (whole run)": [
                bounds.agg_cell(r, "total_co2_kg", cu) + fmt.run_marks(r)
                for _, r in front.iterrows()
            ],
            "wider interval (energy)": [bounds.dominance(r, "total_energy_kwh", eu) for _, r in front.iterrows()],
            "training time": [pm(r, "train_time_s", 1, " s") for _, r in front.iterrows()],
        }
    )
    sec.tables.append(
        Table(
            t,
            caption=f"On the Pareto front (accuracy vs energy): {len(front)} of {len(means)} "
            "configurations; numbers match the figure",
            note=(
                "Mean ± 95 % CI half-width over seeds; in brackets the method interval (mean over seeds of the "
                "runs' bounds by the method that produced them)."
                + (f" {fmt.EST} estimated energy (not measured)." if front["estimated"].any() else "")
                + (f" {fmt.LOW} a run of that configuration has a phase too short for a reliable energy reading."
                   if front.get("low_confidence", pd.Series(dtype=bool)).any() else "")
            ),
            wide=True,
        )
    )


SECTION = Spec("pareto", "Accuracy vs energy and CO₂", build)
