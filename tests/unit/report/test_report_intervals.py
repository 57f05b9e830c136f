"""The report's energy and CO₂ intervals: the method interval beside the seed interval, in tables,
figures and Markdown; ratios across methods refused; net energy and the idle baseline."""

from __future__ import annotations

import base64
import html as htmlmod
import json
import re
from typing import Any

import pytest
from report_synthetic import full_suite
from test_report_render import check_page, section_text

from greenbench.measure import idle, intervals
from greenbench.report import bounds, build_report
from greenbench.report import data as rd
from greenbench.report.sections import comparisons, pareto, targets

MWH = 1e-6  # kWh


def bounded(make_record, *, kwh: float, low: float, high: float, intensity: float = 400.0, **kw: Any) -> dict:
    """A run with one metered phase (train) whose recorded interval is exactly [low, high] kWh."""
    rec = make_record(kwh=kwh, **kw)
    train = rec["phases"]["train"]
    train["energy"]["interval"] = {
        "total_kwh": [low, high],
        "co2_kg": [low * intensity / 1000, high * intensity / 1000],
        "basis": {},
    }
    train["energy"]["co2_kg"] = kwh * intensity / 1000
    train["energy"]["carbon_intensity_g_per_kwh"] = intensity
    rec["phases"] = {"train": train}
    rec["history"] = []
    return rec


def measured(rec: dict) -> dict:
    for phase in rec["phases"].values():
        phase["energy"].update(
            energy_source="measured", provenance={"cpu": "measured:rapl", "gpu": "none", "ram": "measured:rapl"}
        )
    return rec


@pytest.fixture
def known(make_record, write_records):
    """Two seeds of one configuration: 1.2 and 1.3 mWh, intervals 0.4–3.0 and 0.6–5.0 mWh (method dominates)."""
    recs = [
        bounded(make_record, seed=0, kwh=1.2 * MWH, low=0.4 * MWH, high=3.0 * MWH, accuracy=0.95),
        bounded(make_record, seed=1, kwh=1.3 * MWH, low=0.6 * MWH, high=5.0 * MWH, accuracy=0.96),
    ]
    return write_records(recs)


# --------------------------------------------------------------------------- aggregation
def test_aggregation_over_seeds_carries_the_mean_of_the_lows_and_of_the_highs(known):
    res = rd.load([known])
    assert res.df["total_energy_kwh_low"].tolist() == pytest.approx([0.4 * MWH, 0.6 * MWH])
    agg = rd.aggregates(rd.primary(res.df))
    (row,) = [r for _, r in agg.iterrows()]
    assert row["total_energy_kwh_method_low"] == pytest.approx(0.5 * MWH)
    assert row["total_energy_kwh_method_high"] == pytest.approx(4.0 * MWH)
    assert row["total_co2_kg_method_low"] == pytest.approx(0.5 * MWH * 0.4)
    assert row["train_energy_kwh_method_high"] == pytest.approx(4.0 * MWH)
    # the seed interval is still there, separately
    assert row["total_energy_kwh_ci_low"] < 1.25 * MWH < row["total_energy_kwh_ci_high"]


def test_a_mean_over_a_run_without_bounds_claims_no_method_interval(make_record, write_records):
    a = bounded(make_record, seed=0, kwh=1.2 * MWH, low=0.4 * MWH, high=3.0 * MWH)
    b = make_record(seed=1, kwh=1.3 * MWH)
    b["phases"]["train"]["energy"]["provenance"] = {"cpu": "who-knows", "gpu": "none", "ram": "none"}
    res = rd.load([write_records([a, b])])
    agg = rd.aggregates(rd.primary(res.df))
    assert agg["total_energy_kwh_method_low"].isna().all()


# --------------------------------------------------------------------------- tables
def test_tables_show_value_and_method_range_in_html_and_markdown(known, tmp_path):
    page = build_report([known], out=tmp_path / "r.html").read_text(encoding="utf-8")
    check_page(page)
    results = htmlmod.unescape(section_text(page, "results"))
    assert "1.20 (0.40–3.0) †" in results and "1.30 (0.60–5.0) †" in results  # energy (mWh) per run
    assert "480 (160–1,200) †" in results  # CO₂ (µg): energy × 400 g/kWh
    comp = htmlmod.unescape(section_text(page, "comparisons"))
    assert "(method 0.50–4.0) †" in comp
    assert "method (method width 3.5 vs seed width" in comp
    assert "1.25 ± " in comp
    head = htmlmod.unescape(section_text(page, "headline"))
    assert re.search(r'class="value">1\.[23]0 mWh †<', head), head  # the greenest run: the figure…
    assert re.search(r'class="sub">[^<]*1\.[23]0 mWh \(0\.[46]0–[35]\.0\) †', head), head  # …and its interval
    md = build_report([known], out=tmp_path / "r.md", fmt="md").read_text(encoding="utf-8")
    assert "(method 0.50–4.0) †" in md
    assert "wider interval (energy)" in md and "method (method width 3.5 vs seed width" in md


