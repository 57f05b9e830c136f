"""Energy methods in a comparison: which method produced each side's energy, and what a ratio may claim.

Every energy figure comes from one method per component (its provenance: ``measured:rapl``,
``estimated:tdp``, ``estimated:ram-model`` …), and every method has a systematic error band
(:mod:`greenbench.measure.intervals`: RAPL ±5 %, codecarbon's CPU load × TDP model −60 % … +190 %
against RAPL, …). That error is a property of the method on a machine, not of the run: two runs
measured by the same method on one machine share it, so it largely cancels in their ratio, and
``compare`` tests the ratio (never the absolute values). Between two methods nothing cancels — a
hardware reading against a model estimate differs by the model's error, whatever the code did — so
an energy or CO₂ row whose sides come from different methods is not judged (verdict
``incomparable``, the reason in its note) and never fails the gate.

A side whose runs do not record their provenance (records written before provenance existed) is
not checked: the ratio test stays, as before, and no note claims anything about the method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from greenbench.measure.intervals import band_for
from greenbench.results.frame import BOUNDED_COLUMNS

# Comparable metrics whose figures come from an energy method (the frame's bounded columns).
ENERGY_METRICS = frozenset(BOUNDED_COLUMNS)
COMPONENTS = (("cpu", "CPU"), ("gpu", "GPU"), ("ram", "RAM"))
NO_CLAIM = "no energy claim across methods"

# A short name for each method's band, as the output shows it (the full basis, with its sources, is
# greenbench.measure.intervals.BANDS; docs/energy.md has the table).
SHORT_BANDS = {
    "measured:rapl": "RAPL counters ±5 %",
    "measured:nvml": "NVML power ±5 %",
    "estimated:tdp": "codecarbon CPU load × TDP model −60 %…+190 %",
    "estimated:declared-tdp": "CPU load × declared TDP model −60 %…+190 %",
    "estimated:constant": "codecarbon fallback TDP (CPU not in its table) ÷5…×5 (assumed)",
    "estimated:ram-model": "codecarbon RAM model ÷3…×2 (assumed)",
    "estimated:calibrated": "calibrated load → power curve, fit error + RAPL ±5 %",
}

Method = tuple[str | None, str | None, str | None]  # per-component provenance: (cpu, gpu, ram)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def band_name(provenance: str) -> str | None:
    """``"codecarbon CPU load × TDP model −60 %…+190 %"`` for ``estimated:tdp``; ``None`` for a component
    without energy (``none``, ``disabled``, ``unavailable``)."""
    parts = [p for p in provenance.split("+") if p]
    if len(parts) > 1:  # a run whose phases used several methods for this component
        names = [band_name(p) for p in parts]
        return " + ".join(n for n in names if n) or None
    if provenance in SHORT_BANDS:
        return SHORT_BANDS[provenance]
    band = band_for(provenance)
    if band is None:
        return None
    if provenance.startswith("measured:"):
        return f"{provenance} ±{(band.high - 1) * 100:g} % (assumed)"
    return f"{provenance}: true value ×{band.low:.2g}…×{band.high:.2g} of the figure"


def describe(method: Method) -> str:
    """``"CPU: codecarbon CPU load × TDP model −60 %…+190 %; RAM: codecarbon RAM model ÷3…×2 (assumed)"``."""
    parts = []
    for (_, label), prov in zip(COMPONENTS, method):
        name = band_name(prov) if prov else None
        if name:
            parts.append(f"{label}: {name}")
    return "; ".join(parts) or "no metered component"


def methods(df: pd.DataFrame) -> set[Method]:
    """The per-component methods of a side's runs; runs that recorded no provenance are left out."""
    cols = [f"{c}_energy_source" for c, _ in COMPONENTS]
    if df.empty or not all(c in df for c in cols):
        return set()
    out = set()
    for values in zip(*(df[c] for c in cols)):
        method = tuple(_text(v) for v in values)
        if any(method):
            out.add(method)  # type: ignore[arg-type]
    return out


def _kinds(df: pd.DataFrame) -> set[str]:
    return {str(v) for v in df["energy_source"].dropna()} if "energy_source" in df else set()


@dataclass(frozen=True)
class MethodCheck:
    """What the energy methods of one workload's two sides allow."""

    comparable: bool  # False: an energy or CO₂ ratio would compare methods, not code
    method: Method | None  # the one method of both sides when comparable and known
    reason: str  # why not comparable ("" when comparable)
    same_machine: bool = True  # both sides ran on the one same machine


def _show(method: Method) -> str:
    return ", ".join(p for p in method if p and band_for(p) is not None) or "none"


def check(base: pd.DataFrame, head: pd.DataFrame) -> MethodCheck:
    """Compare the energy methods of one workload's base and head runs."""
    machines = {str(m) for df in (base, head) for m in df["machine"].dropna()} if "machine" in base else set()
    same_machine = len(machines) <= 1
    bm, hm = methods(base), methods(head)
    if not bm or not hm:  # not recorded on a side: nothing to check, the ratio test stays
        return MethodCheck(True, None, "", same_machine)
    if len(bm) == 1 and bm == hm:
        return MethodCheck(True, next(iter(bm)), "", same_machine)
    for side, found in (("base", bm), ("head", hm)):
        if len(found) > 1:
            shown = " / ".join(sorted(_show(m) for m in found))
            return MethodCheck(False, None, f"{side}'s runs were metered by several methods ({shown}): {NO_CLAIM}",
                               same_machine)
    (b,), (h,) = bm, hm
    diffs = "; ".join(f"{label}: base {bp or 'none'}, head {hp or 'none'}"
                      for (_, label), bp, hp in zip(COMPONENTS, b, h) if bp != hp)
    kb, kh = _kinds(base), _kinds(head)
    if ("measured" in kb) != ("measured" in kh) and kb and kh:
        what = "energy measured on one side and estimated on the other"
    else:
        what = "energy from different methods on the two sides"
    return MethodCheck(False, None, f"{what} ({diffs}): {NO_CLAIM}", same_machine)


def cancellation_note(checks: list[MethodCheck]) -> str:
    """The one line saying why a same-method energy ratio is tested: ``""`` when no row was."""
    found = list(dict.fromkeys(c.method for c in checks if c.comparable and c.method is not None))
    if not found:
        return ""
    what = " | ".join(describe(m) for m in found)
    one = len(found) == 1
    note = (f"both sides of {'every' if one else 'each'} energy and CO₂ row come from one method "
            f"({what}); {'its' if one else 'a method’s'} systematic error largely cancels in a ratio of two runs "
            "on one machine that split their energy alike between components (the same workload, before and "
            "after), so the ratio is tested, not the absolute values")
    if any(c.comparable and c.method is not None and not c.same_machine for c in checks):
        note += ("; here the sides ran on different machines, where a model's error need not be the same on both, "
                 "so energy ratios also carry the hardware's difference")
    return note


__all__ = ["ENERGY_METRICS", "NO_CLAIM", "SHORT_BANDS", "MethodCheck", "band_name", "cancellation_note", "check",
           "describe", "methods"]
