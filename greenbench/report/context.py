"""Everything a report says, as plain strings, tables and figures (no markup).

:func:`build` turns loaded results into one dict; the HTML template and the Markdown
writer both read it. Strings here are raw user/record text: the HTML template escapes
them (autoescape), the Markdown writer escapes them for Markdown.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from greenbench import __version__

from . import data as rd
from . import figures as figs
from . import fmt
from greenbench.measure.grid import WHAT_IF_COUNTRIES, load_grid_data

SECTIONS = [
    ("headline", "Headline"),
    ("methodology", "Methodology"),
    ("pareto", "Accuracy vs energy and CO₂"),
    ("comparisons", "Comparisons by backend, model and optimizer"),
    ("training", "Training curves"),
    ("targets", "Time and energy to target"),
    ("compression", "Compression trade-offs"),
    ("fairness", "Fairness across classes"),
    ("transparency", "Transparency: the best run up close"),
    ("what-if", "CO₂ what-if: other grids"),
    ("failures", "Failed and skipped runs"),
    ("results", "Full results table"),
]


@dataclass
class Table:
    """A table to show: a DataFrame of display strings plus an optional caption and footnote."""

    frame: pd.DataFrame
    caption: str = ""
    note: str = ""
    truncated: int = 0  # rows left out
    wide: bool = False  # many columns: keep cells on one line and scroll sideways


@dataclass
class Section:
    id: str
    title: str
    intro: list[str] = field(default_factory=list)
    figures: list[figs.Img] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    empty: str = ""  # shown instead of content when there is nothing to show


def _units(df: pd.DataFrame) -> tuple[tuple[str, float], tuple[str, float]]:
    e = fmt.pick_unit(pd.to_numeric(df["total_energy_kwh"], errors="coerce"), fmt.ENERGY_UNITS)
    c = fmt.pick_unit(pd.to_numeric(df["total_co2_kg"], errors="coerce"), fmt.CO2_UNITS)
    return e, c


def _mean_ci_text(agg_row: Any, metric: str, render: Any) -> str:
    mean, half, n = rd.mean_ci(agg_row, metric)
    if n <= 1 or not fmt.finite(mean):
        return ""
    if fmt.finite(half):
        return f"{render(mean)} ± {render(half)} (95 % CI over {n} seeds)"
    return f"{render(mean)} (mean of {n} seeds)"


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


# --------------------------------------------------------------------------- sections
def headline(res: rd.Results, agg: pd.DataFrame, eu: Any, cu: Any) -> tuple[Section, dict[str, Any]]:
    df = res.df
    h = rd.headline(df, agg)
    sec = Section("headline", "Headline")
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
                "kicker": f"Greenest within {rd.NEAR_BEST_PP:g} pp of the best",
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
                f"{rd.NEAR_BEST_PP:g} pp of the best accuracy."
            )
        else:
            saving = f", using {h.saving_vs_best * 100:.0f} % less energy" if h.saving_vs_best is not None else ""
            answer = (
                f"For accuracy within {rd.NEAR_BEST_PP:g} pp of the best ({fmt.pct(h.best['test_accuracy'])}), "
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
    if (res.df["status"] == "completed").any() and (res.df["compression"].fillna("none") != "none").any():
        sec.notes.append(
            "Rankings use uncompressed training runs; compression variants are compared in their own section."
        )
    return sec, {"cards": cards, "answer": answer}


def methodology(res: rd.Results, agg: pd.DataFrame) -> Section:
    df = res.df
    sec = Section("methodology", "Methodology")
    status = df["status"].value_counts().to_dict()
    seeds = sorted({int(s) for s in df["seed"].dropna()})
    configs = df.apply(rd.config_key, axis=1).nunique()
    sec.intro.append(
        f"{len(df)} runs of {configs} configuration(s) from {len(res.suites)} suite(s) "
        f"({', '.join(res.suites)}) on {len(res.machines)} machine(s) ({', '.join(res.machines)}): "
        + ", ".join(f"{n} {s}" for s, n in sorted(status.items()))
        + f". Seeds: {', '.join(map(str, seeds)) or 'none'}."
    )
    sec.intro.append(
        "Aggregates are the mean over seeds of each configuration with a 95 % confidence interval from "
        "Student's t (half-width t·s/√n). With one seed there is no interval, and none is drawn."
    )
    # training setup
    setup = []
    for col, name in [
        ("dataset", "dataset"),
        ("train_samples", "training images"),
        ("test_samples", "test images"),
        ("epochs", "epochs"),
        ("batch_size", "batch size"),
        ("threads", "intra-op threads"),
    ]:
        vals = sorted(
            {
                str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer() else str(v)
                for v in df[col].dropna()
            }
        )
        setup.append(f"{name}: {', '.join(vals) if vals else 'full / default'}")
    targets = sorted({(r.get("metrics") or {}).get("target_accuracy") for r in res.records} - {None}, key=float)
    setup.append("target accuracy: " + (", ".join(fmt.pct(t) for t in targets) if targets else "none set"))
    sec.intro.append("Setup — " + "; ".join(setup) + ".")

    # energy provenance
    prov = rd.provenance_table(df, res.records)
    kinds = {p["kind"] for p in prov if p["provenance"] != "none"}
    est_devices = sorted({p["device"] for p in prov if p["kind"] == "estimated"})
    if "estimated" in kinds:
        sec.notes.append(
            f"{fmt.EST} Energy was estimated, not measured, for {', '.join(est_devices)}: the numbers come from a "
            "power model (listed below), not from a hardware counter, and can be off by tens of percent. Compare "
            "estimated numbers with each other on the same machine, not with measured numbers."
        )
    if not prov:
        sec.notes.append("No run recorded an energy reading (measurement disabled, unavailable, or no run completed).")
    lows = sum(
        1
        for r in res.records
        for p in (r.get("phases") or {}).values()
        if isinstance(p, dict) and isinstance(p.get("energy"), dict) and p["energy"].get("low_confidence")
    )
    if lows:
        sec.notes.append(
            f"{fmt.LOW} {lows} measured phase(s) were shorter than the suite's minimum phase length "
            "(energy.min_phase_s) and are flagged low-confidence: the energy meter samples power at intervals, "
            "so very short windows are dominated by sampling error."
        )
    if prov:
        t = pd.DataFrame(
            [
                {
                    "machine": p["machine"],
                    "device": p["device"],
                    "energy obtained by": p["provenance"],
                    "meaning": p["meaning"],
                    "runs": p["runs"],
                    "phases": p["phases"],
                }
                for p in prov
            ]
        )
        if len(res.machines) == 1:
            t = t.drop(columns="machine")
        sec.tables.append(Table(t, caption="How energy was obtained, per device"))
    extras = rd.energy_extras(res.records)
    if extras:
        sec.tables.append(
            Table(
                pd.DataFrame(extras, columns=["detail", "value", "phases"]),
                caption="Further details recorded by the energy meter",
            )
        )
    # grid
    grid_rows = (
        df[df["country"].notna() | df["carbon_intensity_g_per_kwh"].notna()]
        .groupby(
            [
                df["machine"].astype(str),
                df["country"].fillna("—").astype(str),
                pd.to_numeric(df["carbon_intensity_g_per_kwh"], errors="coerce").round(1).fillna(-1),
            ]
        )
        .size()
    )
    if len(grid_rows):
        t = pd.DataFrame(
            [
                {"machine": m, "country": c, "carbon intensity": f"{ci:g} gCO₂eq/kWh" if ci >= 0 else fmt.NA, "runs": n}
                for (m, c, ci), n in grid_rows.items()
            ]
        )
        if len(res.machines) == 1:
            t = t.drop(columns="machine")
        sec.tables.append(
            Table(
                t,
                caption="Grid carbon intensity used to turn energy into CO₂",
                note="CO₂ = energy × carbon intensity of the grid configured in the suite "
                "(energy.country / energy.region).",
            )
        )
    # environment
    env = rd.environment(df, res.records)
    if env["versions"]:
        t = pd.DataFrame([{"package": p, **vals} for p, vals in env["versions"].items()])
        sec.tables.append(Table(t, caption="Software versions"))
    if env["system"]:
        t = pd.DataFrame([{"key": k, **vals} for k, vals in env["system"].items()])
        sec.tables.append(
            Table(t, caption="Hardware and system (environment fingerprint of the first run per machine)")
        )
    for m, keys in env["changed"].items():
        sec.notes.append(
            f"On {m}, these environment values changed between runs: {', '.join(keys[:20])}"
            + (" …" if len(keys) > 20 else "")
            + "."
        )
    return sec


def pareto(res: rd.Results, agg: pd.DataFrame, eu: Any, cu: Any, with_figures: bool) -> Section:
    sec = Section("pareto", "Accuracy vs energy and CO₂")
    runs = rd.with_energy(rd.primary(res.df))
    means = agg[pd.to_numeric(agg["total_energy_kwh_mean"], errors="coerce").notna()] if not agg.empty else agg
    if runs.empty or means.empty:
        sec.empty = "No completed run has both an accuracy and an energy reading."
        return sec
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
    if with_figures and (img := figs.pareto(runs, means, eu, cu)):
        sec.figures.append(img)
    numbers = figs.front_numbers(means)
    front = means.loc[list(numbers)]
    t = pd.DataFrame(
        {
            "#": list(numbers.values()),
            "configuration": front["config_label"],
            "seeds": front["n"].astype(int),
            "test accuracy": [_pm(r, "test_accuracy", 100, " %", 4) for _, r in front.iterrows()],
            "energy": [
                _pm(r, "total_energy_kwh", 1 / eu[1], f" {eu[0]}") + (f" {fmt.EST}" if r["estimated"] else "")
                for _, r in front.iterrows()
            ],
            "CO₂": [
                _pm(r, "total_co2_kg", 1 / cu[1], f" {cu[0]}") + (f" {fmt.EST}" if r["estimated"] else "")
                for _, r in front.iterrows()
            ],
            "training time": [_pm(r, "train_time_s", 1, " s") for _, r in front.iterrows()],
        }
    )
    sec.tables.append(
        Table(
            t,
            caption=f"On the Pareto front (accuracy vs energy): {len(front)} of {len(means)} "
            "configurations; numbers match the figure",
            note=(
                f"Mean ± 95 % CI half-width over seeds. {fmt.EST} estimated energy (not measured)."
                if front["estimated"].any()
                else "Mean ± 95 % CI half-width over seeds."
            ),
        )
    )
    return sec


def _marker_note(rows: pd.DataFrame) -> str:
    notes = []
    if "estimated" in rows and rows["estimated"].any():
        notes.append(f"{fmt.EST} estimated energy (not measured)")
    if "low_confidence" in rows and rows["low_confidence"].any():
        notes.append(f"{fmt.LOW} low-confidence reading (phase too short)")
    return "; ".join(notes)


def comparisons(res: rd.Results, agg: pd.DataFrame, eu: Any, cu: Any, with_figures: bool) -> Section:
    sec = Section("comparisons", "Comparisons by backend, model and optimizer")
    if agg.empty:
        sec.empty = "No completed runs to compare."
        return sec
    axes = rd.varying_axes(res.df)
    sec.intro.append(
        "Mean over seeds per configuration; error bars are 95 % confidence intervals (none with a single seed)."
    )
    if with_figures and (img := figs.comparison(agg, axes, eu, cu)):
        sec.figures.append(img)
    h2h = [r for f in ("backend", "model", "optimizer", "device", "machine") for r in rd.head_to_head(agg, f)]
    if h2h:
        t = pd.DataFrame(
            [
                {
                    "factor": r["factor"],
                    "comparison": f"{r['level']} vs {r['reference']}",
                    "matched configs": r["matched"],
                    "training time": _ratio(r["time"]),
                    "energy": _ratio(r["energy"]) + (f" {fmt.EST}" if r["estimated"] else ""),
                    "CO₂": _ratio(r["co2"]) + (f" {fmt.EST}" if r["estimated"] else ""),
                    "accuracy": f"{r['accuracy_pp']:+.2f} pp" if fmt.finite(r["accuracy_pp"]) else fmt.NA,
                }
                for r in h2h
            ]
        )
        sec.tables.append(
            Table(
                t,
                caption="Head to head: one factor changed, everything else equal",
                note="Ratios are geometric means over the configurations that differ only in that factor "
                "(×1.50 = 50 % more than the reference); accuracy is the mean difference in percentage points."
                + (f" {fmt.EST} estimated energy." if any(r["estimated"] for r in h2h) else ""),
            )
        )
    rows = []
    for _, r in agg.sort_values("test_accuracy_mean", ascending=False).iterrows():
        rows.append(
            {
                "configuration": r["config_label"],
                "seeds": int(r["n"]),
                "test accuracy": _pm(r, "test_accuracy", 100, " %", 4),
                "training time": _pm(r, "train_time_s", 1, " s"),
                "energy": _pm(r, "total_energy_kwh", 1 / eu[1], f" {eu[0]}")
                + (f" {fmt.EST}" if r["estimated"] else ""),
                "CO₂": _pm(r, "total_co2_kg", 1 / cu[1], f" {cu[0]}") + (f" {fmt.EST}" if r["estimated"] else ""),
            }
        )
    sec.tables.append(
        Table(
            pd.DataFrame(rows),
            caption="Per configuration: mean ± 95 % CI half-width over seeds",
            note=f"{fmt.EST} estimated energy (not measured)" if agg["estimated"].any() else "",
        )
    )
    return sec


def _ratio(v: float) -> str:
    return f"×{v:.2f}" if fmt.finite(v) else fmt.NA


def _pm(row: pd.Series, metric: str, scale: float = 1.0, unit: str = "", digits: int = 3) -> str:
    mean, half, _ = rd.mean_ci(row, metric)
    return fmt.pm(mean, half, scale, unit, digits)


def training(res: rd.Results, eu: Any, with_figures: bool) -> Section:
    sec = Section("training", "Training curves")
    hist = rd.history_frame(res.df, res.records)
    if hist.empty:
        sec.empty = "No per-epoch history was recorded."
        return sec
    which = "validation" if hist["val_accuracy"].notna().any() else "training"
    sec.intro.append(
        f"Per-epoch {which} accuracy and training loss (mean over seeds, band ±1 standard deviation where there "
        "are several seeds), and accuracy against the energy spent so far (one line per run)."
    )
    if which == "training":
        sec.notes.append("The suite held out no validation set, so the curves show training accuracy.")
    if with_figures and (img := figs.curves(hist, eu)):
        sec.figures.append(img)
    return sec


def targets(res: rd.Results, agg: pd.DataFrame, eu: Any, with_figures: bool) -> Section:
    sec = Section("targets", "Time and energy to target")
    tgt = sorted({(r.get("metrics") or {}).get("target_accuracy") for r in res.records} - {None}, key=float)
    if not tgt:
        sec.empty = (
            "The suite set no target accuracy (training.target_accuracy), so there is no time- or "
            "energy-to-target to report."
        )
        return sec
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
    if with_figures and not agg.empty and (img := figs.targets(agg, eu)):
        sec.figures.append(img)
    rows = []
    for _, r in agg.iterrows():
        k = rd.config_key(r)
        hit, n = reached.get(k, (0, int(r["n"])))
        rows.append(
            {
                "configuration": r["config_label"],
                "reached target": f"{hit} of {n} seeds",
                "time to target": _pm(r, "time_to_target_s", 1, " s") if hit else "not reached",
                "energy to target": (
                    _pm(r, "energy_to_target_kwh", 1 / eu[1], f" {eu[0]}") + (f" {fmt.EST}" if r["estimated"] else "")
                )
                if hit
                else "not reached",
            }
        )
    if rows:
        sec.tables.append(
            Table(
                pd.DataFrame(rows),
                caption="Time and energy to reach the target (mean ± 95 % CI over the seeds that reached it)",
                note=f"{fmt.EST} estimated energy" if agg["estimated"].any() else "",
            )
        )
    return sec


def compression(res: rd.Results, with_figures: bool) -> Section:
    sec = Section("compression", "Compression trade-offs")
    df = res.df
    comp = rd.completed(df)
    comp = comp[comp["compression"].fillna("none") != "none"]
    if comp.empty:
        sec.empty = "No compression variants in these results."
        return sec
    base = rd.completed(df)
    base = base[(base["compression"].fillna("none") == "none") & base["run_id"].isin(comp["trained_run_id"])]
    sec.intro.append(
        "Each compressed model is derived from an uncompressed run of the same workload (the black star); "
        "accuracy change is measured on the same test set. Latency is per single image (p50); inference energy "
        "is per 1,000 images."
    )
    if with_figures and (img := figs.compression(comp, base)):
        sec.figures.append(img)
    e_unit = fmt.pick_unit(pd.to_numeric(comp["inference_energy_kwh_per_1k"], errors="coerce"), fmt.ENERGY_UNITS)
    inf_src = {r["run_id"]: (r.get("compression") or {}).get("inference_energy_source") for r in res.records}
    base_size = {r["run_id"]: (r.get("compression") or {}).get("baseline_size_bytes") for r in res.records}
    rows = []
    for _, r in comp.sort_values(["config_label"]).iterrows():
        rows.append(
            {
                "run": r["label"],
                "size": fmt.size(r["size_bytes"]),
                "vs baseline": (
                    f"{float(r['size_bytes']) / float(base_size[r['run_id']]) * 100:.0f} %"
                    if fmt.finite(r["size_bytes"]) and fmt.finite(base_size.get(r["run_id"])) and base_size[r["run_id"]]
                    else fmt.NA
                ),
                "sparsity": fmt.pct(r["sparsity"], 0) if fmt.finite(r["sparsity"]) else fmt.NA,
                "test accuracy": fmt.pct(r["test_accuracy"]),
                "Δ accuracy": f"{float(r['accuracy_delta_pp']):+.2f} pp"
                if fmt.finite(r["accuracy_delta_pp"])
                else fmt.NA,
                "latency p50 / p95": (
                    f"{fmt.num(r['latency_ms_p50'])} / {fmt.num(r['latency_ms_p95'])} ms"
                    if fmt.finite(r["latency_ms_p50"])
                    else fmt.NA
                ),
                "throughput": f"{fmt.num(r['throughput_ips'])} img/s" if fmt.finite(r["throughput_ips"]) else fmt.NA,
                "inference energy / 1k": fmt.marked(
                    fmt.with_unit(r["inference_energy_kwh_per_1k"], e_unit), inf_src.get(r["run_id"])
                ),
            }
        )
    est = any(inf_src.get(r) in fmt.ESTIMATED_SOURCES for r in comp["run_id"])
    sec.tables.append(
        Table(
            pd.DataFrame(rows),
            caption="Compression variants",
            note=f"{fmt.EST} estimated inference energy" if est else "",
            wide=True,
        )
    )
    return sec


def fairness(res: rd.Results, with_figures: bool) -> Section:
    sec = Section("fairness", "Fairness across classes")
    pc = rd.per_class(res.df, res.records)
    if pc.empty:
        sec.empty = "No run recorded per-class accuracy."
        return sec
    worst = pc.sort_values("gap", ascending=False).iloc[0]
    sec.intro.append(
        "Per-class accuracy (the share of each true class that the model gets right) shows whether a model is "
        "uniformly good or trades some classes for others. The gap is best class minus worst class; "
        f"the largest is {worst['gap'] * 100:.1f} pp ({worst['label']}: class {worst['worst_class']} at "
        f"{fmt.pct(worst['worst'], 1)} vs class {worst['best_class']} at {fmt.pct(worst['best'], 1)})."
    )
    if with_figures and (img := figs.fairness(pc)):
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
    return sec


def transparency(res: rd.Results, with_figures: bool) -> Section:
    sec = Section("transparency", "Transparency: the best run up close")
    runs = rd.primary(res.df)
    runs = runs[pd.to_numeric(runs["test_accuracy"], errors="coerce").notna()]
    if runs.empty:
        sec.empty = "No completed run to inspect."
        return sec
    best_i = pd.to_numeric(runs["test_accuracy"]).idxmax()
    best = res.df.loc[best_i]
    rec = res.records[best_i]
    metrics = rec.get("metrics") or {}
    conf = metrics.get("confusion")
    n_classes = len(conf) if isinstance(conf, list) else len(metrics.get("per_class_accuracy") or []) or 10
    names = rd.class_names(best["dataset"], n_classes)
    sec.intro.append(
        f"The most accurate run: {best['label']}"
        + (f" on {best['machine']}" if len(res.machines) > 1 else "")
        + f", {fmt.pct(best['test_accuracy'])} test accuracy (run id {best['run_id']})."
    )
    if isinstance(conf, list) and conf:
        if with_figures and (img := figs.confusion(conf, names)):
            sec.figures.append(img)
        m = np.asarray(conf, dtype=float)
        if m.ndim == 2 and m.shape[0] == m.shape[1]:
            off = m.copy()
            np.fill_diagonal(off, 0)
            if off.sum() > 0:
                i, j = np.unravel_index(int(np.argmax(off)), off.shape)
                sec.notes.append(
                    f"Most frequent confusion: true {names[i]} predicted as {names[j]} "
                    f"({int(off[i, j])} of {int(m[i].sum())} test images of {names[i]})."
                )
    else:
        sec.notes.append("This run recorded no confusion matrix.")
    samples = rd.decode_samples(rec.get("samples"))
    source_row = best
    if isinstance(samples, str):  # fall back to the most accurate run that has samples
        for i in pd.to_numeric(runs["test_accuracy"]).sort_values(ascending=False).index:
            s = rd.decode_samples(res.records[i].get("samples"))
            if not isinstance(s, str):
                sec.notes.append(
                    f"The best run recorded no usable sample predictions ({samples}); the grid shows "
                    f"{res.df.at[i, 'label']}, the most accurate run that did."
                )
                samples, source_row = s, res.df.loc[i]
                break
    if isinstance(samples, str):
        sec.notes.append(f"No sample grid: {samples}.")
    else:
        wrong = sum(a != b for a, b in zip(samples.labels, samples.predictions))
        shown = min(40, len(samples.labels))
        sec.notes.append(
            f"Sample test predictions of {source_row['label']}: {wrong} of {len(samples.labels)} "
            f"misclassified, shown first and framed in red with the true class in brackets; "
            f"{shown} shown. Each title is the predicted class."
        )
        if with_figures:
            sec.figures.append(figs.sample_grid(samples, names))
    return sec


def what_if(res: rd.Results, cu: Any, with_figures: bool) -> tuple[Section, dict[str, Any]]:
    sec = Section("what-if", "CO₂ what-if: other grids")
    df = res.df
    energy = pd.to_numeric(df["total_energy_kwh"], errors="coerce")
    total = float(energy.sum()) if energy.notna().any() else math.nan
    grid = load_grid_data()
    info: dict[str, Any] = {"rows": [], "source": grid.source if grid else "", "energy_kwh": total}
    if not fmt.finite(total) or total <= 0:
        sec.empty = "No energy was recorded, so there is no CO₂ to recompute."
        return sec, info
    if grid is None:
        sec.empty = "codecarbon's per-country carbon-intensity data is not installed, so no what-if can be computed."
        return sec, info
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
    info["rows"] = rows
    est = bool(df.loc[energy.notna(), "estimated"].any())
    actual = pd.to_numeric(df["total_co2_kg"], errors="coerce").sum()
    sec.intro.append(
        f"All runs in this report used {fmt.marked(fmt.energy(total), 'estimated' if est else None)} and emitted "
        f"{fmt.marked(fmt.co2(actual), 'estimated' if est else None)} CO₂eq on the grid they ran on. "
        "The same energy on other countries' grids (yearly average carbon intensity):"
    )
    if with_figures and (
        img := figs.what_if(rows, total, fmt.pick_unit([max(r["co2_kg"] for r in rows)], fmt.CO2_UNITS))
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
    return sec, info


def failures(res: rd.Results) -> tuple[Section, list[dict[str, Any]]]:
    sec = Section("failures", "Failed and skipped runs")
    df = res.df
    bad = df[df["status"] != "completed"]
    items = []
    for i, r in bad.sort_values(["status", "label"]).iterrows():
        rec = res.records[i]
        items.append(
            {
                "label": r["label"],
                "run_id": r["run_id"],
                "status": r["status"],
                "machine": r["machine"],
                "reason": fmt.truncate(r["reason"] or "no reason recorded", 2000),
                "stderr": fmt.truncate(rec.get("stderr_tail"), 8000) if rec.get("stderr_tail") else "",
                "log": rec.get("log") or "",
            }
        )
    if not items and not res.corrupt:
        sec.empty = "Every run completed."
    elif items:
        counts = bad["status"].value_counts().to_dict()
        sec.intro.append(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + " of " + str(len(df)) + " runs.")
    if res.corrupt:
        sec.tables.append(
            Table(
                pd.DataFrame(res.corrupt, columns=["file", "problem"]),
                caption="Unreadable record files (left out of this report)",
            )
        )
    return sec, items


def results_table(res: rd.Results, eu: Any, cu: Any) -> Section:
    sec = Section("results", "Full results table")
    df = res.df.copy()
    df["_order"] = (df["status"] != "completed").astype(int)
    df = df.sort_values(["_order", "test_accuracy"], ascending=[True, False], na_position="last")
    cols: dict[str, Any] = {}
    shown = [
        a
        for a in ("backend", "model", "device", "optimizer", "compression", "dropout", "l1", "l2", "augmentation")
        if a in ("backend", "model") or res.df[a].astype(str).nunique() > 1
    ]
    cols["machine"] = df["machine"]
    for a in shown:
        cols[a] = [f"{float(v):g}" if a in ("dropout", "l1", "l2") and fmt.finite(v) else v for v in df[a]]
    cols["seed"] = [str(int(s)) if fmt.finite(s) else fmt.NA for s in df["seed"]]
    cols["status"] = df["status"]
    cols["test accuracy"] = [fmt.pct(v) for v in df["test_accuracy"]]
    cols["train time"] = [fmt.duration(v) for v in df["train_time_s"]]
    cols["total time"] = [fmt.duration(v) for v in df["total_time_s"]]
    cols[f"energy ({eu[0]})"] = [
        fmt.marked(fmt.num(e / eu[1]) if fmt.finite(e) else fmt.NA, s, lc)
        for e, s, lc in zip(df["total_energy_kwh"], df["energy_source"], df["low_confidence"])
    ]
    cols[f"CO₂ ({cu[0]})"] = [
        fmt.marked(fmt.num(e / cu[1]) if fmt.finite(e) else fmt.NA, s, lc)
        for e, s, lc in zip(df["total_co2_kg"], df["energy_source"], df["low_confidence"])
    ]
    cols["energy source"] = df["energy_source"].fillna(fmt.NA)
    cols["params"] = [f"{int(v):,}" if fmt.finite(v) else fmt.NA for v in df["params"]]
    cols["epochs"] = [str(int(v)) if fmt.finite(v) else fmt.NA for v in df["epochs_run"]]
    cols["peak RSS"] = [fmt.size(v) for v in df["peak_rss_bytes"]]
    cols["run id"] = df["run_id"]
    t = pd.DataFrame(cols)
    sec.intro.append(
        f"All {len(df)} runs, completed first (most accurate first). The CSV and Parquet exports "
        "(greenbench report --format csv or parquet) carry every recorded column."
    )
    sec.tables.append(Table(t, note=_marker_note(df), wide=True))
    return sec


# --------------------------------------------------------------------------- everything
def build(res: rd.Results, with_figures: bool = True) -> dict[str, Any]:
    df = res.df
    eu, cu = _units(df)
    agg = rd.aggregates(rd.primary(df))
    head, head_info = headline(res, agg, eu, cu)
    what, what_info = what_if(res, cu, with_figures)
    fail, fail_items = failures(res)
    sections = [
        head,
        methodology(res, agg),
        pareto(res, agg, eu, cu, with_figures),
        comparisons(res, agg, eu, cu, with_figures),
        training(res, eu, with_figures),
        targets(res, agg, eu, with_figures),
        compression(res, with_figures),
        fairness(res, with_figures),
        transparency(res, with_figures),
        what,
        fail,
        results_table(res, eu, cu),
    ]
    assert [s.id for s in sections] == [i for i, _ in SECTIONS]
    title_suites = ", ".join(res.suites) or "results"
    return {
        "title": f"greenbench report: {title_suites}",
        "suites": res.suites,
        "machines": res.machines,
        "generated_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "sources": [str(d) for d in res.dirs],
        "sections": sections,
        "headline": head_info,
        "what_if": what_info,
        "failures": fail_items,
        "estimated": bool(df["estimated"].any()),
        "low_confidence": bool(df["low_confidence"].any()),
        "units": {"energy": eu[0], "co2": cu[0]},
        "agg": agg,
        "df": df,
    }
