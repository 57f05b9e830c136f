"""Energy methods in `greenbench compare` (issue 14): a same-method ratio is tested, and the output says why;
energy from different methods is never compared, and every output says why; the hardware table shows the
method's interval beside each energy figure."""

from __future__ import annotations

import io
import json
import math
import re

import numpy as np
import pytest
from compare_support import measured, set_energy
from golden_support import run_piped
from rich.console import Console

from greenbench.compare import compare, hardware_summary, hardware_table, run_compare, to_benchmark_json, to_markdown
from greenbench.compare.methods import SHORT_BANDS, band_name, describe
from greenbench.compare.output import render_lines, summary_text, value_text
from greenbench.console import make_console
from greenbench.measure.intervals import BANDS, band_for
from greenbench.results import load_results

ENERGY_ROWS = ("total_energy_kwh", "total_co2_kg")
TDP = "codecarbon CPU load × TDP model −60 %…+190 %"
CROSS = "energy measured on one side and estimated on the other"
NO_CLAIM = "no energy claim across methods"


def _plain(text: str) -> str:
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())


def _scale_energy(factor: float):
    """Every phase's energy × ``factor`` (CO₂ follows): what a different method may read for the same work."""
    def mutate(rec):
        for phase in rec["phases"].values():
            e = phase["energy"]
            for k in ("cpu_kwh", "gpu_kwh", "ram_kwh", "total_kwh"):
                e[k] *= factor
            e["co2_kg"] = e["total_kwh"] * e["carbon_intensity_g_per_kwh"] / 1000.0
    return mutate


def _measured_higher(rec):
    measured(rec)
    _scale_energy(1.5)(rec)


# --------------------------------------------------------------------------- one method on both sides
@pytest.fixture
def slower(side):
    """Both sides estimated by codecarbon's TDP model on one machine; head trains 25 % slower."""
    return side("base", noise_seed=1), side("head", noise_seed=2, time_factor=1.25)


def test_same_method_keeps_the_ratio_test_and_says_why(slower):
    c = compare(*slower)
    energy = [r for r in c.rows if r.metric in ENERGY_ROWS]
    assert len(energy) == 8 and {r.verdict for r in energy} == {"regressed"}  # the real regression is still flagged
    assert c.has_regression
    assert TDP in c.method_note and "RAM: codecarbon RAM model ÷3…×2" in c.method_note
    assert "largely cancels in a ratio of two runs on one machine" in c.method_note
    assert c.method_note.endswith("so the ratio is tested, not the absolute values")
    assert "different machines" not in c.method_note
    assert {r.energy_method for r in energy} == {describe(("estimated:tdp", "none", "estimated:ram-model"))}
    assert all(r.energy_method is None for r in c.rows if r.metric not in ENERGY_ROWS)
    # each side's method interval (mean of the runs' bounds) holds its mean
    for r in energy:
        assert r.base_low <= r.base_mean <= r.base_high and r.head_low <= r.head_mean <= r.head_high
        assert r.base_high / r.base_low > 5  # the TDP model's wide band, not a seed-to-seed spread


def test_same_method_note_in_every_format(slower, tmp_path):
    c = compare(*slower)
    md = to_markdown(c)
    assert f"**Energy method:** {c.method_note}." in md
    doc = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert doc["method_note"] == c.method_note
    assert {row["energy_method"] for row in doc["rows"] if row["metric"] in ENERGY_ROWS} == {
        "CPU: codecarbon CPU load × TDP model −60 %…+190 %; RAM: codecarbon RAM model ÷3…×2 (assumed)"}
    log = io.StringIO()
    assert run_compare(*slower, console=Console(file=log, width=80), fail_on_regression=True) == 1
    assert "energy: " + c.method_note in _plain(log.getvalue())

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Tty()
    run_compare(*slower, console=make_console(file=term, width=200))
    assert "┃ Workload" in _plain(term.getvalue()) and c.method_note in _plain(term.getvalue())


