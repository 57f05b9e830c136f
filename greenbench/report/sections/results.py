"""Full results table: every run, completed first."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import bounds, fmt
from .base import Inputs, Section, Spec, Table


def _marker_note(rows: pd.DataFrame) -> str:
    notes = []
    if "estimated" in rows and rows["estimated"].any():
        notes.append(f"{fmt.EST} estimated energy (not measured)")
    if "low_confidence" in rows and rows["low_confidence"].any():
        notes.append(f"{fmt.LOW} low-confidence reading (phase too short)")
    return "; ".join(notes)


def build(inp: Inputs, sec: Section) -> None:
    res, eu, cu = inp.res, inp.eu, inp.cu
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
        fmt.marked(
            bounds.row_range(r, "total_energy_kwh", eu, unit_name=False), r["energy_source"], r["low_confidence"]
        )
        for _, r in df.iterrows()
    ]
    net = pd.to_numeric(df["total_net_energy_kwh"], errors="coerce") if "total_net_energy_kwh" in df else None
    if net is not None and net.notna().any():
        cols[f"net energy ({eu[0]})"] = [
            fmt.marked(
                bounds.row_range(r, "total_net_energy_kwh", eu, unit_name=False), r["energy_source"],
                r["low_confidence"]
            )
            for _, r in df.iterrows()
        ]
    if "idle_power_w" in df and pd.to_numeric(df["idle_power_w"], errors="coerce").notna().any():
        cols["idle power"] = [f"{fmt.num(v)} W" if fmt.finite(v) else fmt.NA for v in df["idle_power_w"]]
    cols[f"CO₂ ({cu[0]})"] = [
        fmt.marked(
            bounds.row_range(r, "total_co2_kg", cu, unit_name=False), r["energy_source"], r["low_confidence"]
        )
        for _, r in df.iterrows()
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
    note = (
        "Energy and CO₂: the run's figure, then in brackets its method interval (the range the true value "
        "lies in by the method that produced the figure; see Methodology for each method's band and source)."
    )
    if f"net energy ({eu[0]})" in cols:
        note += " Net energy: above the machine's idle baseline (idle power × phase time subtracted)."
    marks = _marker_note(df)
    sec.tables.append(Table(t, note=note + (f" {marks}." if marks else ""), wide=True))


SECTION = Spec("results", "Full results table", build)
