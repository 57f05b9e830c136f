"""Report figures (matplotlib + seaborn), returned as ``data:`` URIs for ``<img>`` tags.

Charts are SVG (text as paths, so they need no fonts and stay sharp when zoomed);
image grids are PNG. Figures are built from :class:`matplotlib.figure.Figure`
directly, never through pyplot, so rendering a report never touches the caller's
matplotlib backend or global style.
"""

from __future__ import annotations

import base64
import io
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
import pandas as pd

from . import data as rd
from . import fmt

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

GREEN = "#1a7f4b"
GREY = "#9aa5a0"
BACKEND_COLORS = {"torch": "#d55e00", "tensorflow": "#0072b2"}
BACKEND_MARKERS = {"torch": "o", "tensorflow": "s"}
EXTRA_MARKERS = ["D", "^", "v", "P", "X", "<", ">"]
MAX_ROWS = 40  # bars / heatmap rows before we keep only the most accurate


@dataclass(frozen=True)
class Img:
    uri: str
    alt: str


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


def render(fig: "Figure", alt: str, kind: str = "svg", dpi: int = 150) -> Img:
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
    return Img(uri=uri, alt=alt)


# --------------------------------------------------------------------------- styling helpers
def backend_color(backend: Any, order: Sequence[Any] = ()) -> str:
    if backend in BACKEND_COLORS:
        return BACKEND_COLORS[backend]
    import seaborn as sns

    pal = sns.color_palette("dark", 8).as_hex()
    idx = list(order).index(backend) if backend in order else abs(hash(str(backend)))
    return pal[idx % len(pal)]


def backend_marker(backend: Any, order: Sequence[Any] = ()) -> str:
    if backend in BACKEND_MARKERS:
        return BACKEND_MARKERS[backend]
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


def _legend_handles(colors: dict[Any, Any], markers: dict[Any, str], hollow_note: bool) -> list[Any]:
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


def _energy_axis_label(what: str, unit: str, est: pd.Series) -> str:
    if len(est) and est.all():
        return f"{what} per run ({unit}), estimated {fmt.EST}"
    if est.any():
        return f"{what} per run ({unit}), {fmt.EST} partly estimated"
    return f"{what} per run ({unit})"


