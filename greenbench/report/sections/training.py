"""Training curves: accuracy and loss per epoch, and accuracy against the energy spent so far."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .. import bounds
from .. import data as rd
from .. import fmt, plot
from .base import Inputs, Section, Spec, Table


def history_frame(df: pd.DataFrame, records: list[dict[str, Any]]) -> pd.DataFrame:
    """Per-epoch history of completed primary runs in long form (with cumulative energy)."""
    rows = []
    for i, row in rd.primary(df).iterrows():
        hist = records[i].get("history") or []
        gross, lo, hi = (row.get(c) for c in ("train_energy_kwh", "train_energy_kwh_low", "train_energy_kwh_high"))
        ok = all(fmt.finite(v) for v in (gross, lo, hi)) and float(gross) > 0
        lo_f, hi_f = (float(lo) / float(gross), float(hi) / float(gross)) if ok else (math.nan, math.nan)
        cum_e = 0.0
        have_e = True
        for h in hist:
            if not isinstance(h, dict) or not fmt.finite(h.get("epoch")):
                continue
            e = h.get("energy_kwh")
            if fmt.finite(e) and have_e:
                cum_e += float(e)
            else:
                have_e = False
            rows.append(
                {
                    "index": i,
                    "label": row["label"],
                    "config_label": row["config_label"],
                    "backend": row["backend"],
                    "model": row["model"],
                    "seed": row["seed"],
                    "epoch": int(h["epoch"]),
                    "train_loss": _f(h.get("train_loss")),
                    "train_accuracy": _f(h.get("train_accuracy")),
                    "val_accuracy": _f(h.get("val_accuracy")),
                    "cum_energy_kwh": cum_e if have_e else math.nan,
                    "estimated": bool(row["estimated"]),
                    "energy_low_factor": lo_f,  # the training window's method interval, relative
                    "energy_high_factor": hi_f,
                }
            )
    return pd.DataFrame(rows)


def _f(v: Any) -> float:
    return float(v) if fmt.finite(v) else math.nan


def figure(hist: pd.DataFrame, e_unit: tuple[str, float], caption: str = "") -> plot.Img | None:
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
    colors = {b: plot.backend_color(b, backends) for b in backends} if by_backend else plot.palette(variants)
    dashes = {b: (None if i == 0 else (4, 2 + i)) for i, b in enumerate(backends)}
    rows = [
        ("_acc", f"{'Validation' if use_val else 'Training'} accuracy (%)", "epoch"),
        ("train_loss", "Training loss", "epoch"),
    ]
    if hist["_energy"].notna().any():
        rows.append(("_acc", f"{'Validation' if use_val else 'Training'} accuracy (%)", "_energy"))
    multi_seed = hist.groupby(["config_label", "epoch"])["seed"].nunique().max() > 1
    with plot.theme():
        fig, axes = plot.new_figure(
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
                            marker=plot.backend_marker(backend, backends),
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
                        for seed, gs in g.groupby("seed"):
                            gs = gs.sort_values("epoch")
                            last = gs.iloc[-1]
                            if fmt.finite(last["_energy"]) and fmt.finite(last["energy_low_factor"]):
                                bounds.draw(
                                    ax,
                                    [last["_energy"]],
                                    [last[y]],
                                    xerr=bounds.yerr(
                                        last["_energy"],
                                        last["_energy"] * last["energy_low_factor"],
                                        last["_energy"] * last["energy_high_factor"],
                                    ),
                                    gid=f"train-{model}-{variant}-{backend}-{seed}",
                                    ecolor=color,
                                    alpha=0.3,
                                )
                            ax.plot(
                                gs["_energy"],
                                gs[y],
                                color=color,
                                marker=plot.backend_marker(backend, backends),
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
                    marker=plot.backend_marker(b, backends),
                    label=b,
                    dashes=dashes[b] or (None, None),
                )
                for b in backends
            ]
        else:
            handles = [Line2D([], [], color=colors[v], lw=2, label=plot.short(v, 30)) for v in variants]
            handles += [
                Line2D(
                    [],
                    [],
                    color="#555",
                    marker=plot.backend_marker(b, backends),
                    label=b,
                    dashes=dashes[b] or (None, None),
                )
                for b in backends
            ]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(6, len(handles)), fontsize=8)
        return plot.render(
            fig, "Training curves per epoch: accuracy, loss, and accuracy against energy spent", caption=caption
        )


def build(inp: Inputs, sec: Section) -> None:
    res, eu, with_figures = inp.res, inp.eu, inp.with_figures
    hist = history_frame(res.df, res.records)
    if hist.empty:
        sec.empty = "No per-epoch history was recorded."
        return
    which = "validation" if hist["val_accuracy"].notna().any() else "training"
    sec.intro.append(
        f"Per-epoch {which} accuracy and training loss (mean over seeds, band ±1 standard deviation where there "
        "are several seeds), and accuracy against the energy spent so far (one line per run)."
    )
    if which == "training":
        sec.notes.append("The suite held out no validation set, so the curves show training accuracy.")
    caption = ""
    if hist["energy_low_factor"].notna().any():
        caption = bounds.bars_caption(
            res.df, "the bands around the accuracy and loss curves, ±1 standard deviation over seeds"
        ) + " The method bar sits at the end of each run's energy curve (the training window's interval)."
    if with_figures and (img := figure(hist, eu, caption)):
        sec.figures.append(img)
    energy_table(inp, sec)


def energy_table(inp: Inputs, sec: Section) -> None:
    """Training energy per configuration: gross with its method interval, net above idle where recorded."""
    agg, eu = inp.agg, inp.eu
    if agg.empty or not pd.to_numeric(agg.get("train_energy_kwh_mean"), errors="coerce").notna().any():
        return
    net = bounds.has_values(agg, "train_net_energy_kwh_mean")
    rows = []
    for _, r in agg.sort_values("test_accuracy_mean", ascending=False).iterrows():
        mark = f" {fmt.EST}" if r["estimated"] else ""
        row = {"configuration": r["config_label"], "seeds": int(r["n"]),
               "training energy (gross)": bounds.agg_cell(r, "train_energy_kwh", eu) + mark}
        if net:
            row["net (above idle)"] = bounds.agg_cell(r, "train_net_energy_kwh", eu) + mark
        row["wider interval"] = bounds.dominance(r, "train_energy_kwh", eu)
        rows.append(row)
    note = (
        "Mean ± 95 % CI half-width over seeds; in brackets the method interval (mean over seeds of the runs' "
        "lower and upper bounds by the method that produced them)."
    )
    if net:
        note += (
            " Net: the energy above the idle baseline (idle power × training time subtracted); see Methodology "
            "for the idle power and what idle means for the method."
        )
    sec.tables.append(Table(pd.DataFrame(rows), caption="Training energy per configuration", note=note, wide=True))


SECTION = Spec("training", "Training curves", build)
