"""Energy and CO₂ intervals in the report: the method's systematic interval beside the seed-to-seed one.

Every energy and CO₂ figure has two intervals, never added:

* the **method interval** — the systematic error band of the method that produced the figure
  (:mod:`greenbench.measure.intervals`, ``<column>_low`` / ``<column>_high`` in the results frame).
  After aggregation over seeds it is the mean of the runs' lows and the mean of their highs
  (:func:`greenbench.report.data.method_bounds`);
* the **seed interval** — the 95 % confidence interval of the mean over seeds (Student's t).

:func:`dominance` says which of the two is wider for a figure. The bands and their sources are read
from :data:`greenbench.measure.intervals.BANDS` (:func:`band_rows`), never copied here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from greenbench.measure import intervals

from . import data as rd
from . import fmt

Unit = tuple[str, float]

ERRORBAR_GID = "gb-method-interval"  # SVG group id prefix of every method-interval error bar
IDLE_FILE = "idle-baseline.json"


# --------------------------------------------------------------------------- cells
def span(lo: Any, hi: Any, unit: Unit) -> str:
    """``0.40–3.0`` in ``unit`` (no unit name), or '' when a bound is missing."""
    if not (fmt.finite(lo) and fmt.finite(hi)):
        return ""
    return f"{fmt.num(float(lo) / unit[1], 2)}–{fmt.num(float(hi) / unit[1], 2)}"


def with_range(value: Any, lo: Any, hi: Any, unit: Unit, *, unit_name: bool = True) -> str:
    """``1.20 mWh (0.40–3.0)``: the value and its method interval in the same unit ('—' without a value)."""
    if not fmt.finite(value):
        return fmt.NA
    text = f"{fmt.num(float(value) / unit[1])}" + (f" {unit[0]}" if unit_name else "")
    r = span(lo, hi, unit)
    return f"{text} ({r})" if r else text


def row_range(row: pd.Series | dict[str, Any], col: str, unit: Unit, *, unit_name: bool = True) -> str:
    """One run's ``col`` with its ``col_low`` / ``col_high`` interval."""
    get = row.get
    return with_range(get(col), get(f"{col}_low"), get(f"{col}_high"), unit, unit_name=unit_name)


def method_interval(agg_row: pd.Series | dict[str, Any] | None, metric: str) -> tuple[float, float]:
    """(low, high) of ``metric``'s method interval in one aggregate row (NaN when none)."""
    if agg_row is None:
        return math.nan, math.nan
    lo, hi = agg_row.get(f"{metric}_method_low", math.nan), agg_row.get(f"{metric}_method_high", math.nan)
    return (float(lo), float(hi)) if fmt.finite(lo) and fmt.finite(hi) else (math.nan, math.nan)


def seed_interval(agg_row: pd.Series | dict[str, Any] | None, metric: str) -> tuple[float, float]:
    if agg_row is None:
        return math.nan, math.nan
    lo, hi = agg_row.get(f"{metric}_ci_low", math.nan), agg_row.get(f"{metric}_ci_high", math.nan)
    return (float(lo), float(hi)) if fmt.finite(lo) and fmt.finite(hi) else (math.nan, math.nan)


def agg_cell(agg_row: pd.Series, metric: str, unit: Unit) -> str:
    """``1.20 ± 0.05 mWh (method 0.40–3.0)``: mean ± seed CI half-width, then the method interval."""
    mean, half, _ = rd.mean_ci(agg_row, metric)
    text = fmt.pm(mean, half, 1 / unit[1], f" {unit[0]}")
    r = span(*method_interval(agg_row, metric), unit)
    return f"{text} (method {r})" if r and text != fmt.NA else text


def dominance(agg_row: pd.Series | dict[str, Any] | None, metric: str, unit: Unit) -> str:
    """Which interval is wider for one aggregate figure: the method's or the seeds' (95 % CI)."""
    mlo, mhi = method_interval(agg_row, metric)
    slo, shi = seed_interval(agg_row, metric)
    m_ok, s_ok = fmt.finite(mlo), fmt.finite(slo)
    if not m_ok and not s_ok:
        return fmt.NA
    if not s_ok:
        return f"method (no seed interval: one seed; method width {fmt.num((mhi - mlo) / unit[1], 2)} {unit[0]})"
    if not m_ok:
        return f"seeds (no method interval; seed width {fmt.num((shi - slo) / unit[1], 2)} {unit[0]})"
    mw, sw = (mhi - mlo) / unit[1], (shi - slo) / unit[1]
    who = "method" if mw >= sw else "seeds"
    return f"{who} (method width {fmt.num(mw, 2)} vs seed width {fmt.num(sw, 2)} {unit[0]})"