# --------------------------------------------------------------------------- figures
def pareto(runs: pd.DataFrame, agg: pd.DataFrame, e_unit: tuple[str, float], c_unit: tuple[str, float]) -> Img | None:
    """Accuracy vs energy and vs CO₂: runs as faint dots, configuration means (95 % CI bars) on top,
    and the Pareto front over the means (less energy, more accuracy)."""
    pts = runs[pd.to_numeric(runs["test_accuracy"], errors="coerce").notna()]
    means = agg[pd.to_numeric(agg["test_accuracy_mean"], errors="coerce").notna()]
    panels = [
        (c, u, w)
        for c, u, w in (("total_energy_kwh", e_unit, "Energy"), ("total_co2_kg", c_unit, "CO₂"))
        if pd.to_numeric(means[f"{c}_mean"], errors="coerce").notna().any()
    ]
    if means.empty or not panels:
        return None
    models = sorted(means["model"].astype(str).unique())
    backends = sorted(means["backend"].astype(str).unique())
    colors = palette(models)
    markers = {b: backend_marker(b, backends) for b in backends}
    mixed = bool(means["estimated"].any() and not means["estimated"].all())
    numbers = front_numbers(means)
    several_seeds = bool((means["n"] > 1).any())
    with theme():
        fig, axes = new_figure(5.6 * len(panels), 4.4, ncols=len(panels), sharey=True, squeeze=False)
        for ax, (col, unit, what) in zip(axes[0], panels):
            if several_seeds:
                r = pts[pd.to_numeric(pts[col], errors="coerce").notna()]
                for (b, m), g in r.groupby([r["backend"].astype(str), r["model"].astype(str)]):
                    ax.scatter(
                        pd.to_numeric(g[col]) / unit[1],
                        pd.to_numeric(g["test_accuracy"]) * 100,
                        marker=markers.get(b, "o"),
                        s=14,
                        color=colors.get(m, GREY),
                        alpha=0.28,
                        lw=0,
                        zorder=2,
                    )
            d = means[pd.to_numeric(means[f"{col}_mean"], errors="coerce").notna()].copy()
            d["_x"] = pd.to_numeric(d[f"{col}_mean"]) / unit[1]
            d["_y"] = pd.to_numeric(d["test_accuracy_mean"]) * 100
            for _, row in d.iterrows():
                hollow = mixed and bool(row["estimated"])
                c = colors[str(row["model"])]
                xlo, xhi = row.get(f"{col}_ci_low"), row.get(f"{col}_ci_high")
                ylo, yhi = row.get("test_accuracy_ci_low"), row.get("test_accuracy_ci_high")
                xerr = (
                    [[row["_x"] - xlo / unit[1]], [xhi / unit[1] - row["_x"]]]
                    if fmt.finite(xlo) and fmt.finite(xhi)
                    else None
                )
                yerr = (
                    [[row["_y"] - ylo * 100], [yhi * 100 - row["_y"]]] if fmt.finite(ylo) and fmt.finite(yhi) else None
                )
                if xerr or yerr:
                    ax.errorbar(
                        [row["_x"]],
                        [row["_y"]],
                        xerr=xerr,
                        yerr=yerr,
                        fmt="none",
                        ecolor=c,
                        elinewidth=1,
                        alpha=0.7,
                        capsize=2,
                        zorder=3,
                    )
                ax.scatter(
                    [row["_x"]],
                    [row["_y"]],
                    marker=markers[str(row["backend"])],
                    s=62,
                    facecolors="white" if hollow else c,
                    edgecolors=c if hollow else "white",
                    linewidths=1.4 if hollow else 0.7,
                    zorder=4,
                )
            mask = rd.pareto_mask(d["_x"], d["_y"])
            front = d[mask].sort_values("_x")
            if len(front):
                xs = list(front["_x"]) + [d["_x"].max()]
                ys = list(front["_y"]) + [front["_y"].iloc[-1]]
                ax.step(xs, ys, where="post", color=GREEN, lw=1.6, alpha=0.85, zorder=2.5)
                ax.scatter(
                    front["_x"], front["_y"], s=190, facecolors="none", edgecolors=GREEN, linewidths=1.6, zorder=5
                )
            for idx, row in d[d.index.isin(list(numbers))].iterrows():
                ax.annotate(
                    str(numbers[idx]),
                    (row["_x"], row["_y"]),
                    xytext=(0, 10),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=8.5,
                    fontweight="bold",
                    color=GREEN,
                    zorder=6,
                )
            xmin, xmax = d["_x"].min(), d["_x"].max()
            if xmin > 0 and xmax / xmin > 30:
                ax.set_xscale("log")
            ax.set_xlabel(_energy_axis_label(what, unit[0], d["estimated"]))
            ax.set_title(f"Accuracy vs {what.lower() if what == 'Energy' else what}")
        axes[0][0].set_ylabel("Test accuracy (%)")
        handles = _legend_handles(colors, markers, mixed)
        from matplotlib.lines import Line2D

        if several_seeds:
            handles.append(
                Line2D([], [], ls="", marker="o", color="#555", alpha=0.35, markersize=4, label="single runs (seeds)")
            )
        handles.append(
            Line2D([], [], color=GREEN, lw=1.6, marker="o", markerfacecolor="none", markersize=9, label="Pareto front")
        )
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 7), fontsize=8)
        return render(fig, "Scatter of test accuracy against energy and CO₂ per configuration, Pareto front marked")


def front_numbers(agg: pd.DataFrame) -> dict[Any, int]:
    """Row index → 1, 2, … for the configurations on the accuracy-vs-energy Pareto front, cheapest first."""
    e, a = "total_energy_kwh_mean", "test_accuracy_mean"
    d = agg[pd.to_numeric(agg[a], errors="coerce").notna() & pd.to_numeric(agg[e], errors="coerce").notna()]
    if d.empty:
        return {}
    mask = rd.pareto_mask(pd.to_numeric(d[e]), pd.to_numeric(d[a]))
    front = d[mask].sort_values([e, a], ascending=[True, False])
    return {idx: i + 1 for i, idx in enumerate(front.index)}


