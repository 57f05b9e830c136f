"""The idle baseline: the machine's power with no workload running, net energy above it, and its drift.

Why
---
A phase's energy (:mod:`greenbench.measure.energy`) is *gross*: everything the machine (or, in
``process`` tracking mode, the process) drew during the window, including what it would have drawn
doing nothing. Two frameworks that take the same time pay the same idle share, so gross figures
overstate what the workload itself costs and shrink the differences between frameworks. greenbench
records both: gross (as measured) and net (above idle).

How
---
:func:`measure_idle` runs in the calling process — the driver, ``greenbench run``'s parent, which never
imports a framework — before the first workload of an invocation: it starts an
:class:`~greenbench.measure.energy.EnergyMeter` with the suite's settings, opens one window of
``seconds`` (``energy.idle_baseline_s``, default 10 s; ``$GREENBENCH_IDLE_BASELINE_S`` overrides it
per machine, ``0`` switches it off) while the process sleeps, and turns the window's energy into
average power per component. The workers are already started and waiting (their framework imported),
as they are between workloads. The result is a JSON-able *baseline*:

``measured_at`` (UTC ISO, the window's start), ``duration_s``, ``samples``, ``total_w``, ``cpu_w``,
``gpu_w``, ``ram_w``, ``total_w_low`` / ``total_w_high`` (the window's interval,
:mod:`greenbench.measure.intervals`, as power), ``edge_fraction`` (the part of that interval the
window's edges contribute, see :func:`drift`), ``energy_source``, ``provenance``, ``tracking_mode``,
``low_confidence`` and ``low_confidence_reason`` (fewer than ``energy.min_samples`` power samples, or
the meter's own reasons), and ``meaning``: per component, a sentence saying what "idle" means for
the method that produced the figure:

* measured counters (RAPL, NVML, …): the machine's measured power with no workload running;
* codecarbon's CPU load × TDP model in machine mode: the model's power at the machine load seen while
  idle, TDP × (0.1 + 0.9 × load³) — *a model's idle, not a measurement* (nobody measured this CPU idle);
  a calibrated curve likewise gives the curve's idle;
* codecarbon's load model with its fallback TDP (``estimated:constant`` with method ``cpu_load``: the CPU is
  not in codecarbon's table, 4 W per thread — the usual case on cloud VMs): the same curve, a model's idle;
* codecarbon's constant CPU fallback (TDP × 0.5, method ``constant``) and its RAM model (≈5 W per DIMM):
  constants with no load term: idle equals busy, so their net energy is zero by construction;
* ``process`` tracking mode: the model's own-process share — the sleeping driver's share, near zero —
  not the machine's idle power; net is then close to gross.

A meter that cannot start gives a baseline with ``total_w: None`` and the reason; nothing is
subtracted then.

Net energy
----------
:func:`net_energy` adds to a phase's energy entry ``net_total_kwh = max(0, total_kwh − total_w ×
duration_s / 3.6e6)``, ``net_co2_kg`` (same carbon intensity), ``idle_w`` (the idle power used) and
``net_interval_kwh``. Both are taken component by component (CPU, GPU, RAM), each with its own idle
power and its own method's band: gross and idle come from the same method, whose error is
multiplicative (a TDP that is off by 30 % is off by 30 % at idle too), so a component's band applies to
its net figure; the window's edge term (one sampling interval of the gross power) is added as for the
gross figure. Per component matters: with a constant RAM model the net figure is the CPU's alone and
carries the CPU's band, not that of the gross CPU + RAM mix. The idle window's own edge and sampling noise
is not added. Net is never above gross, never below zero,
and the figure for a window without energy (disabled, unavailable) stays as it is.

Drift
-----
At the end of an invocation that ran longer than ``energy.idle_recheck_after_s`` (default 1800 s;
``null`` = never), the driver measures again; :func:`drift` compares the two. The rule: ``change =
(end_w − start_w) / start_w`` is *flagged* when ``|change|`` exceeds ``max(10 %, edge_fraction(start)
+ edge_fraction(end))``. The method's systematic band (RAPL ±5 %, the TDP model's −60 … +190 %) is
left out on purpose: both baselines come from the same method on the same machine at the same (idle)
load, so the band is the same factor at both ends and cancels in the ratio; what does not cancel is
each window's edge term (one sampling interval of power, or RAPL's 1 ms, at each edge: the part of
each interval that is not the band). A short baseline (1 s sampled every 0.5 s) therefore can hardly
flag anything, which is the honest answer; a 10 s one flags more than 10 %. Note that for a modelled
CPU, drift means the *load* at idle changed (a background job), not the CPU's power.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from greenbench.measure import cotenancy, intervals
from greenbench.measure.settings import EnergySettings
from greenbench.measure.units import JOULES_PER_KWH

COMPONENTS = ("cpu", "gpu", "ram")
DRIFT_MIN = 0.10  # a change in idle power below 10 % is never flagged
FILE_NAME = "idle-baseline.json"
WINDOW = "idle-baseline"

# The baseline's keys a record carries (rec["idle_baseline"]); the file keeps the whole baseline.
COMPACT_KEYS = ("measured_at", "duration_s", "samples", "total_w", "cpu_w", "gpu_w", "ram_w",
                "total_w_low", "total_w_high", "energy_source", "tracking_mode", "low_confidence",
                "contaminated", "contamination_reason")


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _default_meter(settings: EnergySettings) -> Any:
    from greenbench.measure.energy import EnergyMeter

    return EnergyMeter.from_settings(settings)


# --------------------------------------------------------------------------- what idle means
def meaning(component: str, provenance: str | None, tracking_mode: str | None,
            detail: Mapping[str, Any] | None = None) -> str:
    """One sentence: what "idle" means for the method that produced ``component``'s figure.

    ``detail`` is the component's ``provenance_detail``: ``estimated:constant`` (a TDP not from codecarbon's
    table) covers two codecarbon modes, its constant fallback (TDP × 0.5, no load term) and its load model
    with the fallback TDP (4 W per thread; the usual case on cloud VMs), and only ``detail["method"]`` tells
    which.
    """
    label = provenance or "none"
    kind, _, method = label.partition(":")
    if kind == "measured":
        return (f"{label}: the machine's measured {component.upper()} power with no workload running "
                "(greenbench's driver asleep, its workers loaded and waiting)")
    if kind != "estimated":
        return f"{label}: no {component.upper()} figure, nothing to subtract"
    if tracking_mode == "process" and component in ("cpu", "ram"):
        return (f"{label}, process tracking mode: the model's own-process share (the sleeping driver's, "
                "near zero), not the machine's idle power; net is close to gross")
    if method == "ram-model":
        return (f"{label}: codecarbon's RAM model is a constant (≈5 W per DIMM) with no load term, so idle "
                "equals busy and net RAM energy is zero by construction")
    if method == "constant":
        cpu_mode = (detail or {}).get("method")
        if cpu_mode == "constant":
            return (f"{label}: codecarbon's constant CPU fallback (TDP × 0.5) has no load term, so idle equals "
                    "busy and net CPU energy is zero by construction")
        if cpu_mode == "cpu_load":
            return (f"{label}: codecarbon's CPU load × TDP model (machine mode) with its fallback TDP (the CPU "
                    "is not in its table), TDP × (0.1 + 0.9 × load³), at the machine's CPU load seen while idle "
                    "— a model's idle, not a measurement")
        return (f"{label}: codecarbon's fallback CPU power (a TDP not from its table) while no workload ran — "
                "a model's idle, not a measurement; where that fallback has no load term (TDP × 0.5), idle "
                "equals busy and net CPU energy is zero")
    if method == "calibrated":
        return (f"{label}: the calibrated power curve at the CPU load seen while idle — the curve's idle, "
                "not a measurement")
    if method in ("tdp", "declared-tdp"):
        return (f"{label}: codecarbon's CPU load × TDP model (machine mode), TDP × (0.1 + 0.9 × load³), at "
                "the machine's CPU load seen while idle — a model's idle, not a measurement")
    return f"{label}: the estimate's power while no workload ran — a model's idle, not a measurement"


def _edge_fraction(entry: Mapping[str, Any]) -> float:
    """The share of the window's total energy its edges can add or remove (see the module's Drift)."""
    total = entry.get("total_kwh") or 0.0
    duration = entry.get("duration_s") or 0.0
    if total <= 0 or duration <= 0:
        return 0.0
    provenance = entry.get("provenance") or {}
    details = entry.get("provenance_detail") or {}
    step = entry.get("measure_power_secs") or 0.0
    edge_kwh = 0.0
    for c in COMPONENTS:
        kwh = entry.get(f"{c}_kwh") or 0.0
        band = intervals.band_for(provenance.get(c), {**(details.get(c) or {}),
                                                      "tracking_mode": entry.get("tracking_mode")})
        if band is None or kwh <= 0:
            continue
        edge_s = {"rapl": 2 * intervals.RAPL_EDGE_S, "sample": step}.get(band.edge, 0.0)
        edge_kwh += kwh / duration * min(edge_s, duration)
    return edge_kwh / total


# --------------------------------------------------------------------------- measuring
def baseline_from_entry(entry: Mapping[str, Any], *, min_samples: int, tracking_mode: str | None = None,
                        measured_at: str | None = None, requested_s: float | None = None) -> dict[str, Any]:
    """The baseline of one idle window's energy entry (as :meth:`EnergyMeter.end_window` returns it)."""
    provenance = dict(entry.get("provenance") or {})
    details = entry.get("provenance_detail") or {}
    mode = entry.get("tracking_mode") or tracking_mode
    out: dict[str, Any] = {
        "measured_at": measured_at or _now_iso(),
        "requested_s": requested_s,
        "duration_s": entry.get("duration_s"),
        "samples": entry.get("samples"),
        "total_w": None, "cpu_w": None, "gpu_w": None, "ram_w": None,
        "total_w_low": None, "total_w_high": None, "edge_fraction": None,
        "energy_source": entry.get("energy_source"),
        "provenance": provenance,
        "tracking_mode": mode,
        "low_confidence": None,
        "low_confidence_reason": None,
        "meaning": {c: meaning(c, provenance.get(c), mode, details.get(c)) for c in COMPONENTS},
    }
    duration = entry.get("duration_s") or 0.0
    total = entry.get("total_kwh")
    if total is None or duration <= 0:
        out["reason"] = entry.get("reason") or "the idle window has no energy figure"
        return out

    def watts(kwh: float | None) -> float | None:
        return None if kwh is None else kwh * JOULES_PER_KWH / duration

    out["total_w"] = watts(total)
    for c in COMPONENTS:
        out[f"{c}_w"] = watts(entry.get(f"{c}_kwh"))
    iv = entry.get("interval") or intervals.interval(entry)
    if iv and iv.get("total_kwh"):
        out["total_w_low"], out["total_w_high"] = intervals.watts_interval(tuple(iv["total_kwh"]), duration)
    out["edge_fraction"] = _edge_fraction(entry)
    reasons: list[str] = []
    samples = entry.get("samples")
    if samples is not None and samples < min_samples:
        reasons.append(f"{samples} power sample(s), fewer than {min_samples}")
    own = entry.get("low_confidence_reason")
    if entry.get("low_confidence") and own:
        reasons.extend(r for r in str(own).split("; ") if r and r not in reasons
                       and not r.endswith(f"fewer than {min_samples}"))
    out["low_confidence"] = bool(reasons)
    out["low_confidence_reason"] = "; ".join(reasons) or None
    return out