def dominant(agg_row: pd.Series | dict[str, Any] | None, metric: str) -> str | None:
    """``"method"``, ``"seeds"`` or ``None`` (neither interval known) for one aggregate figure."""
    mlo, mhi = method_interval(agg_row, metric)
    slo, shi = seed_interval(agg_row, metric)
    if fmt.finite(mlo) and fmt.finite(slo):
        return "method" if (mhi - mlo) >= (shi - slo) else "seeds"
    if fmt.finite(mlo):
        return "method"
    if fmt.finite(slo):
        return "seeds"
    return None


def dominance_summary(agg: pd.DataFrame, metric: str) -> str:
    """One sentence for a figure or table: in how many configurations each interval dominates."""
    if agg.empty:
        return ""
    who = [dominant(r, metric) for _, r in agg.iterrows()]
    m, s = who.count("method"), who.count("seeds")
    if not m and not s:
        return ""
    if m and not s:
        return f"the method interval is wider than the seed spread in all {m} configuration(s)"
    if s and not m:
        return f"the seed spread is wider than the method interval in all {s} configuration(s)"
    return f"the method interval is wider in {m} configuration(s), the seed spread in {s}"


def has_values(frame: pd.DataFrame, col: str) -> bool:
    """True when ``frame`` has ``col`` with at least one number (net energy is absent from older records)."""
    return col in frame and bool(pd.to_numeric(frame[col], errors="coerce").notna().any())


# --------------------------------------------------------------------------- bands by method
def methods_present(df: pd.DataFrame) -> list[str]:
    """Provenance labels (``estimated:tdp``, ``measured:rapl``, …) of the energy figures in ``df``."""
    seen: set[str] = set()
    for col in rd.METHOD_COLUMNS:
        if col not in df:
            continue
        for v in df[col].dropna():
            seen.update(x for x in str(v).split("+") if x not in rd.NO_METHOD)
    return sorted(seen, key=lambda p: (not p.startswith("measured"), p))


def _pct_range(lo: float, hi: float) -> str:
    return f"{lo:+.0f} % … {hi:+.0f} %".replace("-", "−")


def band_text(band: intervals.Band) -> str:
    """The band as the true value relative to the figure: ``±5 %`` or ``−66 % … +150 %``."""
    lo, hi = (band.low - 1) * 100, (band.high - 1) * 100
    if abs(lo + hi) < 1e-9:
        return f"±{hi:.0f} %"
    return _pct_range(lo, hi)


def caption_band(band: intervals.Band) -> str:
    """For a caption: symmetric bands as ``±5 %``; others as the figure's own error and the true value's range
    (``figure off by −60 % … +190 %, true value −66 % … +150 % of it``)."""
    text = band_text(band)
    if text.startswith("±") or band.low <= 0:
        return text
    return f"figure off by {_pct_range((1 / band.high - 1) * 100, (1 / band.low - 1) * 100)}, true value {text} of it"


EDGE_TEXT = {
    "rapl": "plus 1 ms of power at each window edge",
    "sample": "plus one sampling interval of power per window",
    "none": "",
}


def band_rows(df: pd.DataFrame) -> list[dict[str, str]]:
    """For each method present: its band (true value relative to the figure) and the band's source."""
    rows = []
    for prov in methods_present(df):
        band = intervals.band_for(prov)
        if band is None:
            continue
        rows.append(
            {
                "method": prov,
                "band": band_text(band) + (f", {EDGE_TEXT[band.edge]}" if EDGE_TEXT.get(band.edge) else ""),
                "source": band.basis,
            }
        )
    return rows


def bars_caption(df: pd.DataFrame, seeds: str) -> str:
    """What a figure's error bars are: the method interval, by method present, and the seed spread."""
    parts = []
    for prov in methods_present(df):
        band = intervals.band_for(prov)
        if band is not None:
            parts.append(f"{'estimated' if prov.startswith('estimated') else 'measured'} {prov.partition(':')[2]}: "
                         f"{caption_band(band)}")
    method = "; ".join(parts) if parts else "no method interval recorded"
    return (f"Bars: method interval ({method}; sources in Methodology). Seed spread: {seeds}. "
            "The two are separate intervals, never added.")


# --------------------------------------------------------------------------- same method or not
def compare_methods(a: Sequence[str], b: Sequence[str]) -> str:
    """``same``, ``different`` or ``unknown`` for two method signatures (:func:`data.method_signature`)."""
    if not a or not b:
        return "unknown"
    return "same" if tuple(a) == tuple(b) else "different"


def describe_methods(sig: Iterable[str]) -> str:
    return ", ".join(sig) or "unknown"


# --------------------------------------------------------------------------- error bars on axes
def yerr(mean: Any, lo: Any, hi: Any) -> list[list[float]] | None:
    """``[[mean − lo], [hi − mean]]`` for one point, or None when a bound is missing."""
    if not (fmt.finite(mean) and fmt.finite(lo) and fmt.finite(hi)):
        return None
    return [[max(0.0, float(mean) - float(lo))], [max(0.0, float(hi) - float(mean))]]