def comparison(
    agg: pd.DataFrame, axes_varying: Sequence[str], e_unit: tuple[str, float], c_unit: tuple[str, float]
) -> Img | None:
    """Accuracy, time, energy and CO₂ per configuration (mean over seeds, 95 % CI bars), by backend."""
    if agg.empty:
        return None
    agg = agg.copy()
    group_axes = [a for a in axes_varying if a != "backend"]
    agg["_group"] = [rd.join_label(rd._axis_text(a, r[a]) for a in group_axes) or "all" for _, r in agg.iterrows()]
    order = agg.groupby("_group")["test_accuracy_mean"].max().sort_values(ascending=True).index.tolist()
    if len(order) > MAX_ROWS:
        order = order[-MAX_ROWS:]
    backends = sorted(agg["backend"].astype(str).unique())
    pos = {g: i for i, g in enumerate(order)}
    h = 0.8 / len(backends)
    metrics = [
        ("test_accuracy", "Test accuracy (%)", 100.0),
        ("train_time_s", "Training time (s)", 1.0),
        ("total_energy_kwh", f"Energy per run ({e_unit[0]})", 1.0 / e_unit[1]),
        ("total_co2_kg", f"CO₂ per run ({c_unit[0]})", 1.0 / c_unit[1]),
    ]
    metrics = [m for m in metrics if pd.to_numeric(agg[f"{m[0]}_mean"], errors="coerce").notna().any()]
    est = bool(agg["estimated"].any())
    with theme():
        fig, axes = new_figure(
            2.9 * len(metrics) + 1.6,
            max(2.4, 0.2 * len(order) * len(backends) + 1.3),
            ncols=len(metrics),
            sharey=True,
            squeeze=False,
        )
        for ax, (m, title, scale) in zip(axes[0], metrics):
            for j, b in enumerate(backends):
                sub = agg[(agg["backend"].astype(str) == b) & agg["_group"].isin(pos)]
                if sub.empty:
                    continue
                y = np.array([pos[g] for g in sub["_group"]]) - 0.4 + h * (j + 0.5)
                mean = pd.to_numeric(sub[f"{m}_mean"], errors="coerce").to_numpy() * scale
                lo = pd.to_numeric(sub[f"{m}_ci_low"], errors="coerce").to_numpy() * scale
                hi = pd.to_numeric(sub[f"{m}_ci_high"], errors="coerce").to_numpy() * scale
                err = np.vstack([np.where(np.isfinite(lo), mean - lo, 0), np.where(np.isfinite(hi), hi - mean, 0)])
                color = backend_color(b, backends)
                if m == "test_accuracy":
                    ax.errorbar(
                        mean,
                        y,
                        xerr=err,
                        fmt=backend_marker(b, backends),
                        color=color,
                        ms=6,
                        capsize=2.5,
                        lw=1.2,
                        label=b,
                    )
                else:
                    ax.barh(
                        y,
                        mean,
                        height=h * 0.92,
                        xerr=err,
                        color=color,
                        alpha=0.88,
                        label=b,
                        error_kw={"capsize": 2.5, "lw": 1.0, "ecolor": "#333"},
                    )
            ttl = title + (f" {fmt.EST}" if est and m in ("total_energy_kwh", "total_co2_kg") else "")
            ax.set_title(ttl)
            ax.grid(axis="y", visible=False)
        axes[0][0].set_yticks(range(len(order)), [short(g, 40) for g in order])
        handles, labels = axes[0][-1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=len(backends), fontsize=8)
        return render(fig, "Bar charts of accuracy, training time, energy and CO₂ per configuration and backend")