def test_same_method_on_different_machines_says_the_error_need_not_cancel(side):
    c = compare(side("base", noise_seed=1, machine="box-a"), side("head", noise_seed=2, machine="box-b"))
    assert any(m.startswith("hardware comparison") for m in c.guard_messages)
    assert "largely cancels in a ratio of two runs on one machine" in c.method_note
    assert "here the sides ran on different machines" in c.method_note
    assert {r.verdict for r in c.rows if r.metric in ENERGY_ROWS} <= {"unchanged", "regressed", "improved"}


# --------------------------------------------------------------------------- different methods
@pytest.fixture
def cross(side):
    """Base estimated (TDP model), head measured (RAPL) reading 50 % more for the same training time."""
    return side("base", noise_seed=1), side("head", noise_seed=2, mutate=_measured_higher)


def test_cross_method_rows_are_not_compared(cross):
    c = compare(*cross)
    energy = [r for r in c.rows if r.metric in ENERGY_ROWS]
    assert len(energy) == 8
    for r in energy:
        assert r.verdict == "incomparable"
        assert r.note.startswith(CROSS) and r.note.endswith(NO_CLAIM)
        assert "CPU: base estimated:tdp, head measured:rapl" in r.note
        assert math.isnan(r.ratio) and r.p_value is None and r.p_adjusted is None and r.energy_method is None
        assert r.head_mean > 1.4 * r.base_mean  # a +50 % ratio that would have been "regressed"
        assert r.base_low <= r.base_mean <= r.base_high and r.head_low <= r.head_mean <= r.head_high
    assert not c.regressions and not c.has_regression  # the gate does not fail on them
    assert c.counts()["incomparable"] == 8 and c.family_size == 8  # only time and accuracy were tested
    assert c.method_note == ""  # no energy ratio was tested
    assert any(m.startswith("energy is measured on one side") and m.endswith("rows whose methods differ are not "
                                                                           "compared") for m in c.guard_messages)
    assert summary_text(c).endswith("8 not compared: energy or CO₂ from different methods on the two sides "
                                    "(no energy claim across methods)")
    # time and accuracy are judged as before
    assert {r.verdict for r in c.rows if r.metric not in ENERGY_ROWS} == {"unchanged"}


def test_cross_method_reason_in_terminal_markdown_and_json(cross, tmp_path):
    base, head = cross
    log = run_piped("compare", str(base), str(head), "--fail-on-regression", "--json", str(tmp_path / "b.json"))
    assert log.returncode == 0, log.stdout + log.stderr  # --fail-on-regression: nothing to fail on
    text = _plain(log.stdout)
    assert len(re.findall(r"\bincomparable\s+total (?:energy|CO₂)\b", log.stdout)) == 8
    assert f"{CROSS} (CPU: base estimated:tdp, head measured:rapl): {NO_CLAIM}" in text
    assert "(method: " in text  # each side's value with its method's interval
    entries = json.loads((tmp_path / "b.json").read_text())
    energy_entries = [e for e in entries if e["name"].endswith(("total energy", "total CO₂"))]
    assert len(energy_entries) == 8
    assert all(f"verdict: incomparable: {CROSS}" in e["extra"] and "change vs base: –" in e["extra"]
               for e in energy_entries)

    md = run_piped("compare", str(base), str(head), "--format", "markdown")
    assert md.returncode == 0, md.stderr
    table_rows = [ln for ln in md.stdout.splitlines()
                  if ln.startswith("| ") and ("total energy" in ln or "CO₂" in ln)]
    assert len(table_rows) == 8
    for ln in table_rows:
        assert "🚫 not comparable" in ln and NO_CLAIM in ln and "| – | – | – |" in ln
    assert "**Energy method:**" not in md.stdout and "8 not compared" in md.stdout

    js = run_piped("compare", str(base), str(head), "-f", "json")
    assert js.returncode == 0, js.stderr
    doc = json.loads(js.stdout)
    rows = [r for r in doc["rows"] if r["metric"] in ENERGY_ROWS]
    assert len(rows) == 8 and {r["verdict"] for r in rows} == {"incomparable"}
    assert all(r["ratio"] is None and r["p_value"] is None and r["note"].endswith(NO_CLAIM) for r in rows)
    assert doc["counts"]["incomparable"] == 8 and doc["has_regression"] is False and doc["method_note"] == ""


