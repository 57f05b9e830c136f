"""Runs measured on a shared machine (co-tenancy) in the report: § on their label wherever it appears, the
reason on the headline card, a note, and a Methodology table with the reasons — in the HTML and the Markdown."""

from __future__ import annotations

import html as htmlmod
import re

from test_report_render import check_page, section_text

from greenbench.report import build_report
from greenbench.report import data as rd

REASON = "other processes used 48% of the machine's CPU during train (threshold 10%)"


def shared(rec: dict) -> dict:
    rec["cotenancy"] = {"contaminated": True, "max_other_share": 0.48, "worst_phase": "train", "threshold": 0.1,
                        "reason": REASON}
    return rec


def quiet(rec: dict) -> dict:
    rec["cotenancy"] = {"contaminated": False, "max_other_share": 0.01, "worst_phase": "train", "threshold": 0.1,
                        "reason": None}
    return rec


def _text(html: str) -> str:
    return htmlmod.unescape(" ".join(re.sub(r"<[^>]+>", " ", html).split()))


def test_a_shared_run_is_marked_with_its_reason(make_record, write_records, tmp_path):
    d = write_records([shared(make_record(seed=0, accuracy=0.97)), quiet(make_record(seed=1, accuracy=0.95))])
    res = rd.load([d])
    labels = dict(zip(res.df["seed"].astype(int), res.df["label"]))
    assert labels[0].endswith(" §") and not labels[1].endswith("§")

    page = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    check_page(page)
    head = _text(section_text(page, "headline"))
    assert f"§ measured while other processes shared the machine: {REASON}" in head  # the best run is the shared one
    assert "§ 1 of 2 runs were measured while other processes shared the machine" in head
    method = _text(section_text(page, "methodology"))
    assert "§ Runs measured on a shared machine (co-tenancy)" in method
    assert REASON in method and "48.00 %" in method

    md = build_report([d], out=tmp_path / "r.md", fmt="md").read_text(encoding="utf-8")
    assert "**§ Runs measured on a shared machine (co-tenancy)**" in md
    assert REASON in md and "1 of 2 runs were measured while other processes shared the machine" in md


def test_quiet_and_older_runs_carry_no_mark(make_record, write_records, tmp_path):
    d = write_records([quiet(make_record(seed=0)), make_record(seed=1)])  # seed 1: a record from before co-tenancy
    res = rd.load([d])
    assert not res.df["label"].str.contains("§").any() and not res.df["shared_machine"].any()
    page = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    assert "shared the machine" not in _text(page)


def test_head_to_head_says_when_the_sides_ran_under_different_conditions(make_record, write_records, tmp_path):
    from greenbench.report.sections.comparisons import conditions

    recs = []
    for seed in (0, 1):
        recs.append(quiet(make_record(backend="torch", seed=seed)))
        tf = shared(make_record(backend="tensorflow", seed=seed))
        tf["metrics"]["threads"] = {"setting": 1, "intra_op": 1, "inter_op": 1, "omp_wait_policy": "passive"}
        recs.append(tf)
    d = write_records(recs)
    res = rd.load([d])
    assert conditions(res.df, "backend", "torch", "tensorflow") == (
        "intra-op threads 2 vs 1; OpenMP wait default vs passive; § shared machine: 0 of 2 vs 2 of 2 runs")
    assert conditions(res.df, "backend", "torch", "torch") == ""  # a side against itself differs in nothing

    page = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    comp = _text(section_text(page, "comparisons"))
    assert "sides differ in" in comp and "intra-op threads 2 vs 1; OpenMP wait default vs passive; § shared machine" in comp
    assert "which can move time and energy as much as the factor itself" in comp


def test_the_loop_styles_convenience_cost_is_a_head_to_head_row(make_record, write_records, tmp_path):
    recs = []
    for seed in (0, 1):
        recs.append(quiet(make_record(seed=seed, train_s=10.0, kwh=1e-4)))
        idiom = quiet(make_record(seed=seed, train_s=20.0, kwh=2e-4))
        idiom["config"]["loop"] = "idiomatic"
        idiom["run_id"] += "-idiomatic"
        idiom["workload_id"] += "-idiomatic"
        recs.append(idiom)
    d = write_records(recs)
    page = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    comp = _text(section_text(page, "comparisons"))
    # levels in name order: idiomatic is the reference, parity trains in half its time and energy
    assert re.search(r"loop parity vs idiomatic 1 ×0\.50 ×0\.50", comp), comp
    assert "what a user pays, in time and energy, for writing the loop the usual way" in comp


def _one_thread(rec: dict) -> dict:
    rec["config"]["threads"] = 1
    rec["config"]["training"]["threads"] = 1
    rec["metrics"]["threads"] = {"setting": 1, "intra_op": 1, "inter_op": 1, "omp_wait_policy": "default"}
    rec["run_id"] += "-t1"
    rec["workload_id"] += "-t1"
    return rec


def test_threads_is_a_head_to_head_factor_and_the_headline_names_a_thread_difference(make_record, write_records,
                                                                                      tmp_path):
    recs = []
    for seed in (0, 1):
        recs.append(quiet(make_record(seed=seed, accuracy=0.950, train_s=10.0, kwh=1e-4)))  # all cores: 2 threads
        recs.append(quiet(_one_thread(make_record(seed=seed, accuracy=0.948, train_s=12.0, kwh=0.6e-4))))
    d = write_records(recs)
    page = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    comp = _text(section_text(page, "comparisons"))
    # the factor's own change (intra-op threads 2 vs 1) is not repeated as a side condition: the row says "—"
    assert re.search(r"threads all vs 1 1 ×0\.83 ×1\.67 † ×1\.67 † \+0\.20 pp —", comp), comp
    head = _text(section_text(page, "headline"))
    assert ("The recommended run and the most accurate one ran under different conditions beyond their "
            "configuration — recommended vs most accurate: intra-op threads 1 vs 2.") in head, head


def test_runs_that_shared_a_node_one_per_gpu_say_so_in_methodology(make_record, write_records, tmp_path):
    from greenbench.runner.ray_dispatcher import GPU_NOTE

    recs = [quiet(make_record(seed=s)) for s in (0, 1)]
    for rec in recs:
        rec["node"] = {"id": "n1", "hostname": "gpu-node", "ip": "127.0.0.1", "isolation": "gpu",
                       "gpu_ids": [str(rec["config"]["seed"])], "neighbours": [], "isolation_note": GPU_NOTE}
    page = build_report([write_records(recs)], out=tmp_path / "r.html").read_text(encoding="utf-8")
    meth = _text(section_text(page, "methodology"))
    assert f"2 run(s) on 1 Ray node(s) ran {GPU_NOTE}." in meth, meth