def curves(hist: pd.DataFrame, e_unit: tuple[str, float]) -> Img | None:
    """Per-epoch accuracy and loss, and accuracy against the energy spent so far."""
    if hist.empty:
        return None
    use_val = hist["val_accuracy"].notna().any()
    acc_col = "val_accuracy" if use_val else "train_accuracy"
    hist = hist.copy()
    hist["_acc"] = hist[acc_col] * 100
    hist["_energy"] = hist["cum_energy_kwh"] / e_unit[1]
    hist["_variant"] = [
        " · ".join(p for p in cl.split(" · ") if p not in (b, m)) or b
        for cl, b, m in zip(hist["config_label"], hist["backend"].astype(str), hist["model"].astype(str))
    ]
    models = sorted(hist["model"].astype(str).unique())
    variants = sorted(hist["_variant"].unique())
    backends = sorted(hist["backend"].astype(str).unique())
    by_backend = len(variants) == 1 or set(variants) <= set(backends)
    colors = {b: backend_color(b, backends) for b in backends} if by_backend else palette(variants)
    dashes = {b: (None if i == 0 else (4, 2 + i)) for i, b in enumerate(backends)}
    rows = [
        ("_acc", f"{'Validation' if use_val else 'Training'} accuracy (%)", "epoch"),
        ("train_loss", "Training loss", "epoch"),
    ]
    if hist["_energy"].notna().any():
        rows.append(("_acc", f"{'Validation' if use_val else 'Training'} accuracy (%)", "_energy"))
    multi_seed = hist.groupby(["config_label", "epoch"])["seed"].nunique().max() > 1
    with theme():
        fig, axes = new_figure(
            3.7 * len(models) + 0.6, 2.55 * len(rows) + 0.6, nrows=len(rows), ncols=len(models), squeeze=False
        )
        for c, model in enumerate(models):
            dm = hist[hist["model"].astype(str) == model]
            for r, (y, ylabel, x) in enumerate(rows):
                ax = axes[r][c]
                for (variant, backend), g in dm.groupby(["_variant", dm["backend"].astype(str)]):
                    color = colors[backend] if by_backend else colors[variant]
                    if x == "epoch":
                        stats = g.groupby("epoch")[y].agg(["mean", "std"]).reset_index()
                        ax.plot(
                            stats["epoch"],
                            stats["mean"],
                            color=color,
                            marker=backend_marker(backend, backends),
                            ms=3.5,
                            lw=1.5,
                            dashes=dashes[backend] or (None, None),
                        )
                        if multi_seed and stats["std"].notna().any():
                            ax.fill_between(
                                stats["epoch"],
                                stats["mean"] - stats["std"].fillna(0),
                                stats["mean"] + stats["std"].fillna(0),
                                color=color,
                                alpha=0.15,
                                lw=0,
                            )
                    else:
                        for _, gs in g.groupby("seed"):
                            gs = gs.sort_values("epoch")
                            ax.plot(
                                gs["_energy"],
                                gs[y],
                                color=color,
                                marker=backend_marker(backend, backends),
                                ms=3.5,
                                lw=1.2,
                                alpha=0.85,
                                dashes=dashes[backend] or (None, None),
                            )
                if r == 0:
                    ax.set_title(str(model))
                if c == 0:
                    ax.set_ylabel(ylabel)
                if x == "epoch":
                    ax.set_xlabel("epoch")
                    ax.xaxis.get_major_locator().set_params(integer=True)
                else:
                    est = hist["estimated"].any()
                    ax.set_xlabel(f"energy spent so far ({e_unit[0]}){' ' + fmt.EST if est else ''}")
        from matplotlib.lines import Line2D

        handles = []
        if by_backend:
            handles = [
                Line2D(
                    [],
                    [],
                    color=colors[b],
                    marker=backend_marker(b, backends),
                    label=b,
                    dashes=dashes[b] or (None, None),
                )
                for b in backends
            ]
        else:
            handles = [Line2D([], [], color=colors[v], lw=2, label=short(v, 30)) for v in variants]
            handles += [
                Line2D(
                    [], [], color="#555", marker=backend_marker(b, backends), label=b, dashes=dashes[b] or (None, None)
                )
                for b in backends
            ]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(6, len(handles)), fontsize=8)
        return render(fig, "Training curves per epoch: accuracy, loss, and accuracy against energy spent")