def draw(ax: Any, x: Any, y: Any, *, xerr: Any = None, yerr: Any = None, gid: str = "", **kw: Any) -> Any:
    """A method-interval error bar (grey by default), its artists tagged ``gb-method-interval`` in the SVG."""
    style = {"fmt": "none", "ecolor": "#6b6b6b", "elinewidth": 3.2, "alpha": 0.45, "capsize": 0, "zorder": 2.2}
    style.update(kw)
    cont = ax.errorbar(x, y, xerr=xerr, yerr=yerr, **style)
    tag = f"{ERRORBAR_GID}-{gid}" if gid else ERRORBAR_GID
    cont.set_label("_method interval")
    for i, artist in enumerate(a for group in cont.lines for a in (group if isinstance(group, tuple) else [group])
                               if a is not None):
        artist.set_gid(f"{tag}-{i}")
    return cont


def draw_method_interval(ax: Any, frame: Any, metric: str, mean: Any, y: Any, *, scale: float = 1.0,
                         gid: str = "", **kw: Any) -> Any:
    """Horizontal method-interval bars of ``metric`` for the rows of an aggregate ``frame`` (its
    ``<metric>_method_low`` / ``_method_high``) at bar positions ``y`` around ``mean``; None when none is known."""
    import numpy as np
    import pandas as pd

    if f"{metric}_method_low" not in frame:
        return None
    mlo = pd.to_numeric(frame[f"{metric}_method_low"], errors="coerce").to_numpy() * scale
    mhi = pd.to_numeric(frame[f"{metric}_method_high"], errors="coerce").to_numpy() * scale
    mean, y = np.asarray(mean, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(mlo) & np.isfinite(mhi) & np.isfinite(mean)
    if not ok.any():
        return None
    xerr = np.vstack([np.maximum(mean[ok] - mlo[ok], 0), np.maximum(mhi[ok] - mean[ok], 0)])
    return draw(ax, mean[ok], y[ok], xerr=xerr, gid=gid, **kw)


def count_method_bars(fig: Any) -> int:
    """How many method-interval error-bar containers a figure holds (before it is encoded)."""
    from matplotlib.container import ErrorbarContainer

    n = 0
    for ax in fig.axes:
        for c in ax.containers:
            if isinstance(c, ErrorbarContainer) and c.get_label() == "_method interval":
                n += 1
    return n


# --------------------------------------------------------------------------- idle baseline
def idle_info(records: list[dict[str, Any]], dirs: Sequence[Path]) -> dict[str, Any]:
    """What the records and the results directories say of the idle baseline (empty when nothing)."""
    powers: list[float] = []
    meanings: dict[str, str] = {}
    shared: dict[str, str] = {}  # busy idle windows: not idle, nothing subtracted (greenbench.measure.idle.judge)

    def take_power(b: dict[str, Any]) -> None:
        if b.get("contaminated"):
            reason = str(b.get("contamination_reason") or "other processes were busy during the idle window")
            shared.setdefault(reason, reason)
        elif fmt.finite(b.get("total_w")):
            powers.append(float(b["total_w"]))

    def take_meaning(m: Any) -> None:
        for v in [m] if isinstance(m, str) else list(m.values()) if isinstance(m, dict) else []:
            # a component without a figure ("none: no GPU figure, nothing to subtract") says nothing of idle
            if isinstance(v, str) and v and v.partition(":")[0].strip() not in rd.NO_METHOD:
                meanings.setdefault(v, v)

    for rec in records:
        ib = rec.get("idle_baseline")
        if isinstance(ib, dict):
            take_power(ib)
            take_meaning(ib.get("meaning"))
    drifts: list[dict[str, Any]] = []
    files: list[Path] = []
    for d in dirs:
        d = Path(d)
        if d.is_dir():
            files += [d / IDLE_FILE] if (d / IDLE_FILE).is_file() else []
            files += sorted(p for p in d.glob(f"*/{IDLE_FILE}") if p.is_file())
    for f in dict.fromkeys(files):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        for b in data.get("baselines") or []:
            if isinstance(b, dict):
                take_power(b)
                take_meaning(b.get("meaning"))
        drifts += [x for x in data.get("drift") or [] if isinstance(x, dict)]
    if not powers and not meanings and not drifts and not shared:
        return {}
    return {"powers": powers, "meanings": list(meanings), "drift": drifts, "shared": list(shared)}


def drift_line(d: dict[str, Any]) -> str:
    start, end, change = d.get("start_w"), d.get("end_w"), d.get("change")
    text = f"idle power went from {fmt.num(start)} W to {fmt.num(end)} W"
    if fmt.finite(change):
        text += f" ({float(change) * 100:+.0f} %)"
    return text


__all__ = [
    "ERRORBAR_GID",
    "agg_cell",
    "band_rows",
    "bars_caption",
    "count_method_bars",
    "dominance",
    "dominance_summary",
    "draw",
    "idle_info",
    "method_interval",
    "row_range",
    "span",
    "with_range",
]
