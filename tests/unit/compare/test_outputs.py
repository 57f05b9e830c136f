"""Markdown is a consistent GitHub table; JSON is github-action-benchmark's custom format; the CLI writes both."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from rich.console import Console

from greenbench.compare import benchmark_json_paths, compare, render_table, run_compare, to_benchmark_json, to_markdown

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def ab(side):
    base = side("base", noise_seed=1)
    head = side("head", noise_seed=2, time_factor=1.2, acc_shift=-0.01, seeds=range(4))
    return base, head


def _tables(md: str) -> list[tuple[int, list[int]]]:
    """(header cells, [cells per body row]) for every table, as a CommonMark+tables parser sees it."""
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    tables, header, rows, cells, in_head = [], 0, [], 0, False
    for t in tokens:
        if t.type == "table_open":
            header, rows = 0, []
        elif t.type == "thead_open":
            in_head = True
        elif t.type == "thead_close":
            in_head = False
        elif t.type == "tr_open":
            cells = 0
        elif t.type in ("th_open", "td_open"):
            cells += 1
        elif t.type == "tr_close":
            if in_head:
                header = cells
            else:
                rows.append(cells)
        elif t.type == "table_close":
            tables.append((header, rows))
    return tables


def test_markdown_table_is_consistent(ab):
    c = compare(*ab)
    md = to_markdown(c)
    tables = _tables(md)
    assert len(tables) == 1
    header, rows = tables[0]
    assert header == 10 and len(rows) == len(c.rows) == 16  # with the adjusted-p column
    assert set(rows) == {header}
    # Raw lines agree: every table line has the header's number of unescaped pipes.
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    pipes = {ln.replace("\\|", "").count("|") for ln in lines}
    assert pipes == {11}
    # Without a correction the adjusted-p column is left out.
    plain = _tables(to_markdown(compare(*ab, correction="none")))
    assert plain[0][0] == 9
    assert f"❌ **Regression**: {c.counts()['regressed']} regressed" in md
    assert "🔴 regressed" in md


def test_markdown_escapes_pipes_and_shows_guard_and_unmatched(side):
    def pipe(rec):
        rec["machine"] = "a|b"

    from compare_support import measured

    base = side("base", noise_seed=1, workloads=[("torch", "mlp"), ("torch", "cnn")], mutate=pipe)
    head = side("head", noise_seed=2, workloads=[("torch", "mlp")], mutate=lambda r: (pipe(r), measured(r)))
    c = compare(base, head)
    md = to_markdown(c)
    header, rows = _tables(md)[0]
    assert set(rows) == {header}
    assert "> [!WARNING]" in md and "measured on one side" in md
    assert "1 workload(s) only in base" in md and "torch/cnn/cpu/adam/none" in md


def _check_entries(entries: list[dict]) -> None:
    assert isinstance(entries, list) and entries
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names))
    for e in entries:
        assert set(e) <= {"name", "unit", "value", "range", "extra"}
        assert {"name", "unit", "value"} <= set(e)
        assert isinstance(e["name"], str) and isinstance(e["unit"], str) and e["unit"]
        assert isinstance(e["value"], float) and math.isfinite(e["value"])
        assert isinstance(e.get("range", ""), str) and isinstance(e.get("extra", ""), str)


def test_benchmark_json_shape(ab):
    c = compare(*ab)
    smaller = json.loads(json.dumps(to_benchmark_json(c, "smaller")))
    bigger = json.loads(json.dumps(to_benchmark_json(c, "bigger")))
    _check_entries(smaller)
    _check_entries(bigger)
    assert {e["unit"] for e in smaller} == {"s", "Wh", "g"}
    assert {e["unit"] for e in bigger} == {"%"}
    assert len(smaller) == 12 and len(bigger) == 4
    e = next(e for e in smaller if e["name"] == "torch/mlp/cpu/adam/none · training time")
    row = next(r for r in c.rows if r.label == "torch/mlp/cpu/adam/none" and r.metric == "train_time_s")
    assert e["value"] == pytest.approx(row.head_mean)
    assert e["range"].startswith("± ") and "verdict: regressed" in e["extra"]
    acc = next(e for e in bigger if e["name"].startswith("torch/mlp"))
    assert 90 < acc["value"] < 100  # percent
    with pytest.raises(ValueError):
        to_benchmark_json(c, "sideways")  # type: ignore[arg-type]


def test_full_comparison_dict_and_frame(ab):
    c = compare(*ab)
    d = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert d["has_regression"] is True and d["counts"]["regressed"] == len(c.regressions)
    assert len(d["rows"]) == 16 and d["rows"][0]["workload"]["backend"] in ("torch", "tensorflow")
    frame = c.to_frame()
    assert len(frame) == 16 and {"backend", "train_samples", "metric", "verdict", "p_value"} <= set(frame.columns)


def test_run_compare_writes_markdown_and_both_json_files(ab, tmp_path):
    md_path, json_path = tmp_path / "out" / "compare.md", tmp_path / "out" / "bench.json"
    out = io.StringIO()
    code = run_compare(*ab, markdown_path=md_path, json_path=json_path, fail_on_regression=True,
                       console=Console(file=out, width=200))
    assert code == 1
    assert md_path.read_text().startswith("## greenbench compare")
    paths = benchmark_json_paths(json_path)
    assert paths["bigger"] == tmp_path / "out" / "bench-bigger.json"
    _check_entries(json.loads(paths["smaller"].read_text()))
    _check_entries(json.loads(paths["bigger"].read_text()))
    text = out.getvalue()
    assert "customSmallerIsBetter" in text and "customBiggerIsBetter" in text and "regression" in text


def test_no_bigger_file_without_a_higher_is_better_metric(ab, tmp_path):
    run_compare(*ab, metrics=["time"], json_path=tmp_path / "b.json", console=Console(file=io.StringIO()))
    assert (tmp_path / "b.json").exists() and not (tmp_path / "b-bigger.json").exists()


def test_render_table_survives_brackets_in_labels(side, tmp_path):
    def narrow(rec):
        rec["config"]["arch"]["hidden"] = [64]

    for name, seed in (("base", 1), ("head", 2)):  # two widths of the MLP on each side
        side(f"{name}/default", noise_seed=seed, workloads=[("torch", "mlp")], seeds=range(2))
        side(f"{name}/narrow", noise_seed=seed + 10, workloads=[("torch", "mlp")], seeds=range(2), mutate=narrow)
    c = compare(tmp_path / "base", tmp_path / "head", metrics=["time"])
    assert sorted(r.label for r in c.rows) == ["torch/mlp/cpu/adam/none (arch.hidden=[128])",
                                               "torch/mlp/cpu/adam/none (arch.hidden=[64])"]
    out = io.StringIO()
    Console(file=out, width=250).print(render_table(c))
    assert "(arch.hidden=[64])" in out.getvalue() and "(arch.hidden=[128])" in out.getvalue()


def test_cli_end_to_end_exit_codes_and_files(ab, tmp_path):
    env = {**os.environ, "COLUMNS": "250"}
    args = [sys.executable, "-m", "greenbench", "compare", str(ab[0]), str(ab[1]), "--markdown",
            str(tmp_path / "c.md"), "--json", str(tmp_path / "b.json")]
    proc = subprocess.run([*args, "--fail-on-regression"], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "regressed" in proc.stdout
    assert json.loads((tmp_path / "b.json").read_text())
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Holm, from the command line: the 4-repeat head side cannot reach 0.05 / 16 — nothing flagged, exit 0.
    proc = subprocess.run([*args, "--fail-on-regression", "--correction", "holm"], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "after Holm correction over the 16 tested rows" in proc.stdout.replace("\n", " ")


def test_adjusted_p_and_notes_reach_every_output(side, tmp_path):
    base, head = side("base", noise_seed=1), side("head", noise_seed=2, time_factor=1.2)
    c = compare(base, head)
    # the table, the terminal and the JSON name the adjusted p; the dict and frame carry it
    out = io.StringIO()
    Console(file=out, width=250).print(render_table(c))
    assert "adj. p" in out.getvalue()
    row = next(r for r in c.rows if r.metric == "train_time_s")
    assert row.p_adjusted == pytest.approx(2 / 252 * 16 / 12)  # 12 of 16 rows (time, energy, CO₂) at p = 2/252
    entry = next(e for e in to_benchmark_json(c, "smaller") if e["name"] == f"{row.name} · training time")
    assert f"p=0.00794 (adjusted {row.p_adjusted:.3g})" in entry["extra"]
    d = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert d["correction"] == "bh" and d["family_size"] == 16 and len(d["notes"]) == 1
    assert "p_adjusted" in c.to_frame().columns
    # run_compare prints the note under the rule
    printed = io.StringIO()
    run_compare(base, head, console=Console(file=printed, width=250))
    assert "note: with 5 repeats per side the smallest attainable p is 0.00794" in printed.getvalue()
    # without a correction: no adjusted column, no note
    plain = compare(base, head, correction="none")
    out = io.StringIO()
    Console(file=out, width=250).print(render_table(plain))
    assert "adj. p" not in out.getvalue() and plain.notes == []