def targets(agg: pd.DataFrame, e_unit: tuple[str, float]) -> Img | None:
    d = agg[
        pd.to_numeric(agg["time_to_target_s_mean"], errors="coerce").notna()
        | pd.to_numeric(agg["energy_to_target_kwh_mean"], errors="coerce").notna()
    ]
    if d.empty:
        return None
    d = d.sort_values("energy_to_target_kwh_mean", ascending=False).tail(MAX_ROWS)
    backends = sorted(d["backend"].astype(str).unique())
    panels = [
        ("time_to_target_s", "Time to target (s)", 1.0),
        ("energy_to_target_kwh", f"Energy to target ({e_unit[0]})", 1.0 / e_unit[1]),
    ]
    with theme():
        fig, axes = new_figure(9.5, max(2.2, 0.28 * len(d) + 1.2), ncols=2, sharey=True)
        y = np.arange(len(d))
        for ax, (m, title, scale) in zip(axes, panels):
            mean = pd.to_numeric(d[f"{m}_mean"], errors="coerce").to_numpy() * scale
            lo = pd.to_numeric(d[f"{m}_ci_low"], errors="coerce").to_numpy() * scale
            hi = pd.to_numeric(d[f"{m}_ci_high"], errors="coerce").to_numpy() * scale
            err = np.vstack([np.where(np.isfinite(lo), mean - lo, 0), np.where(np.isfinite(hi), hi - mean, 0)])
            ax.barh(
                y,
                np.nan_to_num(mean),
                xerr=err,
                color=[backend_color(b, backends) for b in d["backend"]],
                alpha=0.88,
                error_kw={"capsize": 2.5, "lw": 1.0},
            )
            est = m == "energy_to_target_kwh" and bool(d["estimated"].any())
            ax.set_title(title + (f" {fmt.EST}" if est else ""))
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks(y, [short(v, 44) for v in d["config_label"]])
        return render(fig, "Bar charts of time and energy needed to reach the target accuracy")


def compression(comp: pd.DataFrame, base: pd.DataFrame) -> Img | None:
    """Size, latency and inference energy against accuracy for every compression variant and its baseline."""
    if comp.empty:
        return None
    methods = sorted(comp["compression"].astype(str).unique())
    backends = sorted(set(comp["backend"].astype(str)) | set(base["backend"].astype(str)))
    colors = palette(methods)
    comp = comp.copy()
    comp["_acc"] = pd.to_numeric(comp["test_accuracy"], errors="coerce") * 100
    base = base.copy()
    base["_acc"] = pd.to_numeric(base["test_accuracy"], errors="coerce") * 100
    panels = [
        ("size_kb", "Model size (kB)"),
        ("latency_ms_p50", "Latency p50 (ms)"),
        ("inference_energy", "Inference energy per 1,000 images"),
    ]
    comp["size_kb"] = pd.to_numeric(comp["size_bytes"], errors="coerce") / 1e3
    # the uncompressed model's size is recorded with each of its variants (baseline_size_bytes)
    from_variants = (
        comp.assign(_b=pd.to_numeric(comp["baseline_size_bytes"], errors="coerce"))
        .dropna(subset=["_b"])
        .groupby("trained_run_id")["_b"]
        .first()
    )
    base["size_kb"] = base["run_id"].map(from_variants).fillna(pd.to_numeric(base["size_bytes"], errors="coerce")) / 1e3
    ie = pd.to_numeric(
        pd.concat([comp["inference_energy_kwh_per_1k"], base["inference_energy_kwh_per_1k"]]), errors="coerce"
    )
    ie_unit = fmt.pick_unit(ie, fmt.ENERGY_UNITS)
    comp["inference_energy"] = pd.to_numeric(comp["inference_energy_kwh_per_1k"], errors="coerce") / ie_unit[1]
    base["inference_energy"] = pd.to_numeric(base["inference_energy_kwh_per_1k"], errors="coerce") / ie_unit[1]
    panels = [(c, t) for c, t in panels if pd.to_numeric(comp[c], errors="coerce").notna().any()]
    if not panels:
        return None
    with theme():
        fig, axes = new_figure(4.1 * len(panels), 3.8, ncols=len(panels), sharey=True, squeeze=False)
        for ax, (col, title) in zip(axes[0], panels):
            for _, b in base.iterrows():
                if not (fmt.finite(b[col]) and fmt.finite(b["_acc"])):
                    continue
                ax.scatter([b[col]], [b["_acc"]], marker="*", s=150, color="#222", zorder=4)
                for _, v in comp[comp["trained_run_id"] == b["run_id"]].iterrows():
                    if fmt.finite(v[col]) and fmt.finite(v["_acc"]):
                        ax.plot([b[col], v[col]], [b["_acc"], v["_acc"]], color=GREY, lw=0.8, zorder=1)
            for (m, bk), g in comp.groupby([comp["compression"].astype(str), comp["backend"].astype(str)]):
                ax.scatter(
                    g[col],
                    g["_acc"],
                    color=colors[m],
                    marker=backend_marker(bk, backends),
                    s=55,
                    edgecolors="white",
                    linewidths=0.6,
                    zorder=3,
                )
            unit = f" ({ie_unit[0]})" if col == "inference_energy" else ""
            est = col == "inference_energy" and comp["inference_energy_source"].isin(fmt.ESTIMATED_SOURCES).any()
            ax.set_xlabel(title + unit + (f" {fmt.EST}" if est else ""))
            ax.set_title(title.split(" (")[0].replace(" per 1,000 images", "") + " vs accuracy")
        axes[0][0].set_ylabel("Test accuracy (%)")
        from matplotlib.lines import Line2D

        handles = _legend_handles(colors, {b: backend_marker(b, backends) for b in backends}, False)
        handles.append(Line2D([], [], ls="", marker="*", color="#222", markersize=10, label="uncompressed baseline"))
        fig.legend(handles=handles, loc="outside lower center", ncol=min(6, len(handles)), fontsize=8)
        return render(fig, "Compression trade-offs: size, latency and inference energy against accuracy")