def measure_idle(settings: EnergySettings, seconds: float, *,
                 meter_factory: Callable[[EnergySettings], Any] | None = None,
                 sleep: Callable[[float], None] = time.sleep, threshold: float = cotenancy.DEFAULT_THRESHOLD,
                 tenancy: Any = None, before: Callable[[], None] | None = None) -> dict[str, Any]:
    """Measure the idle baseline: one window of ``seconds`` while this process sleeps (see the module).

    ``meter_factory(settings)`` makes the meter (default: :meth:`EnergyMeter.from_settings`); anything
    with ``begin_window(name)``, ``end_window(name) -> entry`` and ``close()`` will do (tests pass a fake).
    The meter is closed on the way out, also when the sleep is interrupted (Ctrl-C propagates).

    What the rest of the machine did meanwhile is recorded as for any window (``cotenancy``, by ``tenancy``:
    a :class:`~greenbench.measure.cotenancy.CoTenancy`, the default one when ``None``). A window at least
    :data:`~greenbench.measure.cotenancy.MIN_JUDGED_S` long in which other processes used more than
    ``threshold`` of the machine is **contaminated**: not idle, and no net energy is computed from it.
    ``before()`` runs once the meter is ready, just before the window (the runner waits for quiet there).
    """
    meter = (meter_factory or _default_meter)(settings)
    co = tenancy if tenancy is not None else cotenancy.CoTenancy()
    try:
        if before is not None:
            before()
        measured_at = _now_iso()
        meter.begin_window(WINDOW)
        first = co.snapshot()
        try:
            sleep(seconds)
        finally:
            last = co.snapshot()
            entry = meter.end_window(WINDOW)
    finally:
        close = getattr(meter, "close", None)
        if close is not None:
            close()
    out = baseline_from_entry(entry, min_samples=settings.min_samples, tracking_mode=settings.tracking_mode,
                              measured_at=measured_at, requested_s=float(seconds))
    return judge(out, co.window(first, last), threshold)


