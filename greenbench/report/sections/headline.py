"""Headline: the most accurate run, the greenest, the greenest near the top, and the suite totals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from greenbench.choices import NO_COMPRESSION

from .. import bounds
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
    saving_methods: str = "unknown"  # "same", "different" or "unknown": the two runs' energy methods


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
        "energy_bounds": _sum_bounds(df, "total_energy_kwh"),
        "co2_bounds": _sum_bounds(df, "total_co2_kg"),
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
        h.saving_methods = bounds.compare_methods(rd.run_methods(near), rd.run_methods(best))
    return h


def _saving_text(h: Headline) -> str:
    """The near-best run's saving against the most accurate run, or why none is stated."""
    if h.saving_vs_best is None or h.near_best is None or h.best is None:
        return ""
    if h.saving_methods == "different":
        return (
            "no energy saving is stated against the most accurate run: their energy came from different methods "
            f"({bounds.describe_methods(rd.run_methods(h.near_best))} vs "
            f"{bounds.describe_methods(rd.run_methods(h.best))})"
        )
    text = f"{h.saving_vs_best * 100:.0f} % less energy than the most accurate run"
    if h.saving_methods == "same":
        text += (" (same method on both: its systematic error cancels in this ratio only as far as both runs "
                 "split their energy alike between components and load them alike)")
    return text


def _sum_bounds(df: pd.DataFrame, col: str) -> tuple[float, float] | None:
    """Sum of the runs' method bounds, when every run with a figure has them (else no interval)."""
    val = pd.to_numeric(df[col], errors="coerce")
    if not val.notna().any() or f"{col}_low" not in df:
        return None
    lo = pd.to_numeric(df[f"{col}_low"], errors="coerce")[val.notna()]
    hi = pd.to_numeric(df[f"{col}_high"], errors="coerce")[val.notna()]
    if lo.isna().any() or hi.isna().any():
        return None
    return float(lo.sum()), float(hi.sum())


def _total_range(t: dict[str, Any], what: str) -> str:
    value, b = (t["energy_kwh"], t["energy_bounds"]) if what == "energy" else (t["co2_kg"], t["co2_bounds"])
    unit = fmt.pick_unit([value], fmt.ENERGY_UNITS if what == "energy" else fmt.CO2_UNITS)
    return bounds.with_range(value, *(b or (None, None)), unit)


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


def energy_cell(row: pd.Series, unit: tuple[str, float]) -> str:
    """A run's energy with its method interval and honesty marks: ``1.20 mWh (0.40–3.0) †``."""
    return fmt.marked(bounds.row_range(row, "total_energy_kwh", unit), row["energy_source"], row["low_confidence"])


def value_cell(row: pd.Series, unit: tuple[str, float]) -> str:
    """A card's big number: the energy and its marks (the interval goes on the card's own line)."""
    return fmt.marked(fmt.with_unit(row["total_energy_kwh"], unit), row["energy_source"], row["low_confidence"])