def test_cross_method_does_not_hide_a_time_regression(side):
    c = compare(side("base", noise_seed=1), side("head", noise_seed=2, time_factor=1.25, mutate=measured))
    assert {r.verdict for r in c.rows if r.metric == "train_time_s"} == {"regressed"}
    assert {r.verdict for r in c.rows if r.metric in ENERGY_ROWS} == {"incomparable"}
    assert c.has_regression
    lines = "\n".join(ln.plain for ln in render_lines(c, 80))
    assert "regressed     training time" in lines and "incomparable  total energy" in lines


def test_a_side_pooling_several_methods_is_not_compared(side):
    def half_measured(rec):
        if rec["config"]["seed"] % 2:
            measured(rec)

    c = compare(side("base", noise_seed=1), side("head", noise_seed=2, mutate=half_measured))
    energy = [r for r in c.rows if r.metric in ENERGY_ROWS]
    assert {r.verdict for r in energy} == {"incomparable"}
    assert all(r.note.startswith("head's runs were metered by several methods") and r.note.endswith(NO_CLAIM)
               for r in energy)


def test_different_estimates_are_not_compared_either(side):
    constant = lambda rec: set_energy(rec, provenance={"cpu": "estimated:constant", "gpu": "none",  # noqa: E731
                                                       "ram": "estimated:ram-model"})
    c = compare(side("base", noise_seed=1), side("head", noise_seed=2, mutate=constant))
    energy = [r for r in c.rows if r.metric in ENERGY_ROWS]
    assert {r.verdict for r in energy} == {"incomparable"}
    assert all(r.note == ("energy from different methods on the two sides (CPU: base estimated:tdp, head "
                          f"estimated:constant): {NO_CLAIM}") for r in energy)


def test_records_without_provenance_keep_the_ratio_test(side):
    def unrecorded(rec):
        for phase in rec["phases"].values():
            phase["energy"].pop("provenance")

    c = compare(side("base", noise_seed=1, mutate=unrecorded), side("head", noise_seed=2, time_factor=1.25))
    energy = [r for r in c.rows if r.metric in ENERGY_ROWS]
    assert {r.verdict for r in energy} == {"regressed"}  # as before methods were known
    assert all(r.energy_method is None for r in energy) and c.method_note == ""


def test_paired_machines_judge_each_machine_by_its_own_methods(side, tmp_path):
    # box-a: the same method on both sides; box-b: estimated on base, measured on head.
    side("base/a", noise_seed=1, machine="box-a", workloads=[("torch", "mlp")])
    side("base/b", noise_seed=2, machine="box-b", workloads=[("torch", "mlp")])
    side("head/a", noise_seed=3, machine="box-a", workloads=[("torch", "mlp")], time_factor=1.25)
    side("head/b", noise_seed=4, machine="box-b", workloads=[("torch", "mlp")], mutate=_measured_higher)
    c = compare(tmp_path / "base", tmp_path / "head")
    assert c.paired_by_machine
    by = {(r.machine, r.metric): r for r in c.rows}
    assert by[("box-a", "total_energy_kwh")].verdict == "regressed"
    assert by[("box-b", "total_energy_kwh")].verdict == "incomparable"
    assert TDP in c.method_note and "here the sides ran on different machines" not in c.method_note
    md = to_markdown(c)
    assert "**Energy method:**" in md and "🚫 not comparable" in md


# --------------------------------------------------------------------------- band names
@pytest.mark.parametrize("label", sorted(BANDS))
def test_every_band_has_a_short_name(label):
    name = band_name(label)
    assert name and (label in SHORT_BANDS or label in name)


