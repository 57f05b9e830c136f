"""Transparency: the best run up close, its confusion matrix and sample predictions."""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .. import data as rd
from .. import fmt, plot
from .base import Inputs, Section, Spec


@dataclass
class Samples:
    images: np.ndarray  # (n, 28, 28) uint8
    labels: list[int]
    predictions: list[int]
    indices: list[int]


def decode_samples(samples: Any) -> Samples | str:
    """The sample predictions of a record, or a one-line reason why they cannot be shown."""
    if not isinstance(samples, dict):
        return "no sample predictions were recorded"
    labels, preds = samples.get("labels"), samples.get("predictions")
    if not isinstance(labels, list) or not isinstance(preds, list) or len(labels) != len(preds) or not labels:
        return "the recorded samples have no matching labels and predictions"
    try:
        raw = base64.b64decode(samples.get("images_b64") or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        return "the recorded sample images are not valid base64"
    n = len(labels)
    if len(raw) != n * 28 * 28:
        return f"the recorded sample images hold {len(raw)} bytes, expected {n}×28×28"
    try:
        lab = [int(v) for v in labels]
        pre = [int(v) for v in preds]
    except (TypeError, ValueError):
        return "the recorded sample labels are not integers"
    idx = samples.get("indices")
    indices = [int(v) for v in idx] if isinstance(idx, list) and len(idx) == n else list(range(n))
    return Samples(np.frombuffer(raw, dtype=np.uint8).reshape(n, 28, 28), lab, pre, indices)


def confusion_figure(matrix: Sequence[Sequence[Any]], names: Sequence[str]) -> plot.Img | None:
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

    with plot.theme():
        fig, ax = plot.new_figure(0.4 * len(names) + 2.2, 0.36 * len(names) + 1.0)
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
        return plot.render(fig, "Confusion matrix of the best run: counts, coloured by share of the true class")


def sample_grid(samples: Samples, names: Sequence[str], limit: int = 40) -> plot.Img:
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

    with plot.theme():
        fig, ax = plot.new_figure(width / 36, height / 36)
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
            title = plot.short(name(samples.predictions[i]), 10)
            if wrong:
                title += f" (true {plot.short(name(samples.labels[i]), 8)})"
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
        return plot.render(
            fig,
            "Grid of sample test images with predicted labels; misclassified ones framed in red",
            kind="png",
            dpi=130,
        )


def build(inp: Inputs, sec: Section) -> None:
    res, with_figures = inp.res, inp.with_figures
    runs = rd.primary(res.df)
    runs = runs[pd.to_numeric(runs["test_accuracy"], errors="coerce").notna()]
    if runs.empty:
        sec.empty = "No completed run to inspect."
        return
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
        if with_figures and (img := confusion_figure(conf, names)):
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
    samples = decode_samples(rec.get("samples"))
    source_row = best
    if isinstance(samples, str):  # fall back to the most accurate run that has samples
        for i in pd.to_numeric(runs["test_accuracy"]).sort_values(ascending=False).index:
            s = decode_samples(res.records[i].get("samples"))
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
            sec.figures.append(sample_grid(samples, names))


SECTION = Spec("transparency", "Transparency: the best run up close", build)
