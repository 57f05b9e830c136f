"""Compression trade-offs: size, latency and inference energy of each variant against its baseline."""

from __future__ import annotations

import pandas as pd

from greenbench.choices import NO_COMPRESSION

from .. import bounds
from .. import data as rd
from .. import fmt, plot
from ..markdown import md_escape, md_tables
from .base import Inputs, Section, Spec, Table


def figure(comp: pd.DataFrame, base: pd.DataFrame, caption: str = "") -> plot.Img | None:
    """Size, latency and inference energy against accuracy for every compression variant and its baseline."""
    if comp.empty:
        return None
    methods = sorted(comp["compression"].astype(str).unique())
    backends = sorted(set(comp["backend"].astype(str)) | set(base["backend"].astype(str)))
    colors = plot.palette(methods)
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
    for d in (comp, base):
        for suffix in ("", "_low", "_high"):
            col = f"inference_energy_kwh_per_1k{suffix}"
            vals = pd.to_numeric(d[col], errors="coerce") if col in d else pd.Series(float("nan"), index=d.index)
            d[f"inference_energy{suffix}"] = vals / ie_unit[1]
    panels = [(c, t) for c, t in panels if pd.to_numeric(comp[c], errors="coerce").notna().any()]
    if not panels:
        return None
    with plot.theme():
        fig, axes = plot.new_figure(4.1 * len(panels), 3.8, ncols=len(panels), sharey=True, squeeze=False)
        for ax, (col, title) in zip(axes[0], panels):
            for _, b in base.iterrows():
                if not (fmt.finite(b[col]) and fmt.finite(b["_acc"])):
                    continue
                ax.scatter([b[col]], [b["_acc"]], marker="*", s=150, color="#222", zorder=4)
                for _, v in comp[comp["trained_run_id"] == b["run_id"]].iterrows():
                    if fmt.finite(v[col]) and fmt.finite(v["_acc"]):
                        ax.plot([b[col], v[col]], [b["_acc"], v["_acc"]], color=plot.GREY, lw=0.8, zorder=1)
            for (m, bk), g in comp.groupby([comp["compression"].astype(str), comp["backend"].astype(str)]):
                ax.scatter(
                    g[col],
                    g["_acc"],
                    color=colors[m],
                    marker=plot.backend_marker(bk, backends),
                    s=55,
                    edgecolors="white",
                    linewidths=0.6,
                    zorder=3,
                )
            if col == "inference_energy":  # the method interval of each point's inference energy
                for name, d in (("variant", comp), ("baseline", base)):
                    for idx, r in d.iterrows():
                        err = bounds.yerr(r[col], r[f"{col}_low"], r[f"{col}_high"])
                        if err and fmt.finite(r["_acc"]):
                            bounds.draw(ax, [r[col]], [r["_acc"]], xerr=err, gid=f"{name}-{idx}", elinewidth=2.4)
            unit = f" ({ie_unit[0]})" if col == "inference_energy" else ""
            est = col == "inference_energy" and comp["inference_energy_source"].isin(fmt.ESTIMATED_SOURCES).any()
            ax.set_xlabel(title + unit + (f" {fmt.EST}" if est else ""))
            ax.set_title(title.split(" (")[0].replace(" per 1,000 images", "") + " vs accuracy")
        axes[0][0].set_ylabel("Test accuracy (%)")
        from matplotlib.lines import Line2D

        handles = plot.legend_handles(colors, {b: plot.backend_marker(b, backends) for b in backends}, False)
        handles.append(Line2D([], [], ls="", marker="*", color="#222", markersize=10, label="uncompressed baseline"))
        fig.legend(handles=handles, loc="outside lower center", ncol=min(6, len(handles)), fontsize=8)
        return plot.render(
            fig, "Compression trade-offs: size, latency and inference energy against accuracy", caption=caption
        )


def build(inp: Inputs, sec: Section) -> None:
    res, with_figures = inp.res, inp.with_figures
    df = res.df
    comp = rd.completed(df)
    comp = comp[comp["compression"].fillna(NO_COMPRESSION) != NO_COMPRESSION]
    if comp.empty:
        sec.empty = "No compression variants in these results."
        return
    base = rd.completed(df)
    base = base[(base["compression"].fillna(NO_COMPRESSION) == NO_COMPRESSION) & base["run_id"].isin(comp["trained_run_id"])]
    sec.intro.append(
        "Each compressed model is derived from an uncompressed run of the same workload (the black star); "
        "accuracy change is measured on the same test set. Latency is per single image (p50); inference energy "
        "is per 1,000 images."
    )
    caption = bounds.bars_caption(
        df, "none, each point is a single run"
    )
    if with_figures and (img := figure(comp, base, caption)):
        sec.figures.append(img)
    e_unit = fmt.pick_unit(pd.to_numeric(comp["inference_energy_kwh_per_1k"], errors="coerce"), fmt.ENERGY_UNITS)
    inf_src = {r["run_id"]: (r.get("compression") or {}).get("inference_energy_source") for r in res.records}
    base_size = {r["run_id"]: (r.get("compression") or {}).get("baseline_size_bytes") for r in res.records}
    rows = []
    for _, r in comp.sort_values(["config_label"]).iterrows():
        rows.append(
            {
                "run": r["label"],
                "size": fmt.size(r["size_bytes"]),
                "vs baseline": (
                    f"{float(r['size_bytes']) / float(base_size[r['run_id']]) * 100:.0f} %"
                    if fmt.finite(r["size_bytes"]) and fmt.finite(base_size.get(r["run_id"])) and base_size[r["run_id"]]
                    else fmt.NA
                ),
                "sparsity": fmt.pct(r["sparsity"], 0) if fmt.finite(r["sparsity"]) else fmt.NA,
                "test accuracy": fmt.pct(r["test_accuracy"]),
                "Δ accuracy": f"{float(r['accuracy_delta_pp']):+.2f} pp"
                if fmt.finite(r["accuracy_delta_pp"])
                else fmt.NA,
                "latency p50 / p95": (
                    f"{fmt.num(r['latency_ms_p50'])} / {fmt.num(r['latency_ms_p95'])} ms"
                    if fmt.finite(r["latency_ms_p50"])
                    else fmt.NA
                ),
                "throughput": f"{fmt.num(r['throughput_ips'])} img/s" if fmt.finite(r["throughput_ips"]) else fmt.NA,
                "inference energy / 1k": fmt.marked(
                    bounds.row_range(r, "inference_energy_kwh_per_1k", e_unit), inf_src.get(r["run_id"])
                ),
            }
        )
    est = any(inf_src.get(r) in fmt.ESTIMATED_SOURCES for r in comp["run_id"])
    sec.tables.append(
        Table(
            pd.DataFrame(rows),
            caption="Compression variants",
            note="Inference energy: in brackets the method interval of the inference window."
            + (f" {fmt.EST} estimated inference energy" if est else ""),
            wide=True,
        )
    )


def markdown(sec: Section, rows: int) -> list[str]:
    return ["", "## Compression", ""] + ([md_escape(sec.empty)] if sec.empty else md_tables(sec, rows))


SECTION = Spec("compression", "Compression trade-offs", build, markdown)