def test_short_names_follow_the_bands():
    assert set(SHORT_BANDS) <= set(BANDS) | {"estimated:calibrated"}
    assert all(band_for(label) is not None for label in SHORT_BANDS)
    assert band_name("none") is None and band_name("measured:amdsmi") == "measured:amdsmi ±10 % (assumed)"
    tdp = band_for("estimated:tdp")  # −60 % … +190 % against the reference: true ∈ [E / 2.9, E / 0.4]
    assert (tdp.low, tdp.high) == pytest.approx((1 / 2.9, 1 / 0.4))


def test_value_text_shows_the_interval_only_where_absolute_values_are_all_there_is(side):
    cross = side("x-base", noise_seed=1), side("x-head", noise_seed=2, mutate=_measured_higher)
    slower = side("s-base", noise_seed=1), side("s-head", noise_seed=2, time_factor=1.25)
    r = next(r for r in compare(*cross).rows if r.metric == "total_energy_kwh")
    shown = value_text(r, "base")
    low, high = (float(x) for x in re.search(r"\(method: ([\d.e-]+)–([\d.e-]+) Wh\)", shown).groups())
    assert low <= r.base_mean * 1000 <= high
    same = next(r for r in compare(*slower).rows if r.metric == "total_energy_kwh")
    assert "method" not in value_text(same, "base") and "(method: " in value_text(same, "base", interval=True)


# --------------------------------------------------------------------------- hardware table
def test_hardware_table_shows_the_methods_interval_beside_each_energy_figure(side):
    fast = side("fast", noise_seed=1, machine="fast-box", time_cv=0.0)
    slow = side("slow", noise_seed=2, machine="slow-box", time_cv=0.0, time_factor=2.0)
    table = hardware_table(load_results([fast, slow]), metrics=("train_time_s", "total_energy_kwh", "total_co2_kg"))
    cols = list(table.columns)
    for m in ("total_energy_kwh", "total_co2_kg"):
        i = cols.index(f"{m}_mean")
        assert cols[i:i + 3] == [f"{m}_mean", f"{m}_low", f"{m}_high"]  # the interval beside the value
        assert (table[f"{m}_low"] <= table[f"{m}_mean"]).all() and (table[f"{m}_mean"] <= table[f"{m}_high"]).all()
        assert (table[f"{m}_low"] > 0).all()
    assert "train_time_s_low" not in cols  # time has no method interval
    assert set(table["energy_method"]) == {"cpu estimated:tdp, gpu none, ram estimated:ram-model"}
    assert table["energy_note"].isna().all()
    slow_rows = table[table["machine"] == "slow-box"]
    assert ((slow_rows["relative_energy"] > 1.8) & (slow_rows["relative_energy"] < 2.2)).all()
    # the intervals survive the table's other outputs
    records = json.loads(table.to_json(orient="records"))
    assert all(r["total_energy_kwh_low"] <= r["total_energy_kwh_mean"] <= r["total_energy_kwh_high"] for r in records)
    assert "total_energy_kwh_low" in table.to_csv().splitlines()[0]


def test_hardware_table_makes_no_energy_ratio_across_methods(side):
    est = side("est", noise_seed=1, machine="est-box", time_cv=0.0)
    rapl = side("rapl", noise_seed=2, machine="rapl-box", time_cv=0.0, time_factor=2.0, mutate=measured)
    table = hardware_table([est, rapl])
    other = table[table["machine"] == "rapl-box"]
    assert other["relative_energy"].isna().all() and other["total_energy_kwh_ratio"].isna().all()
    assert np.allclose(other["relative_speed"], 0.5)  # time is still compared
    assert other["energy_note"].str.endswith(NO_CLAIM).all()
    assert other["energy_note"].str.contains("reference est-box's (cpu estimated:tdp", regex=False).all()
    assert (other["total_energy_kwh_low"] <= other["total_energy_kwh_mean"]).all()
    summary = hardware_summary(table).set_index("machine")
    assert math.isnan(summary.loc["rapl-box", "relative_energy"])
    assert summary.loc["rapl-box", "relative_speed"] == pytest.approx(0.5)