def test_which_interval_dominates(make_record, write_records):
    # seed noise dominates: 1 and 9 mWh by a ±5 % meter
    noisy = [
        measured(bounded(make_record, seed=s, kwh=v * MWH, low=0.95 * v * MWH, high=1.05 * v * MWH))
        for s, v in ((0, 1.0), (1, 9.0))
    ]
    res = rd.load([write_records(noisy, name="noisy")])
    (row,) = [r for _, r in rd.aggregates(rd.primary(res.df)).iterrows()]
    unit = ("mWh", MWH)
    assert bounds.dominant(row, "total_energy_kwh") == "seeds"
    assert bounds.dominance(row, "total_energy_kwh", unit).startswith("seeds (method width 0.50 vs seed width ")
    # the method dominates: 1.2 and 1.3 mWh, intervals 0.4–3.0 and 0.6–5.0
    quiet = [
        bounded(make_record, seed=0, kwh=1.2 * MWH, low=0.4 * MWH, high=3.0 * MWH),
        bounded(make_record, seed=1, kwh=1.3 * MWH, low=0.6 * MWH, high=5.0 * MWH),
    ]
    res = rd.load([write_records(quiet, name="quiet")])
    agg = rd.aggregates(rd.primary(res.df))
    (row,) = [r for _, r in agg.iterrows()]
    assert bounds.dominant(row, "total_energy_kwh") == "method"
    assert bounds.dominance(row, "total_energy_kwh", unit).startswith("method (method width 3.5 vs seed width ")
    assert bounds.dominance_summary(agg, "total_energy_kwh") == (
        "the method interval is wider than the seed spread in all 1 configuration(s)"
    )
    # one seed: no seed interval, the method's is all there is
    one = rd.aggregates(rd.primary(res.df[res.df["seed"] == 0]))
    assert bounds.dominance(one.iloc[0], "total_energy_kwh", unit).startswith("method (no seed interval")


def test_ratios_are_refused_across_methods_and_said_to_cancel_within_one(make_record, write_records, tmp_path):
    recs = []
    for model, t in (("mlp", 10.0), ("cnn", 40.0)):
        recs.append(make_record(backend="torch", model=model, train_s=t, kwh=t * 1e-5, accuracy=0.97))
        recs.append(make_record(backend="tensorflow", model=model, train_s=t * 1.5, kwh=t * 2e-5, accuracy=0.96))
    same = build_report([write_records(recs, name="same")], out=tmp_path / "same.html").read_text(encoding="utf-8")
    comp = htmlmod.unescape(section_text(same, "comparisons"))
    assert "×0.50 †" in comp  # torch vs tensorflow energy, same method: stated
    # ... with what the cancellation needs: both sides splitting their energy alike between components
    assert "cancels in a ratio only as far as both sides split their energy alike between components" in comp
    assert "not compared" not in comp and "by method)" not in comp  # the same split: nothing left of the bands

    # torch RAM-heavy (CPU 30 %), TensorFlow CPU-heavy (80 %): the bands no longer cancel, and the ratio says how far
    for rec in recs:
        if rec["config"]["backend"] == "torch":
            for phase in rec["phases"].values():
                e = phase["energy"]
                e["cpu_kwh"], e["ram_kwh"] = 0.3 * e["total_kwh"], 0.7 * e["total_kwh"]
    split = build_report([write_records(recs, name="split")], out=tmp_path / "split.html").read_text(encoding="utf-8")
    comp = htmlmod.unescape(section_text(split, "comparisons"))
    # CPU (estimated:tdp) ÷2.9 … ×2.5 and RAM ÷3 … ×2, one factor each on both sides:
    # ratio × (0.3 f_cpu + 0.7 f_ram) / (0.8 f_cpu + 0.2 f_ram) over the corners
    f = [(c, r) for c in (1 / 2.9, 1 / 0.4) for r in (1 / 3, 2.0)]
    k = [(0.3 * c + 0.7 * r) / (0.8 * c + 0.2 * r) for c, r in f]
    assert f"×0.50 † ({0.5 * min(k):.2f}–{0.5 * max(k):.2f} by method)" in comp, comp
    assert "what the two sides' different split between components leaves" in comp
    for rec in recs:  # back to the shared split for what follows
        for phase in rec["phases"].values():
            e = phase["energy"]
            e["cpu_kwh"], e["ram_kwh"] = 0.8 * e["total_kwh"], 0.2 * e["total_kwh"]

    for rec in recs:
        if rec["config"]["backend"] == "torch":
            measured(rec)
    mixed = build_report([write_records(recs, name="mixed")], out=tmp_path / "mixed.html").read_text(encoding="utf-8")
    comp = htmlmod.unescape(section_text(mixed, "comparisons"))
    assert "not compared: energy by different methods" in comp
    assert "×0.50" not in comp  # no energy or CO₂ ratio, though time is still compared
    assert "×0.67" in comp
    assert "cpu=measured:rapl" in comp and "cpu=estimated:tdp" in comp
    assert "makes no energy claim across methods" in comp
    res = rd.load([tmp_path / "mixed"])
    h2h = comparisons.head_to_head(rd.aggregates(rd.primary(res.df)), "backend")
    assert [r["methods"] for r in h2h] == ["different"]


