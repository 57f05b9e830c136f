"""CO₂ what-if: the same energy on other countries' grids."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from greenbench.measure.grid import WHAT_IF_COUNTRIES, load_grid_data

from .. import bounds, fmt, plot
from ..markdown import md_escape, md_tables
from .base import Inputs, Section, Spec, Table


def figure(
    rows: list[dict[str, Any]],
    energy_kwh: float,
    c_unit: tuple[str, float],
    energy_bounds: tuple[float, float] | None = None,
    caption: str = "",
) -> plot.Img | None:
    if not rows or not fmt.finite(energy_kwh):
        return None
    scale = [energy_kwh * r["g_per_kwh"] / 1000 / c_unit[1] for r in rows]
    if energy_bounds is not None:
        scale += [b * r["g_per_kwh"] / 1000 / c_unit[1] for b in energy_bounds for r in rows]
    if not np.isfinite(scale).all():  # a figure past a float's range after the unit (a damaged record): no axis
        return None
    rows = sorted(rows, key=lambda r: r["g_per_kwh"])
    with plot.theme():
        fig, ax = plot.new_figure(7.8, 0.32 * len(rows) + 1.1)
        y = np.arange(len(rows))
        vals = np.array([energy_kwh * r["g_per_kwh"] / 1000 / c_unit[1] for r in rows])
        colors = [plot.GREEN if r["recorded"] else "#8fb5a2" for r in rows]
        ax.barh(y, vals, color=colors, height=0.7)
        top = vals
        if energy_bounds is not None:
            lo = np.array([energy_bounds[0] * r["g_per_kwh"] / 1000 / c_unit[1] for r in rows])
            hi = np.array([energy_bounds[1] * r["g_per_kwh"] / 1000 / c_unit[1] for r in rows])
            bounds.draw(ax, vals, y, xerr=np.vstack([np.maximum(vals - lo, 0), np.maximum(hi - vals, 0)]), zorder=3)
            top = np.maximum(vals, hi)
        for yi, v, r in zip(y, top, rows):
            ax.text(
                v,
                yi,
                f"  {fmt.num(energy_kwh * r['g_per_kwh'] / 1000 / c_unit[1])} {c_unit[0]}  ({r['g_per_kwh']:.0f} g/kWh)",
                va="center",
                fontsize=7.5,
                color="#234",
            )
        ax.set_yticks(y, [plot.short(f"{r['name']}{' (recorded)' if r['recorded'] else ''}", 36) for r in rows])
        ax.set_xlabel(f"CO₂ of this report's energy ({c_unit[0]})")
        ax.set_xlim(0, top.max() * 1.45 if top.max() > 0 else 1)
        ax.grid(axis="y", visible=False)
        return plot.render(
            fig, "Bar chart of the CO₂ the same energy would emit on other countries' grids", caption=caption
        )


def build(inp: Inputs, sec: Section) -> None:
    res, with_figures = inp.res, inp.with_figures
    df = res.df
    energy = pd.to_numeric(df["total_energy_kwh"], errors="coerce")
    total = float(energy.sum()) if energy.notna().any() else math.nan
    grid = load_grid_data()
    if not fmt.finite(total) or total <= 0:
        sec.empty = "No energy was recorded, so there is no CO₂ to recompute."
        return
    if grid is None:
        sec.empty = "codecarbon's per-country carbon-intensity data is not installed, so no what-if can be computed."
        return
    recorded = {str(c).upper() for c in df["country"].dropna()}
    codes = list(dict.fromkeys([*sorted(recorded), *WHAT_IF_COUNTRIES]))
    rows = []
    for code in codes:
        g = grid.countries.get(code)
        if g is None:
            continue
        rows.append(
            {
                "iso": code,
                "name": g.name,
                "g_per_kwh": g.g_per_kwh,
                "year": g.year,
                "recorded": code in recorded,
                "co2_kg": total * g.g_per_kwh / 1000,
            }
        )
    est = bool(df.loc[energy.notna(), "estimated"].any())
    lo = pd.to_numeric(df["total_energy_kwh_low"], errors="coerce")[energy.notna()]
    hi = pd.to_numeric(df["total_energy_kwh_high"], errors="coerce")[energy.notna()]
    e_bounds = (float(lo.sum()), float(hi.sum())) if lo.notna().all() and hi.notna().all() else None
    co2 = pd.to_numeric(df["total_co2_kg"], errors="coerce")
    clo = pd.to_numeric(df["total_co2_kg_low"], errors="coerce")[co2.notna()]
    chi = pd.to_numeric(df["total_co2_kg_high"], errors="coerce")[co2.notna()]
    ok = co2.notna().any() and clo.notna().all() and chi.notna().all()
    c_bounds = (float(clo.sum()), float(chi.sum())) if ok else None
    actual = co2.sum()
    src = "estimated" if est else None
    used = bounds.with_range(total, *(e_bounds or (None, None)), fmt.pick_unit([total], fmt.ENERGY_UNITS))
    emitted = bounds.with_range(actual, *(c_bounds or (None, None)), fmt.pick_unit([actual], fmt.CO2_UNITS))
    sec.intro.append(
        f"All runs in this report used {fmt.marked(used, src)} and emitted {fmt.marked(emitted, src)}"
        " CO₂eq on the grid they ran on (in brackets: the method interval). "
        "The same energy on other countries' grids (yearly average carbon intensity):"
    )
    caption = (
        bounds.bars_caption(df, "none, the figure is the sum over all runs")
        + " Grid intensity's own uncertainty is not included."
    )
    c_unit = fmt.pick_unit([max(r["co2_kg"] for r in rows)], fmt.CO2_UNITS) if rows else fmt.CO2_UNITS[1]
    if with_figures and (img := figure(rows, total, c_unit, e_bounds, caption)):
        sec.figures.append(img)
    t = pd.DataFrame(
        [
            {
                "country": f"{r['name']} ({r['iso']})" + (" — recorded" if r["recorded"] else ""),
                "carbon intensity": f"{r['g_per_kwh']:.0f} gCO₂eq/kWh",
                "data year": str(r["year"] or fmt.NA),
                "CO₂ of this energy": fmt.marked(
                    bounds.with_range(
                        r["co2_kg"],
                        *((b * r["g_per_kwh"] / 1000 for b in e_bounds) if e_bounds else (None, None)),
                        fmt.pick_unit([r["co2_kg"]], fmt.CO2_UNITS),
                    ),
                    "estimated" if est else None,
                ),
            }
            for r in sorted(rows, key=lambda r: r["g_per_kwh"])
        ]
    )
    sec.tables.append(
        Table(
            t,
            caption="The same energy on other grids",
            note=(
                f"Source: {grid.source} (country-level yearly averages, the table codecarbon uses "
                "when no live grid data is configured). The recorded CO₂ may differ from the "
                "recorded country's row if a region or live intensity was used."
            )
            + (f" {fmt.EST} energy estimated." if est else ""),
        )
    )


def markdown(sec: Section, rows: int) -> list[str]:
    out = ["", "## CO₂ what-if", ""]
    if sec.empty:
        return out + [md_escape(sec.empty)]
    return out + [md_escape(p, 800) for p in sec.intro] + md_tables(sec, rows)


SECTION = Spec("what-if", "CO₂ what-if: other grids", build, markdown)