def fairness(pc: pd.DataFrame) -> Img | None:
    """Per-class accuracy heatmap, one row per configuration (mean over seeds)."""
    if pc.empty:
        return None
    n = max(len(v) for v in pc["values"])
    pc = pc[[len(v) == n for v in pc["values"]]]
    grouped = (
        pc.assign(_v=[np.asarray(v) for v in pc["values"]])
        .groupby("config_label")
        .agg(
            values=("_v", lambda s: np.mean(np.stack(list(s)), axis=0)), accuracy=("accuracy", "mean"), n=("_v", "size")
        )
    )
    grouped = grouped.sort_values("accuracy", ascending=False).head(MAX_ROWS)
    mat = np.stack(list(grouped["values"])) * 100
    names = pc["classes"].iloc[0]
    import seaborn as sns

    with theme():
        fig, ax = new_figure(max(6.0, 0.62 * n + 3.6), 0.34 * len(grouped) + 1.5)
        sns.heatmap(
            mat,
            ax=ax,
            cmap="RdYlGn",
            vmin=max(0.0, float(np.nanmin(mat)) - 1),
            vmax=100,
            annot=len(grouped) * n <= 600,
            fmt=".1f",
            annot_kws={"fontsize": 7},
            linewidths=0.5,
            linecolor="white",
            cbar_kws={"label": "class accuracy (%)", "shrink": 0.8},
            xticklabels=names,
            yticklabels=[short(v, 44) for v in grouped.index],
        )
        ax.set_xlabel("true class")
        ax.set_ylabel("")
        ax.tick_params(axis="x", rotation=0 if n <= 10 and max(len(x) for x in names) < 3 else 45)
        return render(fig, "Heatmap of per-class accuracy per configuration")


def confusion(matrix: Sequence[Sequence[Any]], names: Sequence[str]) -> Img | None:
    try:
        m = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError):
        return None
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.size == 0:
        return None
    rows = m.sum(axis=1, keepdims=True)
    norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    names = list(names) if len(names) == m.shape[0] else [str(i) for i in range(m.shape[0])]
    import seaborn as sns

    with theme():
        fig, ax = new_figure(0.4 * len(names) + 2.2, 0.36 * len(names) + 1.0)
        sns.heatmap(
            norm,
            ax=ax,
            cmap="Greens",
            vmin=0,
            vmax=1,
            annot=m.astype(int),
            fmt="d",
            annot_kws={"fontsize": 7},
            linewidths=0.5,
            linecolor="white",
            square=True,
            cbar_kws={"label": "share of the true class", "shrink": 0.8},
            xticklabels=names,
            yticklabels=names,
        )
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.tick_params(axis="x", rotation=0 if max(len(x) for x in names) < 3 else 45)
        ax.tick_params(axis="y", rotation=0)
        return render(fig, "Confusion matrix of the best run: counts, coloured by share of the true class")