def test_headline_states_no_saving_across_methods(make_record, write_records, tmp_path):
    best = make_record(model="cnn", accuracy=0.980, kwh=10e-4)
    near = measured(make_record(model="mlp", accuracy=0.9765, kwh=4e-4))
    page = build_report([write_records([best, near])], out=tmp_path / "r.html").read_text(encoding="utf-8")
    head = htmlmod.unescape(section_text(page, "headline"))
    assert "% less energy" not in head
    assert "no energy saving is stated against the most accurate run" in head
    assert "no claim is made that it used less energy than a run measured by another method" in head
    near2 = make_record(model="mlp", accuracy=0.9765, kwh=4e-4)
    page = build_report([write_records([best, near2], name="same")], out=tmp_path / "s.html").read_text("utf-8")
    head = htmlmod.unescape(section_text(page, "headline"))
    assert "60 % less energy than the most accurate run (same method on both" in head


# --------------------------------------------------------------------------- figures
def _svg(img) -> str:
    return base64.b64decode(img.uri.split(",", 1)[1]).decode("utf-8")


def test_energy_figures_draw_the_method_interval_as_error_bars(make_record, write_records):
    res = rd.load([write_records(full_suite(make_record, seeds=(0, 1)))])
    agg = rd.aggregates(rd.primary(res.df))
    eu, cu = ("mWh", MWH), ("mg", 1e-6)
    imgs = {
        "comparisons": comparisons.figure(agg, rd.varying_axes(res.df), eu, cu, "cap"),
        "pareto": pareto.figure(rd.with_energy(rd.primary(res.df)), agg, eu, cu, "cap"),
        "targets": targets.figure(agg, eu, "cap"),
    }
    for name, img in imgs.items():
        assert img is not None, name
        assert img.error_bars > 0, name
        assert img.caption == "cap"
        svg = _svg(img)
        assert svg.count(f'id="{bounds.ERRORBAR_GID}') >= img.error_bars, name
    # comparisons: energy and CO₂ panels, one container per backend each
    assert imgs["comparisons"].error_bars == 2 * 2
    # pareto: one per configuration (8) on each of the two panels
    assert imgs["pareto"].error_bars == 2 * 8


def test_figures_without_bounds_draw_no_method_bars(make_record, write_records):
    recs = full_suite(make_record, seeds=(0, 1), with_compression=False)
    for rec in recs:  # energy by a method greenbench has no band for: no interval can be claimed
        for phase in rec["phases"].values():
            phase["energy"]["provenance"] = {"cpu": "who-knows", "gpu": "none", "ram": "none"}
    res = rd.load([write_records(recs)])
    assert res.df["total_energy_kwh_low"].isna().all()
    agg = rd.aggregates(rd.primary(res.df))
    img = comparisons.figure(agg, rd.varying_axes(res.df), ("mWh", MWH), ("mg", 1e-6))
    assert img is not None and img.error_bars == 0
    assert bounds.ERRORBAR_GID not in _svg(img)


