"""Headline: the most accurate run, the greenest, the greenest near the top, and the suite totals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from greenbench.choices import NO_COMPRESSION

from .. import data as rd
from .. import fmt
from ..markdown import md_escape
from .base import Inputs, Section, Spec


NEAR_BEST_PP = 0.5  # "greenest run within 0.5 pp of the best accuracy"


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
    runs = rd.primary(df)
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
    by_key = {rd.config_key(r): r for _, r in agg.iterrows()} if not agg.empty else {}
    h = Headline(best=best, greenest=greenest, near_best=near, totals=totals)
    h.best_agg = by_key.get(rd.config_key(best)) if best is not None else None
    h.greenest_agg = by_key.get(rd.config_key(greenest)) if greenest is not None else None
    h.near_best_agg = by_key.get(rd.config_key(near)) if near is not None else None
    if near is not None and best is not None and fmt.finite(best["total_energy_kwh"]) and best["total_energy_kwh"] > 0:
        h.saving_vs_best = 1.0 - float(near["total_energy_kwh"]) / float(best["total_energy_kwh"])
    return h


def _nansum(s: pd.Series) -> float | None:
    v = pd.to_numeric(s, errors="coerce")
    return float(v.sum()) if v.notna().any() else None


def _acc_ci(agg_row: Any) -> str:
    mean, half, n = rd.mean_ci(agg_row, "test_accuracy")
    if n <= 1 or not fmt.finite(mean):
        return "single seed: no confidence interval" if n == 1 else ""
    if fmt.finite(half):
        return f"{mean * 100:.2f} ± {half * 100:.2f} % over {n} seeds (95 % CI)"
    return f"{mean * 100:.2f} % mean over {n} seeds"


def energy_cell(kwh: Any, source: Any, low: Any, unit: tuple[str, float]) -> str:
    return fmt.marked(fmt.with_unit(kwh, unit), source, low)


def co2_cell(kg: Any, source: Any, low: Any, unit: tuple[str, float]) -> str:
    return fmt.marked(fmt.with_unit(kg, unit), source, low)


def build(inp: Inputs, sec: Section) -> None:
    res, agg, eu, cu = inp.res, inp.agg, inp.eu, inp.cu
    df = res.df
    h = headline(df, agg)
    cards: list[dict[str, Any]] = []

    def run_lines(row: pd.Series, agg_row: Any) -> list[str]:
        lines = [str(row["label"])]
        if len(res.machines) > 1:
            lines.append(f"on {row['machine']}")
        lines.append(
            f"{fmt.pct(row['test_accuracy'])} accuracy · "
            f"{energy_cell(row['total_energy_kwh'], row['energy_source'], row['low_confidence'], eu)} · "
            f"{co2_cell(row['total_co2_kg'], row['energy_source'], row['low_confidence'], cu)} CO₂ · "
            f"{fmt.duration(row['total_time_s'])}"
        )
        ci = _acc_ci(agg_row)
        if ci:
            lines.append(ci if ci.startswith("single seed") else f"its configuration: {ci}")
        return lines

    if h.best is not None:
        cards.append(
            {
                "kind": "accuracy",
                "kicker": "Best accuracy",
                "value": fmt.pct(h.best["test_accuracy"]),
                "lines": run_lines(h.best, h.best_agg),
            }
        )
    if h.greenest is not None:
        g = h.greenest
        cards.append(
            {
                "kind": "green",
                "kicker": "Greenest run",
                "value": energy_cell(g["total_energy_kwh"], g["energy_source"], g["low_confidence"], eu),
                "lines": run_lines(g, h.greenest_agg),
            }
        )
    if h.near_best is not None:
        nb = h.near_best
        lines = run_lines(nb, h.near_best_agg)
        if h.saving_vs_best is not None and h.best is not None and nb["run_id"] != h.best["run_id"]:
            lines.insert(1, f"{h.saving_vs_best * 100:.0f} % less energy than the most accurate run")
        elif h.best is not None and nb["run_id"] == h.best["run_id"]:
            lines.insert(1, "the most accurate run is also the greenest one this close to the top")
        cards.append(
            {
                "kind": "balanced",
                "kicker": f"Greenest within {NEAR_BEST_PP:g} pp of the best",
                "value": energy_cell(nb["total_energy_kwh"], nb["energy_source"], nb["low_confidence"], eu),
                "lines": lines,
            }
        )
    t = h.totals
    src = "estimated" if t["estimated"] else None
    tot_lines = [
        f"{t['runs']} runs, {t['completed']} completed, "
        f"over {len(res.suites)} suite(s) on {len(res.machines)} machine(s)",
        f"time {fmt.duration(t['time_s'])} · energy {fmt.marked(fmt.energy(t['energy_kwh']), src)} · "
        f"CO₂ {fmt.marked(fmt.co2(t['co2_kg']), src)}",
    ]
    if t["runs_without_energy"]:
        tot_lines.append(f"{t['runs_without_energy']} completed run(s) have no energy reading and are not in the sum")
    cards.append(
        {
            "kind": "totals",
            "kicker": "Suite totals",
            "value": fmt.marked(fmt.energy(t["energy_kwh"]), src)
            if t["energy_kwh"] is not None
            else fmt.duration(t["time_s"]),
            "lines": tot_lines,
        }
    )

    answer = ""
    if h.best is None:
        sec.empty = "No run completed, so there is nothing to rank yet; see the failed and skipped runs below."
    elif h.near_best is not None and h.best is not None:
        nb = h.near_best
        if nb["run_id"] == h.best["run_id"]:
            answer = (
                f"The most accurate setting, {nb['config_label']}, is also the greenest within "
                f"{NEAR_BEST_PP:g} pp of the best accuracy."
            )
        else:
            saving = f", using {h.saving_vs_best * 100:.0f} % less energy" if h.saving_vs_best is not None else ""
            answer = (
                f"For accuracy within {NEAR_BEST_PP:g} pp of the best ({fmt.pct(h.best['test_accuracy'])}), "
                f"choose {nb['config_label']}: {fmt.pct(nb['test_accuracy'])}{saving} than "
                f"{h.best['config_label']}."
            )
    elif h.best is not None:
        answer = "No energy was recorded for the completed runs, so the report can rank accuracy but not greenness."
    if answer:
        sec.intro.append(answer)
    if t["estimated"]:
        sec.notes.append(
            f"{fmt.EST} Energy (and the CO₂ derived from it) is estimated, not measured, for these runs; "
            "see Methodology for how."
        )
    if t["low_confidence"]:
        sec.notes.append(f"{fmt.LOW} At least one phase of this run was too short for a reliable energy reading.")
    if (res.df["status"] == "completed").any() and (res.df["compression"].fillna(NO_COMPRESSION) != NO_COMPRESSION).any():
        sec.notes.append(
            "Rankings use uncompressed training runs; compression variants are compared in their own section."
        )
    sec.cards = cards
    sec.answer = answer


def markdown(sec: Section, rows: int) -> list[str]:
    out = ["", "## Headline", ""]
    for card in sec.cards or []:
        out.append(
            f"- **{md_escape(card['kicker'])}: {md_escape(card['value'])}** — "
            + "; ".join(md_escape(x) for x in card["lines"])
        )
    if sec.answer:
        out += ["", md_escape(sec.answer, 600)]
    if sec.empty:
        out += ["", md_escape(sec.empty, 400)]
    for n in sec.notes:
        out += ["", f"_{md_escape(n, 600)}_"]
    return out


SECTION = Spec("headline", "Headline", build, markdown)