def sample_grid(samples: rd.Samples, names: Sequence[str], limit: int = 40) -> Img:
    """Test images with their predictions; misclassified ones first, framed in red.

    Drawn as one mosaic on one axes (fast), with the labels as text above each tile.
    """
    from matplotlib.patches import Rectangle

    order = [i for i in range(len(samples.labels)) if samples.labels[i] != samples.predictions[i]]
    order += [i for i in range(len(samples.labels)) if samples.labels[i] == samples.predictions[i]]
    order = order[:limit]
    cols = min(10, len(order))
    rows = math.ceil(len(order) / cols)
    tile, gap_x, gap_y = 28, 8, 16  # pixels: image, horizontal gap, vertical gap (room for the title)
    width, height = cols * (tile + gap_x), rows * (tile + gap_y)
    mosaic = np.full((height, width), np.nan)

    def name(k: int) -> str:
        return names[k] if 0 <= k < len(names) else str(k)

    with theme():
        fig, ax = new_figure(width / 36, height / 36)
        spots = []
        for n, i in enumerate(order):
            x0 = (n % cols) * (tile + gap_x) + gap_x // 2
            y0 = (n // cols) * (tile + gap_y) + gap_y - 2
            mosaic[y0 : y0 + tile, x0 : x0 + tile] = samples.images[i]
            spots.append((i, x0, y0))
        cmap = __import__("matplotlib").colormaps["gray_r"].with_extremes(bad="white")
        ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
        for i, x0, y0 in spots:
            wrong = samples.labels[i] != samples.predictions[i]
            color = "#c62828" if wrong else "#cfd8d3"
            ax.add_patch(
                Rectangle(
                    (x0 - 1.5, y0 - 1.5),
                    tile + 2,
                    tile + 2,
                    fill=False,
                    edgecolor=color,
                    linewidth=2.2 if wrong else 0.7,
                )
            )
            title = short(name(samples.predictions[i]), 10)
            if wrong:
                title += f" (true {short(name(samples.labels[i]), 8)})"
            ax.text(
                x0 + tile / 2,
                y0 - 3.5,
                title,
                ha="center",
                va="bottom",
                fontsize=6.5,
                color="#c62828" if wrong else "#234",
                fontweight="bold" if wrong else "normal",
            )
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.axis("off")
        return render(
            fig,
            "Grid of sample test images with predicted labels; misclassified ones framed in red",
            kind="png",
            dpi=130,
        )


def what_if(rows: list[dict[str, Any]], energy_kwh: float, c_unit: tuple[str, float]) -> Img | None:
    if not rows or not fmt.finite(energy_kwh):
        return None
    rows = sorted(rows, key=lambda r: r["g_per_kwh"])
    with theme():
        fig, ax = new_figure(7.8, 0.32 * len(rows) + 1.1)
        y = np.arange(len(rows))
        vals = np.array([energy_kwh * r["g_per_kwh"] / 1000 / c_unit[1] for r in rows])
        colors = [GREEN if r["recorded"] else "#8fb5a2" for r in rows]
        ax.barh(y, vals, color=colors, height=0.7)
        for yi, v, r in zip(y, vals, rows):
            ax.text(
                v,
                yi,
                f"  {fmt.num(v)} {c_unit[0]}  ({r['g_per_kwh']:.0f} g/kWh)",
                va="center",
                fontsize=7.5,
                color="#234",
            )
        ax.set_yticks(y, [short(f"{r['name']}{' (recorded)' if r['recorded'] else ''}", 36) for r in rows])
        ax.set_xlabel(f"CO₂ of this report's energy ({c_unit[0]})")
        ax.set_xlim(0, vals.max() * 1.45 if vals.max() > 0 else 1)
        ax.grid(axis="y", visible=False)
        return render(fig, "Bar chart of the CO₂ the same energy would emit on other countries' grids")