def test_report_figures_say_what_their_bars_are(make_record, write_records, tmp_path):
    page = build_report([write_records(full_suite(make_record, seeds=(0, 1)))], out=tmp_path / "r.html")
    text = page.read_text(encoding="utf-8")
    check_page(text)
    figs = re.findall(
        r'<figure class="has-method-bars" data-method-error-bars="(\d+)">.*?<figcaption>(.*?)</figcaption>', text, re.S
    )
    # pareto, comparisons, training curves, targets, compression, what-if
    assert len(figs) == 6, [c[:60] for _, c in figs]
    for n, caption in figs:
        caption = htmlmod.unescape(caption)
        assert int(n) > 0
        assert caption.startswith("Bars: method interval (estimated ram-model: ")
        assert "estimated tdp: figure off by −60 % … +190 %, true value −66 % … +150 % of it" in caption
        assert "Seed spread: " in caption
    comp_caption = htmlmod.unescape(re.search(r'id="comparisons".*?<figcaption>(.*?)</figcaption>', text, re.S)[1])
    assert "For energy, the method interval is wider than the seed spread in all 8 configuration(s)." in comp_caption


# --------------------------------------------------------------------------- methodology
def test_methodology_shows_each_present_methods_band_and_source(make_record, write_records, tmp_path):
    recs = [make_record(seed=0), measured(make_record(seed=1, backend="tensorflow"))]
    page = build_report([write_records(recs)], out=tmp_path / "r.html").read_text(encoding="utf-8")
    meth = htmlmod.unescape(section_text(page, "methodology"))
    assert "Error band of each method present" in meth
    for prov in ("estimated:tdp", "estimated:ram-model", "measured:rapl"):
        assert intervals.band_for(prov).basis in meth, prov  # read from the intervals module
    assert "±5 %, plus 1 ms of power at each window edge" in meth
    assert "−66 % … +150 %, plus one sampling interval of power per window" in meth
    assert intervals.BANDS["measured:nvml"].basis not in meth  # only the methods present
    assert "mean of its runs' lower bounds and the mean of their upper bounds" in meth
    md = build_report([tmp_path / "results"], out=tmp_path / "r.md", fmt="md").read_text(encoding="utf-8")
    assert "Error band of each method present" in md and "measured:rapl" in md


# --------------------------------------------------------------------------- net energy and idle
def with_idle(rec: dict, idle_w: float, meaning: str) -> dict:
    for phase in rec["phases"].values():  # as the runner adds them, from a baseline of the total alone
        phase["energy"] = idle.net_energy({**phase["energy"], "duration_s": phase["wall_s"]}, {"total_w": idle_w})
    rec["idle_baseline"] = {"total_w": idle_w, "duration_s": 10.0, "samples": 20, "meaning": {"cpu": meaning}}
    return rec


def test_net_energy_and_idle_baseline_are_shown_where_recorded(make_record, write_records, tmp_path):
    meaning = "estimated:tdp: codecarbon's CPU load × TDP model at the idle load — a model's idle, not a measurement"
    recs = [with_idle(make_record(seed=s, kwh=1e-4, train_s=10.0), 12.0, meaning) for s in (0, 1)]
    d = write_records(recs)
    (d / "idle-baseline.json").write_text(
        json.dumps(
            {
                "baselines": [
                    {"total_w": 12.0, "meaning": {"cpu": meaning, "gpu": "none: no GPU figure, nothing to subtract"}},
                    {"total_w": 15.0},
                ],
                "drift": [
                    {"start_w": 12.0, "end_w": 15.0, "change": 0.25, "flagged": True, "threshold": 0.1},
                    {"start_w": 12.0, "end_w": 12.3, "change": 0.025, "flagged": False, "threshold": 0.1},
                ],
            }
        ),
        encoding="utf-8",
    )
    page = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    check_page(page)
    meth = htmlmod.unescape(section_text(page, "methodology"))
    assert "Idle baseline: 12.0–15.0 W" in meth
    assert f"What idle means here — {meaning}." in meth
    assert "Idle drift warning: idle power went from 12.0 W to 15.0 W (+25 %)" in meth
    assert "idle power went from 12.0 W to 12.3 W (+2 %), within the drift rule" in meth
    assert "no GPU figure" not in meth  # a component without a figure says nothing of idle
    md = build_report([d], out=tmp_path / "r.md", fmt="md").read_text(encoding="utf-8")
    assert "Idle drift warning: idle power went from 12.0 W to 15.0 W (+25 %)" in md
    assert "Idle baseline: 12.0–15.0 W" in md
    results = htmlmod.unescape(section_text(page, "results"))
    assert "net energy (mWh)" in results and "idle power" in results and "12.0 W" in results
    # outer phases: 108 mWh − 12 W × 10.8 s (36 mWh) = 72.0 mWh; a baseline of the total alone (no
    # per-component watts): interval = gross interval × 72/108
    assert "108 (37–259) †" in results and "72.0 (25–173) †" in results
    # training: 100 mWh − 12 W × 10 s (33.3 mWh) = 66.7 mWh
    training = htmlmod.unescape(section_text(page, "training"))
    assert "net (above idle)" in training and "66.7 ± 0.0 mWh (method 23–160) †" in training


