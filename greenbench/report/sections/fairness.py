"""Fairness across classes: per-class accuracy and the gap between the best and the worst class."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import data as rd
from .. import fmt, plot
from ..markdown import md_escape, md_tables
from .base import Inputs, Section, Spec, Table


def per_class(df: pd.DataFrame, records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per completed run with ``per_class_accuracy``: the classes as columns plus gap facts."""
    rows = []
    for i, row in rd.completed(df).iterrows():
        pca = (records[i].get("metrics") or {}).get("per_class_accuracy")
        if not isinstance(pca, list) or not pca or not all(fmt.finite(v) for v in pca):
            continue
        vals = [float(v) for v in pca]
        names = rd.class_names(row["dataset"], len(vals))
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


def figure(pc: pd.DataFrame) -> plot.Img | None:
    """Per-class accuracy heatmap, one row per configuration (mean over seeds)."""
    if pc.empty:
        return None
    n = max(len(v) for v in pc["values"])
    pc = pc[[len(v) == n for v in pc["values"]]]
    grouped = (
        pc.assign(_v=[np.asarray(v) for v in pc["values"]])
        .groupby("config_label")
        .agg(
            values=("_v", lambda s: np.mean(np.stack(list(s)), axis=0)), accuracy=("accuracy", "mean"), n=("_v", "size")
        )
    )
    grouped = grouped.sort_values("accuracy", ascending=False).head(plot.MAX_ROWS)
    mat = np.stack(list(grouped["values"])) * 100
    names = pc["classes"].iloc[0]
    import seaborn as sns

    with plot.theme():
        fig, ax = plot.new_figure(max(6.0, 0.62 * n + 3.6), 0.34 * len(grouped) + 1.5)
        sns.heatmap(
            mat,
            ax=ax,
            cmap="RdYlGn",
            vmin=max(0.0, float(np.nanmin(mat)) - 1),
            vmax=100,
            annot=len(grouped) * n <= 600,
            fmt=".1f",
            annot_kws={"fontsize": 7},
            linewidths=0.5,
            linecolor="white",
            cbar_kws={"label": "class accuracy (%)", "shrink": 0.8},
            xticklabels=names,
            yticklabels=[plot.short(v, 44) for v in grouped.index],
        )
        ax.set_xlabel("true class")
        ax.set_ylabel("")
        ax.tick_params(axis="x", rotation=0 if n <= 10 and max(len(x) for x in names) < 3 else 45)
        return plot.render(fig, "Heatmap of per-class accuracy per configuration")


def build(inp: Inputs, sec: Section) -> None:
    res, with_figures = inp.res, inp.with_figures
    pc = per_class(res.df, res.records)
    if pc.empty:
        sec.empty = "No run recorded per-class accuracy."
        return
    worst = pc.sort_values("gap", ascending=False).iloc[0]
    sec.intro.append(
        "Per-class accuracy (the share of each true class that the model gets right) shows whether a model is "
        "uniformly good or trades some classes for others. The gap is best class minus worst class; "
        f"the largest is {worst['gap'] * 100:.1f} pp ({worst['label']}: class {worst['worst_class']} at "
        f"{fmt.pct(worst['worst'], 1)} vs class {worst['best_class']} at {fmt.pct(worst['best'], 1)})."
    )
    if with_figures and (img := figure(pc)):
        sec.figures.append(img)
    limit = 50
    ordered = pc.sort_values("gap", ascending=False)
    t = pd.DataFrame(
        {
            "run": ordered["label"],
            "test accuracy": [fmt.pct(v) for v in ordered["accuracy"]],
            "worst class": [f"{c} ({fmt.pct(v, 1)})" for c, v in zip(ordered["worst_class"], ordered["worst"])],
            "best class": [f"{c} ({fmt.pct(v, 1)})" for c, v in zip(ordered["best_class"], ordered["best"])],
            "gap": [f"{v * 100:.1f} pp" for v in ordered["gap"]],
        }
    )
    sec.tables.append(
        Table(
            t.head(limit),
            caption="Gap between best and worst class per run (largest first)",
            truncated=max(0, len(t) - limit),
        )
    )


def markdown(sec: Section, rows: int) -> list[str]:
    if sec.empty:
        return []
    out = ["", "## Fairness across classes", ""] + [md_escape(p, 800) for p in sec.intro]
    return out + md_tables(sec, min(rows, 10))


SECTION = Spec("fairness", "Fairness across classes", build, markdown)