def judge(baseline: dict[str, Any], window: Mapping[str, Any], threshold: float) -> dict[str, Any]:
    """``baseline`` with its window's co-tenancy and the verdict (:func:`greenbench.measure.cotenancy.verdict`,
    as for a run): ``contaminated`` (``None``: too short to judge) and, when it is, ``contamination_reason``."""
    v = cotenancy.verdict({WINDOW: {"wall_s": baseline.get("duration_s"), "cotenancy": dict(window)}}, threshold)
    reason = (f"{v['reason']}: not idle, so no net energy is computed from it" if v["contaminated"] else None)
    return {**baseline, "cotenancy": dict(window), "contaminated": v["contaminated"], "contamination_reason": reason}


def compact(baseline: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """What a record carries of the baseline (``rec["idle_baseline"]``): the figures, not the explanations."""
    return {**{k: baseline.get(k) for k in COMPACT_KEYS}, **extra}


# --------------------------------------------------------------------------- net energy and drift
def net_energy(entry: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> dict[str, Any]:
    """``entry`` (a phase's energy entry) with the net fields added; unchanged without figures to subtract.

    ``net_total_kwh = max(0, Σ (kwh − idle_w × duration_s / 3.6e6))`` over the components (CPU, GPU, RAM),
    each with its own idle power; ``net_interval_kwh`` = Σ of each component's band × its own difference,
    plus the window's edge term (one sampling interval of the *gross* power: the edges belong to the
    reading), both ends then clipped at zero. Per component, because components come from different
    methods: on a VM whose RAM is a constant model, the net figure is the CPU's alone and takes the CPU
    band, not the gross mix's. A baseline without per-component watts (an older record) falls back to the
    total: ``max(0, total_kwh − total_w × duration)``, its interval the gross one × net/gross.
    ``net_co2_kg`` at the entry's carbon intensity; ``idle_w``: the baseline's ``total_w``.
    """
    out = dict(entry)
    total = entry.get("total_kwh")
    duration = entry.get("duration_s")
    idle_w = (baseline or {}).get("total_w")
    if total is None or duration is None or idle_w is None:
        return out
    hours = float(duration) / JOULES_PER_KWH
    split = _net_by_component(entry, baseline or {}, hours)
    if split is not None:
        net, net_iv = split
    else:
        net = max(0.0, float(total) - float(idle_w) * hours)
        iv = entry.get("interval") or intervals.interval(entry)
        k = net / total if total > 0 else 0.0
        net_iv = [iv["total_kwh"][0] * k, iv["total_kwh"][1] * k] if iv and iv.get("total_kwh") else None
    ratio = net / total if total > 0 else 0.0
    intensity = entry.get("carbon_intensity_g_per_kwh")
    if intensity is not None:
        net_co2 = net * float(intensity) / 1000.0
    elif entry.get("co2_kg") is not None:
        net_co2 = float(entry["co2_kg"]) * ratio
    else:
        net_co2 = None
    out["net_total_kwh"] = net
    out["net_co2_kg"] = net_co2
    out["net_interval_kwh"] = net_iv
    out["idle_w"] = float(idle_w)
    return out


def _net_by_component(entry: Mapping[str, Any], baseline: Mapping[str, Any],
                      hours: float) -> tuple[float, list[float] | None] | None:
    """``(net kWh, [low, high] | None)`` summed over components; ``None`` when the baseline lacks a
    component's watts for a component the entry has a figure for (then only the total can be used)."""
    provenance = entry.get("provenance") or {}
    details = entry.get("provenance_detail") or {}
    net, low, high, bounded = 0.0, 0.0, 0.0, True
    for c in COMPONENTS:
        kwh = entry.get(f"{c}_kwh")
        if kwh is None:
            continue
        idle_c = baseline.get(f"{c}_w")
        if idle_c is None:
            if kwh:
                return None
            continue
        net_c = float(kwh) - float(idle_c) * hours  # may be negative: clipped once, on the sum
        if abs(net_c) <= 1e-9 * abs(float(kwh)):  # a constant model's reading minus its own idle: rounding, not energy
            net_c = 0.0
        net += net_c
        detail = details.get(c) if isinstance(details, Mapping) else None
        detail = detail if isinstance(detail, Mapping) else {}
        band = intervals.band_for(provenance.get(c), {**detail, "tracking_mode": entry.get("tracking_mode")})
        bounds = intervals.component_interval(net_c, band, duration_s=entry.get("duration_s"),
                                              measure_power_secs=entry.get("measure_power_secs"),
                                              window_kwh=float(kwh))
        if bounds is None:
            bounded = bounded and not net_c
            continue
        low, high = low + bounds[0], high + bounds[1]
    return max(0.0, net), ([max(0.0, low), max(0.0, high)] if bounded else None)


def add_net_energy(record: dict[str, Any], baseline: Mapping[str, Any] | None,
                   **extra: Any) -> dict[str, Any]:
    """``record`` with net fields in each phase's energy entry and ``idle_baseline`` (compact) at the top.

    ``baseline`` is this machine's (the driver's). A record that ran on another machine — a Ray node, named
    in its ``node`` field — or that carries a baseline already is left as it is: only its own node's baseline
    applies to it (:func:`apply_baseline`, called where that baseline is known). Otherwise as
    :func:`apply_baseline`.
    """
    if record.get("node") is not None or record.get("idle_baseline") is not None:
        return record
    return apply_baseline(record, baseline, **extra)


def apply_baseline(record: dict[str, Any], baseline: Mapping[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """``record`` with net fields above ``baseline`` (the idle power of the machine that ran it).

    A record none of whose phases has an energy figure (skipped, failed before measuring, energy off),
    or a baseline without a figure, leaves the record as it is. A contaminated baseline (other processes
    busy during the idle window) is carried in ``idle_baseline`` but nothing is subtracted from it.
    ``extra`` goes into ``idle_baseline``.
    """
    if not baseline or baseline.get("total_w") is None:
        return record
    phases = record.get("phases") or {}
    metered = [name for name, p in phases.items()
               if isinstance(p, dict) and isinstance(p.get("energy"), dict) and p["energy"].get("total_kwh") is not None]
    if not metered:
        return record
    out = dict(record)
    if baseline.get("contaminated"):  # not idle: said in the record, and nothing subtracted
        out["idle_baseline"] = compact(baseline, **extra)
        return out
    out["phases"] = {name: ({**p, "energy": net_energy(p["energy"], baseline)} if name in metered else p)
                     for name, p in phases.items()}
    out["idle_baseline"] = compact(baseline, **extra)
    return out


def drift(start: Mapping[str, Any], end: Mapping[str, Any]) -> dict[str, Any]:
    """How idle power changed between two baselines; ``flagged`` by the module's rule (see Drift)."""
    start_w, end_w = start.get("total_w"), end.get("total_w")
    threshold = max(DRIFT_MIN, float(start.get("edge_fraction") or 0.0) + float(end.get("edge_fraction") or 0.0))
    if start_w is None or end_w is None or not start_w > 0:
        change = None
    else:
        change = (float(end_w) - float(start_w)) / float(start_w)
    flagged = change is not None and math.isfinite(change) and abs(change) > threshold
    return {"start_w": start_w, "end_w": end_w, "change": change, "flagged": bool(flagged), "threshold": threshold}


# --------------------------------------------------------------------------- the file
@contextlib.contextmanager
def _locked(results_dir: Path) -> Iterator[None]:
    """Hold the results directory's idle-baseline lock (two ``greenbench run`` may share a directory)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Windows
        yield
        return
    lock_dir = results_dir / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "idle-baseline.lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def read_file(path: Path) -> dict[str, Any]:
    """The idle-baseline file (``{"baselines": [...], "drift": [...]}``); raises ``ValueError`` if it is bad."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"baselines": [], "drift": []}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"unreadable JSON ({exc})") from None
    if not (isinstance(data, dict) and isinstance(data.get("baselines", []), list)
            and isinstance(data.get("drift", []), list)):
        raise ValueError("not an idle-baseline file")
    return {**data, "baselines": list(data.get("baselines", [])), "drift": list(data.get("drift", []))}


def append(results_dir: Path, *, baselines: list[dict[str, Any]] | None = None,
           drifts: list[dict[str, Any]] | None = None) -> Path:
    """Append to ``<results_dir>/idle-baseline.json`` atomically (:mod:`greenbench.fsutil`), keeping every
    earlier entry; a file that cannot be read is moved aside (``.corrupt-N``), never overwritten.
    Raises ``OSError`` as it comes."""
    from greenbench.fsutil import atomic_write_text

    path = Path(results_dir) / FILE_NAME
    with _locked(Path(results_dir)):
        try:
            data = read_file(path)
        except ValueError:
            n = 1
            while (aside := path.with_name(f"{path.name}.corrupt-{n}")).exists():
                n += 1
            os.replace(path, aside)
            data = {"baselines": [], "drift": []}
        data["baselines"].extend(baselines or [])
        data["drift"].extend(drifts or [])
        atomic_write_text(path, json.dumps(data, indent=1) + "\n")
    return path


def invocation_id() -> str:
    """A new invocation's id: UTC time and a random suffix (``20261202T140501Z-3fa2c1``)."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{os.urandom(3).hex()}"


def describe(baseline: Mapping[str, Any]) -> str:
    """The one console line of a baseline."""
    if baseline.get("total_w") is None:
        return f"idle baseline: no figure ({baseline.get('reason') or 'energy unavailable'}); net energy not computed"
    parts = [f"{c.upper()} {baseline[c + '_w']:.3g} W" for c in COMPONENTS if baseline.get(c + "_w")]
    low, high = baseline.get("total_w_low"), baseline.get("total_w_high")
    band = f" (interval {low:.3g}–{high:.3g} W)" if low is not None and high is not None else ""
    line = (f"idle baseline: {baseline['total_w']:.3g} W{band} over {baseline['duration_s']:.1f} s: "
            f"{' + '.join(parts) or 'no component'}, {baseline.get('energy_source')}")
    if baseline.get("low_confidence"):
        line += f", low confidence: {baseline.get('low_confidence_reason')}"
    if baseline.get("contaminated"):
        return line + f"; {baseline.get('contamination_reason')}"
    return line + "; net energy is above it"


__all__ = ["DRIFT_MIN", "FILE_NAME", "add_net_energy", "append", "apply_baseline", "baseline_from_entry", "compact", "describe",
           "drift", "invocation_id", "judge", "meaning", "measure_idle", "net_energy", "read_file"]
