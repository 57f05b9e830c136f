"""Methodology: what was run, how energy was obtained (provenance), the grid, and the environment."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from greenbench.measure.intervals import RATIO_CAVEAT

from .. import bounds
from .. import data as rd
from .. import fmt
from ..markdown import md_escape, md_table, md_tables
from .base import Inputs, Section, Spec, Table


PROVENANCE_TEXT = {
    "measured:rapl": "measured with RAPL energy counters (Intel/AMD, via the Linux powercap interface)",
    "measured:nvml": "measured with NVIDIA NVML (board energy counter or sampled power)",
    "measured:powermetrics": "measured with Apple powermetrics",
    "measured:intel-power-gadget": "measured with Intel Power Gadget",
    "estimated:tdp": ("estimated from the CPU's thermal design power (TDP) at the machine's CPU load, "
                      "codecarbon's model TDP × (0.1 + 0.9 × load³)"),
    "estimated:constant": ("estimated from codecarbon's fallback TDP (CPU model not in its table): TDP × "
                           "(0.1 + 0.9 × load³) at the machine's CPU load where it can be read, else a constant "
                           "TDP × 0.5"),
    "estimated:ram-model": "estimated from installed memory size, codecarbon's RAM power model",
    "estimated:ram": "estimated from installed memory size, codecarbon's RAM power model",
    "none": "not metered (no such device, or not used by the run)",
    "disabled": "energy measurement was switched off in the suite",
    "unavailable": "no energy reading could be obtained",
}


ENERGY_KNOWN_KEYS = {
    "cpu_kwh",
    "gpu_kwh",
    "ram_kwh",
    "total_kwh",
    "co2_kg",
    "energy_source",
    "provenance",
    "country",
    "carbon_intensity_g_per_kwh",
    "low_confidence",
}


def describe_provenance(value: str) -> str:
    if value in PROVENANCE_TEXT:
        return PROVENANCE_TEXT[value]
    kind, _, how = value.partition(":")
    if kind in ("measured", "estimated") and how:
        return f"{kind} ({how})"
    return value


def provenance_table(df: pd.DataFrame, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How energy was obtained: one row per (machine, device, provenance) with phase counts."""
    counts: Counter[tuple[str, str, str]] = Counter()
    runs: dict[tuple[str, str, str], set[int]] = {}
    for i, rec in enumerate(records):
        machine = str(df.at[i, "machine"])
        for phase in (rec.get("phases") or {}).values():
            energy = (phase or {}).get("energy") if isinstance(phase, dict) else None
            if not isinstance(energy, dict):
                continue
            prov = energy.get("provenance")
            if isinstance(prov, dict) and prov:
                items = [(str(k), str(v)) for k, v in prov.items()]
            else:
                items = [("all", str(energy.get("energy_source") or "unknown"))]
            for device, how in items:
                key = (machine, device, how)
                counts[key] += 1
                runs.setdefault(key, set()).add(i)
    order = {"cpu": 0, "gpu": 1, "ram": 2}
    out = []
    for (machine, device, how), n in sorted(
        counts.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9), kv[0][2])
    ):
        out.append(
            {
                "machine": machine,
                "device": device.upper() if device in order else device,
                "provenance": how,
                "meaning": describe_provenance(how),
                "kind": how.partition(":")[0],
                "phases": n,
                "runs": len(runs[(machine, device, how)]),
            }
        )
    return out


def energy_extras(records: list[dict[str, Any]], limit: int = 20) -> list[tuple[str, str, int]]:
    """Keys the measurement helper added beyond the known ones: (key, value, phases), most common first.

    Text values are counted per distinct value; numbers (sample counts, power readings) vary from
    phase to phase, so each numeric key is one row with its range over the phases.
    """
    c: Counter[tuple[str, str]] = Counter()
    numbers: dict[str, list[float]] = {}
    for rec in records:
        for phase in (rec.get("phases") or {}).values():
            energy = (phase or {}).get("energy") if isinstance(phase, dict) else None
            if not isinstance(energy, dict):
                continue
            for k, v in energy.items():
                if k in ENERGY_KNOWN_KEYS or v is None:
                    continue
                if isinstance(v, (int, float)) and not isinstance(v, bool) and fmt.finite(v):
                    numbers.setdefault(str(k), []).append(float(v))
                else:
                    c[(str(k), fmt.truncate(v if not isinstance(v, (dict, list)) else _compact(v), 300))] += 1
    for k, vals in numbers.items():
        show = (lambda x: f"{int(x):,}") if all(x.is_integer() for x in vals) else fmt.num
        lo, hi = show(min(vals)), show(max(vals))
        text = lo if lo == hi else f"{lo} – {hi}"
        c[(k, text)] = len(vals)
    return [(k, v, n) for (k, v), n in c.most_common(limit)]


