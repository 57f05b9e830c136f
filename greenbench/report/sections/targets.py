"""Time and energy to target: how long, and how much energy, until the target accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import bounds
from .. import data as rd
from .. import fmt, plot
from ..markdown import md_tables
from .base import Inputs, Section, Spec, Table, pm


def figure(agg: pd.DataFrame, e_unit: tuple[str, float], caption: str = "") -> plot.Img | None:
    d = agg[
        pd.to_numeric(agg["time_to_target_s_mean"], errors="coerce").notna()
        | pd.to_numeric(agg["energy_to_target_kwh_mean"], errors="coerce").notna()
    ]
    if d.empty:
        return None
    d = d.sort_values("energy_to_target_kwh_mean", ascending=False).tail(plot.MAX_ROWS)
    backends = sorted(d["backend"].astype(str).unique())
    panels = [
        ("time_to_target_s", "Time to target (s)", 1.0),
        ("energy_to_target_kwh", f"Energy to target ({e_unit[0]})", 1.0 / e_unit[1]),
    ]
    with plot.theme():
        fig, axes = plot.new_figure(9.5, max(2.2, 0.28 * len(d) + 1.2), ncols=2, sharey=True)
        y = np.arange(len(d))
        for ax, (m, title, scale) in zip(axes, panels):
            mean = pd.to_numeric(d[f"{m}_mean"], errors="coerce").to_numpy() * scale
            lo = pd.to_numeric(d[f"{m}_ci_low"], errors="coerce").to_numpy() * scale
            hi = pd.to_numeric(d[f"{m}_ci_high"], errors="coerce").to_numpy() * scale
            err = np.vstack([np.where(np.isfinite(lo), mean - lo, 0), np.where(np.isfinite(hi), hi - mean, 0)])
            ax.barh(
                y,
                np.nan_to_num(mean),
                xerr=err,
                color=[plot.backend_color(b, backends) for b in d["backend"]],
                alpha=0.88,
                error_kw={"capsize": 2.5, "lw": 1.0},
            )
            if m == "energy_to_target_kwh":
                bounds.draw_method_interval(ax, d, m, mean, y, scale=scale, gid=m, zorder=3)
            est = m == "energy_to_target_kwh" and bool(d["estimated"].any())
            ax.set_title(title + (f" {fmt.EST}" if est else ""))
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks(y, [plot.short(v, 44) for v in d["config_label"]])
        return plot.render(
            fig, "Bar charts of time and energy needed to reach the target accuracy", caption=caption
        )


def build(inp: Inputs, sec: Section) -> None:
    res, agg, eu, with_figures = inp.res, inp.agg, inp.eu, inp.with_figures
    tgt = sorted({(r.get("metrics") or {}).get("target_accuracy") for r in res.records} - {None}, key=float)
    if not tgt:
        sec.empty = (
            "The suite set no target accuracy (training.target_accuracy), so there is no time- or "
            "energy-to-target to report."
        )
        return
    sec.intro.append(
        f"Target accuracy: {', '.join(fmt.pct(t) for t in tgt)}. Time and energy are counted from the "
        "start of training until the first evaluation at or above the target."
    )
    done = rd.primary(res.df)
    reached = (
        done.groupby(done.apply(rd.config_key, axis=1))["time_to_target_s"]
        .apply(lambda s: (int(pd.to_numeric(s, errors="coerce").notna().sum()), len(s)))
        .to_dict()
    )
    dom = bounds.dominance_summary(agg, "energy_to_target_kwh") if not agg.empty else ""
    caption = bounds.bars_caption(res.df, "thin black bars, 95 % CI of the mean over seeds") + (
        f" For energy to target, {dom}." if dom else ""
    )
    if with_figures and not agg.empty and (img := figure(agg, eu, caption)):
        sec.figures.append(img)
    rows = []
    for _, r in agg.iterrows():
        k = rd.config_key(r)
        hit, n = reached.get(k, (0, int(r["n"])))
        rows.append(
            {
                "configuration": r["config_label"],
                "reached target": f"{hit} of {n} seeds",
                "time to target": pm(r, "time_to_target_s", 1, " s") if hit else "not reached",
                "energy to target": (
                    bounds.agg_cell(r, "energy_to_target_kwh", eu) + (f" {fmt.EST}" if r["estimated"] else "")
                )
                if hit
                else "not reached",
                "wider interval (energy)": bounds.dominance(r, "energy_to_target_kwh", eu) if hit else fmt.NA,
            }
        )
    if rows:
        sec.tables.append(
            Table(
                pd.DataFrame(rows),
                caption="Time and energy to reach the target (mean ± 95 % CI over the seeds that reached it)",
                note="Energy: in brackets the method interval (mean over seeds of the runs' bounds)."
                + (f" {fmt.EST} estimated energy" if agg["estimated"].any() else ""),
            )
        )


def markdown(sec: Section, rows: int) -> list[str]:
    return [] if sec.empty else ["", "## Time and energy to target", ""] + md_tables(sec, rows)


SECTION = Spec("targets", "Time and energy to target", build, markdown)
