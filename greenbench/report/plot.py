"""Shared figure plumbing for the report sections: theme, figure creation, encoding, colours and markers.

Charts are SVG (text as paths, so they need no fonts and stay sharp when zoomed);
image grids are PNG. Figures are built from :class:`matplotlib.figure.Figure`
directly, never through pyplot, so rendering a report never touches the caller's
matplotlib backend or global style. Each section draws its own figures in its module
under :mod:`greenbench.report.sections`.
"""

from __future__ import annotations

import base64
import io
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import pandas as pd

from . import fmt

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

GREEN = "#1a7f4b"
GREY = "#9aa5a0"
EXTRA_MARKERS = ["D", "^", "v", "P", "X", "<", ">"]
MAX_ROWS = 40  # bars / heatmap rows before we keep only the most accurate


@dataclass(frozen=True)
class Img:
    uri: str
    alt: str
    caption: str = ""  # what the figure's bars are (shown under it)
    error_bars: int = 0  # method-interval error-bar containers drawn (greenbench.report.bounds.draw)


@contextmanager
def theme() -> Iterator[None]:
    import matplotlib as mpl
    import seaborn as sns

    rc = {
        **sns.axes_style("whitegrid"),
        **sns.plotting_context("notebook", font_scale=0.82),
        "text.parse_math": False,  # labels are user strings: a '$' must stay a '$'
        "svg.hashsalt": "greenbench",
        "svg.fonttype": "path",
        "font.family": ["DejaVu Sans"],
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.edgecolor": "#c9d1cd",
        "grid.color": "#e6ebe8",
        "axes.titleweight": "bold",
        "axes.titlesize": 10.5,
        "axes.titlelocation": "left",
        "legend.frameon": False,
        "figure.facecolor": "white",
    }
    with mpl.rc_context(rc):
        yield


def new_figure(width: float, height: float, **subplots: Any) -> tuple["Figure", Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(**subplots) if subplots else fig.subplots()
    return fig, axes


def render(fig: "Figure", alt: str, kind: str = "svg", dpi: int = 150, caption: str = "") -> Img:
    from .bounds import count_method_bars

    bars = count_method_bars(fig)
    buf = io.BytesIO()
    if kind == "svg":
        fig.savefig(
            buf,
            format="svg",
            bbox_inches="tight",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
        text = re.sub(rb"<!DOCTYPE[^>]*>\s*", b"", buf.getvalue(), count=1)
        uri = "data:image/svg+xml;base64," + base64.b64encode(text).decode("ascii")
    else:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    fig.clear()
    return Img(uri=uri, alt=alt, caption=caption, error_bars=bars)


# --------------------------------------------------------------------------- styling helpers
def _registered(backend: Any, attr: str) -> str | None:
    """The report colour or marker the backend registry gives ``backend``, if any."""
    from greenbench.backend_registry import backends

    info = backends().get(backend) if isinstance(backend, str) else None
    return getattr(info, attr) if info is not None else None


def backend_color(backend: Any, order: Sequence[Any] = ()) -> str:
    color = _registered(backend, "color")
    if color is not None:
        return color
    import seaborn as sns

    pal = sns.color_palette("dark", 8).as_hex()
    idx = list(order).index(backend) if backend in order else abs(hash(str(backend)))
    return pal[idx % len(pal)]


def backend_marker(backend: Any, order: Sequence[Any] = ()) -> str:
    marker = _registered(backend, "marker")
    if marker is not None:
        return marker
    idx = list(order).index(backend) if backend in order else 0
    return EXTRA_MARKERS[idx % len(EXTRA_MARKERS)]


def palette(values: Sequence[Any]) -> dict[Any, str]:
    import seaborn as sns

    values = list(dict.fromkeys(values))
    pal = (
        sns.color_palette("colorblind", max(3, len(values)))
        if len(values) <= 10
        else sns.color_palette("husl", len(values))
    )
    return {v: pal[i] for i, v in enumerate(values)}


def short(text: Any, limit: int = 48) -> str:
    return fmt.truncate(text, limit)


def legend_handles(colors: dict[Any, Any], markers: dict[Any, str], hollow_note: bool) -> list[Any]:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", color=c, label=short(k, 28), markersize=7) for k, c in colors.items()]
    handles += [
        Line2D([], [], ls="", marker=m, color="#555", label=short(k, 28), markersize=7) for k, m in markers.items()
    ]
    if hollow_note:
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                markerfacecolor="none",
                color="#555",
                label="hollow = estimated energy",
                markersize=7,
            )
        )
    return handles


def energy_axis_label(what: str, unit: str, est: pd.Series) -> str:
    if len(est) and est.all():
        return f"{what} per run ({unit}), estimated {fmt.EST}"
    if est.any():
        return f"{what} per run ({unit}), {fmt.EST} partly estimated"
    return f"{what} per run ({unit})"