def _compact(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}={_compact(x)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(_compact(x) for x in v)
    return str(v)


def flatten(d: Any, prefix: str = "") -> dict[str, str]:
    """Nested dicts → ``{"a.b": "value"}``; lists joined; long values truncated."""
    out: dict[str, str] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                out.update(flatten(v, key))
            elif str(k).endswith("_bytes") and fmt.finite(v):
                out[key] = f"{fmt.size(v)} ({int(v):,} bytes)"
            elif isinstance(v, list) and not v:
                out[key] = "none"
            else:
                out[key] = fmt.truncate(_compact(v) if isinstance(v, (dict, list)) else ("" if v is None else v), 200)
    return out


def environment(df: pd.DataFrame, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per machine: software versions, system facts, and keys whose value changed between runs."""
    per_machine: dict[str, list[dict[str, str]]] = {}
    versions: dict[str, dict[str, str]] = {}
    for i, rec in enumerate(records):
        machine = str(df.at[i, "machine"])
        env = rec.get("env") if isinstance(rec.get("env"), dict) else {}
        flat = flatten({k: v for k, v in env.items() if k != "versions"})
        per_machine.setdefault(machine, []).append(flat)
        v = versions.setdefault(machine, {})
        v.setdefault("greenbench", str(rec.get("greenbench_version") or ""))
        if isinstance(env.get("versions"), dict):
            for pkg, ver in env["versions"].items():
                if ver is not None:
                    v.setdefault(str(pkg), fmt.truncate(ver, 80))
    machines = sorted(per_machine)
    system: dict[str, dict[str, str]] = {}
    changed: dict[str, list[str]] = {}
    for m in machines:
        flats = per_machine[m]
        keys = sorted({k for f in flats for k in f})
        for k in keys:
            values = {f.get(k, "") for f in flats}
            system.setdefault(k, {})[m] = flats[0].get(k, "")
            if len(values) > 1:
                changed.setdefault(m, []).append(k)
    packages = sorted({p for v in versions.values() for p in v}, key=lambda p: (p != "greenbench", p))
    return {
        "machines": machines,
        "system": system,
        "versions": {p: {m: versions[m].get(p, "") for m in machines} for p in packages},
        "changed": changed,
    }


def build(inp: Inputs, sec: Section) -> None:
    res = inp.res
    df = res.df
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
        ("threads", "thread setting"),
        ("intra_op_threads", "intra-op threads"),
        ("inter_op_threads", "inter-op threads"),
        ("omp_wait_policy", "OpenMP wait policy"),
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
    prov = provenance_table(df, res.records)
    kinds = {p["kind"] for p in prov if p["provenance"] != "none"}
    est_devices = sorted({p["device"] for p in prov if p["kind"] == "estimated"})
    if "estimated" in kinds:
        sec.notes.append(
            f"{fmt.EST} Energy was estimated, not measured, for {', '.join(est_devices)}: the numbers come from a "
            "power model (listed below), not from a hardware counter, and can be off by as much as the method's "
            "band below says (for codecarbon's CPU models up to a factor of about 3, or 5 for its fallback TDP). "
            "Compare estimated numbers with "
            "each other on the same machine, not with measured numbers."
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
    shared_socket = [r for r in res.records if ((r.get("node") or {}).get("isolation")) == "gpu"]
    if shared_socket:
        nodes = {(r.get("node") or {}).get("hostname") for r in shared_socket} - {None}
        note = (shared_socket[0].get("node") or {}).get("isolation_note") or "one workload per GPU"
        sec.notes.append(f"{len(shared_socket)} run(s) on {len(nodes) or 'an unknown number of'} Ray node(s) ran "
                         f"{note}.")
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
    bands = bounds.band_rows(df)
    if bands:
        sec.tables.append(
            Table(
                pd.DataFrame(bands).rename(columns={"band": "interval (true value relative to the figure)"}),
                caption="Error band of each method present",
                note="Every energy and CO₂ figure in this report carries the interval of the method that produced "
                "it: per component, the figure × the band's factors (plus the edge term), summed over components "
                "without assuming their errors cancel; CO₂ = the energy interval × grid intensity (the intensity's "
                "own uncertainty is not included). Aggregated over seeds, a configuration's interval is the mean "
                "of its runs' lower bounds and the mean of their upper bounds. Seed-to-seed noise is a separate "
                "interval (95 % CI over seeds); the two are never added, and the tables say which is wider. "
                "A ratio of two figures by the same method on one machine can be sharper than either interval: "
                + RATIO_CAVEAT + ".",
            )
        )
    idle = bounds.idle_info(res.records, res.dirs)
    if idle:
        powers = idle["powers"]
        if powers:
            lo, hi = min(powers), max(powers)
            watts = f"{fmt.num(lo)} W" if fmt.num(lo) == fmt.num(hi) else f"{fmt.num(lo)}–{fmt.num(hi)} W"
            sec.notes.append(
                f"Idle baseline: {watts} with no workload running, obtained by the same method as the runs' "
                "energy (for a power model, the model's idle — see below); net energy is the energy above it "
                "(idle power × phase time subtracted, never below zero), shown beside gross energy."
            )
        for m in idle["meanings"]:
            sec.notes.append(f"What idle means here — {m.rstrip('.')}.")
        modelled = [p for p in bounds.methods_present(df) if p.startswith("estimated:")]
        if powers and modelled and not idle["meanings"]:
            sec.notes.append(
                f"What idle means here — for {', '.join(modelled)}: the power model's output while no workload "
                "ran (a model's idle, not a measurement; a model with no load term — codecarbon's RAM model, its "
                "constant CPU fallback — has idle equal to busy power, so its net energy is zero)."
            )
        for reason in idle.get("shared", []):
            sec.notes.append(f"Idle baseline not used: {reason.rstrip('.')} — the runs of that invocation have no "
                             "net energy; their gross energy stands.")
        for d in idle["drift"]:
            if not d.get("flagged"):
                sec.notes.append(f"Idle power rechecked at the end of a long invocation: {bounds.drift_line(d)}, "
                                 "within the drift rule.")
            else:
                sec.notes.append(
                    f"Idle drift warning: {bounds.drift_line(d)} during the invocation, more than the "
                    f"{float(d.get('threshold') or 0.1) * 100:.0f} % the rule allows; net figures of the later "
                    "runs subtract an idle power that no longer held."
                )
    _shared_machine(inp, sec)
    extras = energy_extras(res.records)
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
    env = environment(df, res.records)
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


def _shared_machine(inp: Inputs, sec: Section) -> None:
    """Runs measured while other processes shared the machine (co-tenancy), with the reason."""
    shared = rd.contaminated(rd.completed(inp.df))
    if shared.empty:
        return
    t = pd.DataFrame({
        "run": shared["label"].astype(str),
        "machine": shared["machine"].astype(str),
        "others' CPU share": [fmt.pct(v) if fmt.finite(v) else fmt.NA for v in shared["max_other_cpu_share"]],
        "reason": shared["contamination_reason"].fillna("").astype(str),
    })
    sec.tables.append(Table(t, caption=f"{fmt.SHARED} Runs measured on a shared machine (co-tenancy)"))
    sec.notes.append(
        f"{fmt.SHARED} Co-tenancy: every measured window records the CPU time of processes outside the run's own "
        "process tree; a run whose windows were shared beyond runner.cotenancy_threshold is marked. Its time and "
        "energy may be inflated: on an estimated CPU model the neighbours' load is charged to the run."
    )


def markdown(sec: Section, rows: int) -> list[str]:
    out = ["", "## Methodology", ""] + [md_escape(p, 2000) + "\n" for p in sec.intro]
    out += [f"_{md_escape(n, 800)}_\n" for n in sec.notes]
    out += md_tables(sec, rows, first=2 if any(t.caption.startswith("Error band") for t in sec.tables) else 1)
    for t in sec.tables:  # the runs measured on a shared machine, whatever else the summary leaves out
        if t.caption.startswith(f"{fmt.SHARED} Runs measured on a shared machine"):
            out += ["", f"**{md_escape(t.caption)}**", ""] + md_table(t.frame, rows)
    return out


SECTION = Spec("methodology", "Methodology", build, markdown)
