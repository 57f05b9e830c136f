"""What every section is made of, and what it is built from.

A section module defines ``build(inp, sec)``, which fills a :class:`Section` from the
:class:`Inputs`, optionally ``markdown(sec, rows)``, which returns its Markdown lines, and
``SECTION = Spec(id, title, build, markdown)``. Strings in a section are raw user/record
text: the HTML template escapes them (autoescape), the Markdown writer escapes them for
Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from .. import data as rd
from .. import fmt
from ..plot import Img

Unit = tuple[str, float]


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
    """One built section, as the HTML template and the Markdown writer read it."""

    id: str
    title: str
    intro: list[str] = field(default_factory=list)
    figures: list[Img] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    empty: str = ""  # shown instead of content when there is nothing to show
    cards: list[dict[str, Any]] | None = None  # key-figure cards, shown (with ``answer``) instead of the intro
    answer: str = ""
    details: list[dict[str, Any]] | None = None  # collapsible per-run details (failed runs)
    spec: "Spec | None" = field(default=None, repr=False, compare=False)


@dataclass
class Inputs:
    """What every section is built from: the loaded results and the numbers several sections share."""

    res: rd.Results
    agg: pd.DataFrame  # per-configuration aggregates of the primary (uncompressed, completed) runs
    eu: Unit  # energy unit of the report
    cu: Unit  # CO₂ unit of the report
    with_figures: bool

    @property
    def df(self) -> pd.DataFrame:
        return self.res.df


@dataclass(frozen=True)
class Spec:
    """A section: its anchor id and heading, how it is built and (when it is in the summary) its Markdown."""

    id: str
    title: str
    build: Callable[[Inputs, Section], None]
    markdown: Callable[[Section, int], list[str]] | None = None

    def make(self, inp: Inputs) -> Section:
        sec = Section(self.id, self.title, spec=self)
        self.build(inp, sec)
        return sec


def units(df: pd.DataFrame) -> tuple[Unit, Unit]:
    """The energy and CO₂ units of the whole report (one per column, picked from the run totals)."""
    e = fmt.pick_unit(pd.to_numeric(df["total_energy_kwh"], errors="coerce"), fmt.ENERGY_UNITS)
    c = fmt.pick_unit(pd.to_numeric(df["total_co2_kg"], errors="coerce"), fmt.CO2_UNITS)
    return e, c


def pm(row: pd.Series, metric: str, scale: float = 1.0, unit: str = "", digits: int = 3) -> str:
    """``mean ± CI half-width`` of ``metric`` in one aggregate row."""
    mean, half, _ = rd.mean_ci(row, metric)
    return fmt.pm(mean, half, scale, unit, digits)
