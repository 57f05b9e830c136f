"""CO₂ what-if: the same energy on other countries' grids."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from greenbench.measure.grid import WHAT_IF_COUNTRIES, load_grid_data

from .. import fmt, plot
from ..markdown import md_escape, md_tables
from .base import Inputs, Section, Spec, Table


def figure(rows: list[dict[str, Any]], energy_kwh: float, c_unit: tuple[str, float]) -> plot.Img | None:
    if not rows or not fmt.finite(energy_kwh):
        return None
    rows = sorted(rows, key=lambda r: r["g_per_kwh"])
    with plot.theme():
        fig, ax = plot.new_figure(7.8, 0.32 * len(rows) + 1.1)
        y = np.arange(len(rows))
        vals = np.array([energy_kwh * r["g_per_kwh"] / 1000 / c_unit[1] for r in rows])
        colors = [plot.GREEN if r["recorded"] else "#8fb5a2" for r in rows]
        ax.barh(y, vals, color=colors, height=0.7)
        for yi, v, r in zip(y, vals, rows):
            ax.text(
                v,
                yi,
                f"  {fmt.num(v)} {c_unit[0]}  ({r['g_per_kwh']:.0f} g/kWh)",
                va="center",
                fontsize=7.5,
                color="#234",
            )
        ax.set_yticks(y, [plot.short(f"{r['name']}{' (recorded)' if r['recorded'] else ''}", 36) for r in rows])
        ax.set_xlabel(f"CO₂ of this report's energy ({c_unit[0]})")
        ax.set_xlim(0, vals.max() * 1.45 if vals.max() > 0 else 1)
        ax.grid(axis="y", visible=False)
        return plot.render(fig, "Bar chart of the CO₂ the same energy would emit on other countries' grids")


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
    actual = pd.to_numeric(df["total_co2_kg"], errors="coerce").sum()
    sec.intro.append(
        f"All runs in this report used {fmt.marked(fmt.energy(total), 'estimated' if est else None)} and emitted "
        f"{fmt.marked(fmt.co2(actual), 'estimated' if est else None)} CO₂eq on the grid they ran on. "
        "The same energy on other countries' grids (yearly average carbon intensity):"
    )
    if with_figures and (
        img := figure(rows, total, fmt.pick_unit([max(r["co2_kg"] for r in rows)], fmt.CO2_UNITS))
    ):
        sec.figures.append(img)
    t = pd.DataFrame(
        [
            {
                "country": f"{r['name']} ({r['iso']})" + (" — recorded" if r["recorded"] else ""),
                "carbon intensity": f"{r['g_per_kwh']:.0f} gCO₂eq/kWh",
                "data year": str(r["year"] or fmt.NA),
                "CO₂ of this energy": fmt.marked(fmt.co2(r["co2_kg"]), "estimated" if est else None),
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