def co2_cell(row: pd.Series, unit: tuple[str, float]) -> str:
    return fmt.marked(bounds.row_range(row, "total_co2_kg", unit), row["energy_source"], row["low_confidence"])


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
            f"{energy_cell(row, eu)} · "
            f"{co2_cell(row, cu)} CO₂ · "
            f"{fmt.duration(row['total_time_s'])}"
        )
        if row.get("shared_machine"):
            why = row.get("contamination_reason")
            lines.append(f"{fmt.SHARED} measured while other processes shared the machine"
                         + (f": {why}" if isinstance(why, str) and why else ""))
        ci = _acc_ci(agg_row)
        if ci:
            lines.append(ci if ci.startswith("single seed") else f"its configuration: {ci}")
        if agg_row is not None and bounds.dominant(agg_row, "total_energy_kwh"):
            lines.append(f"wider energy interval: {bounds.dominance(agg_row, 'total_energy_kwh', eu)}")
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
                "value": value_cell(g, eu),
                "lines": run_lines(g, h.greenest_agg),
            }
        )
    if h.near_best is not None:
        nb = h.near_best
        lines = run_lines(nb, h.near_best_agg)
        if h.saving_vs_best is not None and h.best is not None and nb["run_id"] != h.best["run_id"]:
            lines.insert(1, _saving_text(h))
        elif h.best is not None and nb["run_id"] == h.best["run_id"]:
            lines.insert(1, "the most accurate run is also the greenest one this close to the top")
        cards.append(
            {
                "kind": "balanced",
                "kicker": f"Greenest within {NEAR_BEST_PP:g} pp of the best",
                "value": value_cell(nb, eu),
                "lines": lines,
            }
        )
    t = h.totals
    src = "estimated" if t["estimated"] else None
    low = t["low_confidence"]  # a sum that includes a low-confidence reading carries its mark too
    tot_lines = [
        f"{t['runs']} runs, {t['completed']} completed, "
        f"over {len(res.suites)} suite(s) on {len(res.machines)} machine(s)",
        f"time {fmt.duration(t['time_s'])} · energy {fmt.marked(_total_range(t, 'energy'), src, low)} · "
        f"CO₂ {fmt.marked(_total_range(t, 'co2'), src, low)}",
    ]
    if t["runs_without_energy"]:
        tot_lines.append(f"{t['runs_without_energy']} completed run(s) have no energy reading and are not in the sum")
    cards.append(
        {
            "kind": "totals",
            "kicker": "Suite totals",
            "value": fmt.marked(fmt.energy(t["energy_kwh"]), src, low)
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
            saving = (
                f", using {h.saving_vs_best * 100:.0f} % less energy"
                if h.saving_vs_best is not None and h.saving_methods != "different"
                else ""
            )
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
    if t["energy_kwh"] is not None:
        sec.notes.append(
            "Energy and CO₂ in brackets: the method interval, the range the true value lies in by the method "
            "that produced the figure (Methodology lists each method's band and its source). Seed-to-seed "
            "noise is a separate interval (Comparisons)."
        )
    sigs = {rd.run_methods(r) for _, r in rd.with_energy(rd.primary(df)).iterrows()} - {()}
    if len(sigs) > 1 and h.greenest is not None:
        sec.notes.append(
            "The runs' energy comes from different methods ("
            + "; ".join(bounds.describe_methods(s_) for s_ in sorted(sigs))
            + "): the greenest run is picked by the figures as recorded, and no claim is made that it used less "
            "energy than a run measured by another method — compare their intervals instead."
        )
    if h.saving_methods == "different" and h.near_best is not None and h.best is not None:
        sec.notes.append(
            "No energy saving is stated between the greenest near-best run and the most accurate run: "
            "their energy came from different methods, whose systematic errors do not cancel in a ratio."
        )
    if h.near_best is not None and h.best is not None and h.near_best["run_id"] != h.best["run_id"]:
        one = lambda row: df[df["run_id"] == row["run_id"]]  # noqa: E731
        differ = rd.condition_differences(one(h.near_best), one(h.best))
        if differ:
            sec.notes.append(
                "The recommended run and the most accurate one ran under different conditions beyond their "
                f"configuration — recommended vs most accurate: {'; '.join(differ)}. Such differences can move "
                "time and energy as much as the setting itself.")
    if t["low_confidence"]:
        sec.notes.append(f"{fmt.LOW} At least one phase of this run (or of a run in this sum) was too short for a "
                         "reliable energy reading.")
    shared = rd.contaminated(rd.primary(df))
    if len(shared):
        sec.notes.append(
            f"{fmt.SHARED} {len(shared)} of {len(rd.primary(df))} runs were measured while other processes shared the "
            "machine (their time and energy may be inflated, and a comparison with a run measured on a quiet "
            "machine is not like for like); Methodology lists them with the reason. Rerun them with "
            "greenbench run --require-quiet."
        )
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