def test_no_idle_baseline_no_idle_lines(make_record, write_records, tmp_path):
    page = build_report([write_records([make_record(), make_record(seed=1)])], out=tmp_path / "r.html")
    text = htmlmod.unescape(page.read_text(encoding="utf-8"))
    assert "Idle baseline" not in text and "net energy" not in text and "net (above idle)" not in text
    assert "Training energy per configuration" in text


def test_idle_of_a_power_model_is_called_a_models_idle_when_records_carry_no_meaning(
    make_record, write_records, tmp_path
):
    recs = [with_idle(make_record(seed=s), 12.0, "") for s in (0, 1)]
    for rec in recs:
        del rec["idle_baseline"]["meaning"]
    page = build_report([write_records(recs)], out=tmp_path / "r.html").read_text(encoding="utf-8")
    meth = htmlmod.unescape(section_text(page, "methodology"))
    assert "Idle baseline: 12.0 W" in meth
    assert "What idle means here — for estimated:ram-model, estimated:tdp: the power model's output" in meth
    assert "a model's idle, not a measurement" in meth


def test_idle_baseline_written_by_greenbench_measure_idle_is_reported(make_record, write_records, tmp_path):
    """The producer's own shapes: records through ``add_net_energy``, the file through ``append`` and ``drift``."""
    from greenbench.measure import idle

    watt_s = 1 / 3.6e6  # kWh
    window = {**make_record()["phases"]["train"]["energy"], "total_kwh": 120 * watt_s, "cpu_kwh": 96 * watt_s,
              "ram_kwh": 24 * watt_s, "duration_s": 10.0, "samples": 20}  # 12 W for 10 s
    start = idle.baseline_from_entry(window, min_samples=3)
    end = idle.baseline_from_entry({**window, "total_kwh": 2 * window["total_kwh"]}, min_samples=3)
    recs = []
    for s in (0, 1):
        rec = make_record(seed=s, kwh=1e-4, train_s=10.0)
        for phase in rec["phases"].values():
            phase["energy"]["duration_s"] = phase["wall_s"]
        recs.append(idle.add_net_energy(rec, start))
    d = write_records(recs)
    idle.append(d, baselines=[start, end], drifts=[idle.drift(start, end)])
    res = rd.load([d])
    assert res.df["total_net_energy_kwh"].notna().all() and res.df["idle_power_w"].tolist() == pytest.approx([12, 12])
    page = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    check_page(page)
    meth = htmlmod.unescape(section_text(page, "methodology"))
    assert "Idle baseline: 12.0–24.0 W" in meth
    assert f"What idle means here — {start['meaning']['cpu']}." in meth  # the producer's own sentence
    assert "Idle drift warning: idle power went from 12.0 W to 24.0 W (+100 %)" in meth
    assert "net energy (mWh)" in htmlmod.unescape(section_text(page, "results"))


def test_a_busy_idle_window_is_named_and_not_called_idle(make_record, write_records, tmp_path):
    reason = ("other processes used 57% of the machine's CPU during idle-baseline (threshold 10%): not idle, so "
              "no net energy is computed from it")
    recs = [make_record(seed=s) for s in (0, 1)]
    for rec in recs:
        rec["idle_baseline"] = {"total_w": 22.1, "contaminated": True, "contamination_reason": reason}
    page = build_report([write_records(recs)], out=tmp_path / "r.html").read_text(encoding="utf-8")
    meth = htmlmod.unescape(section_text(page, "methodology"))
    assert f"Idle baseline not used: {reason}" in meth
    assert "22.1 W" not in meth and "with no workload running" not in meth  # a busy window is not called idle
