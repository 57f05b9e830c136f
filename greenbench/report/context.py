"""Everything a report says, as plain strings, tables and figures (no markup).

:func:`build` turns loaded results into one dict: the page facts and the built sections,
one per entry of :data:`greenbench.report.sections.SECTIONS`, in that order. The HTML
template and the Markdown writer both read it.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from greenbench._version import __version__

from . import data as rd
from .sections import SECTIONS as _SPECS
from .sections import Inputs, Section, Table, base

__all__ = ["SECTIONS", "Section", "Table", "build"]

SECTIONS: list[tuple[str, str]] = [(s.id, s.title) for s in _SPECS]  # (anchor id, heading), in report order


def build(res: rd.Results, with_figures: bool = True) -> dict[str, Any]:
    df = res.df
    eu, cu = base.units(df)
    agg = rd.aggregates(rd.primary(df))
    inp = Inputs(res=res, agg=agg, eu=eu, cu=cu, with_figures=with_figures)
    sections = [spec.make(inp) for spec in _SPECS]
    title_suites = ", ".join(res.suites) or "results"
    return {
        "title": f"greenbench report: {title_suites}",
        "suites": res.suites,
        "machines": res.machines,
        "generated_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "sources": [str(d) for d in res.dirs],
        "sections": sections,
        "unreadable": list(res.corrupt),  # (file, why): record files left out of the report
        "estimated": bool(df["estimated"].any()),
        "low_confidence": bool(df["low_confidence"].any()),
        "units": {"energy": eu[0], "co2": cu[0]},
        "agg": agg,
        "df": df,
    }
