"""`greenbench compare` where CI people read it: an 80-column pipe, and --format for CI steps (issue 15)."""

from __future__ import annotations

import io
import json
import re

import pytest
from golden_support import assert_fits, assert_whole, check_golden, run_piped

from greenbench.compare import compare, run_compare, to_markdown
from greenbench.compare.output import render_lines, summary_text
from greenbench.console import make_console


def _no_training(rec):
    """A compression variant: it reuses its uncompressed sibling's training, so its record has no train phase."""
    del rec["phases"]["train"]


@pytest.fixture
def ci(side, tmp_path):
    """Base and head like a smoke comparison: models with and without a compression variant, head slower."""
    for name, seed, factor, reps in (("base", 1, 1.0, range(5)), ("head", 2, 1.2, range(4))):
        side(f"{name}/plain", noise_seed=seed, time_factor=factor, acc_shift=-0.01 if name == "head" else 0.0,
             seeds=reps)
        side(f"{name}/int8", noise_seed=seed + 10, time_factor=factor, seeds=reps, compression="int8-dynamic",
             workloads=[("torch", "mlp"), ("tensorflow", "cnn")], mutate=_no_training)
    return tmp_path


def test_rows_that_cannot_apply_are_not_rows(ci):
    c = compare(ci / "base", ci / "head")
    variants = {r.label for r in c.rows if r.workload["compression"] == "int8-dynamic"}
    assert variants == {"torch/mlp/cpu/adam/int8-dynamic", "tensorflow/cnn/cpu/adam/int8-dynamic"}
    # no training time for the variants: they share their uncompressed model's training
    assert not [r for r in c.rows if r.label in variants and r.metric == "train_time_s"]
    assert len(c.rows) == 4 * 4 + 2 * 3
    assert c.left_out == [
        {"workload": "tensorflow/cnn/cpu/adam/int8-dynamic", "metric": "train_time_s", "reason": "shared-training"},
        {"workload": "torch/mlp/cpu/adam/int8-dynamic", "metric": "train_time_s", "reason": "shared-training"},
    ]
    assert c.counts()["insufficient-data"] == 0  # the left-out pairs are not "insufficient data"
    n = c.counts()
    text = summary_text(c)
    assert text.startswith(f"{n['regressed']} regressed, {n['improved']} improved, {n['unchanged']} unchanged "
                           f"({len(c.rows)} rows judged)")
    assert text.endswith("; 2 not applicable: training time of compression variants, which reuse their "
                         "uncompressed model's training")
    assert "insufficient" not in text
    assert json.loads(json.dumps(c.to_dict(), allow_nan=False))["left_out"] == c.left_out
    assert "| training time |" not in "\n".join(ln for ln in to_markdown(c).splitlines() if "int8" in ln)


def test_summary_says_why_rows_could_not_be_judged(side, tmp_path):
    side("base", noise_seed=1, seeds=range(3))
    side("head", noise_seed=2, seeds=range(3), workloads=[("torch", "mlp")])
    c = compare(tmp_path / "base", tmp_path / "head")
    assert summary_text(c) == ("0 regressed, 0 improved, 0 unchanged (0 rows judged); 4 could not be judged "
                               "(too few repeats: 3 a side, ≥ 4 needed at α = 0.05)")


def test_metric_without_values_anywhere_is_left_out_and_said(side, tmp_path):
    side("base", noise_seed=1, workloads=[("torch", "mlp")])
    side("head", noise_seed=2, workloads=[("torch", "mlp")])
    c = compare(tmp_path / "base", tmp_path / "head", metrics=["time", "latency"])
    assert [r.metric for r in c.rows] == ["train_time_s"]
    assert summary_text(c).endswith("; 1 without values on either side: inference latency p50")


def test_compare_piped_at_80_columns_golden(ci):
    proc = run_piped("compare", "base", "head", "--fail-on-regression", cwd=ci)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert_fits(out)
    c = compare(ci / "base", ci / "head")
    assert_whole(out, sorted({r.name for r in c.rows}))  # every workload id whole
    # one line per row, verdict first, under its workload; a second line only for flagged rows or notes
    lines = out.splitlines()
    row_lines = [ln for ln in lines if ln.startswith("  ") and ln.split()[0] in
                 ("regressed", "improved", "unchanged", "insufficient")]
    assert len(row_lines) == len(c.rows) == 22
    # the variants' rows: no training time (it cannot apply), and their workload line right above them
    start = lines.index("torch/mlp/cpu/adam/int8-dynamic")
    block = lines[start + 1:lines.index("torch/mlp/cpu/adam/none")]
    assert [ln.split()[1:3] for ln in block if ln in row_lines] == [["total", "energy"], ["total", "CO₂"],
                                                                       ["test", "accuracy"]]
    assert lines[0].startswith("greenbench compare: 20 regressed, 0 improved, 2 unchanged (22 rows judged); 2")
    assert "\nregression: 20 regressed" in out and proc.stderr == ""
    check_golden("compare-80.txt", out)


def test_format_markdown_and_json_to_stdout(ci, monkeypatch):
    md = run_piped("compare", "base", "head", "--format", "markdown", "--json", "bench.json", cwd=ci)
    assert md.returncode == 0, md.stderr
    monkeypatch.chdir(ci)
    c = compare("base", "head")
    assert md.stdout == to_markdown(c)  # the document alone: a CI step can pipe it
    assert "\nregression: 20 regressed, 0 improved, 2 unchanged" in "\n" + md.stderr  # the verdict: on stderr
    assert "json (customSmallerIsBetter): bench.json" in md.stderr and (ci / "bench.json").exists()
    js = run_piped("compare", "base", "head", "-f", "json", cwd=ci)
    assert js.returncode == 0, js.stderr
    doc = json.loads(js.stdout)  # the whole of stdout is one JSON document
    assert doc["has_regression"] is True and len(doc["rows"]) == 22 and doc["left_out"] == c.left_out
    assert doc["counts"] == c.counts()
    bad = run_piped("compare", "base", "head", "--format", "html", cwd=ci)
    assert bad.returncode == 2 and "html" in bad.stderr


def test_terminal_keeps_the_table_and_logs_get_lines(ci):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    term, log = Tty(), io.StringIO()
    run_compare(ci / "base", ci / "head", console=make_console(file=term, width=200))
    run_compare(ci / "base", ci / "head", console=make_console(file=log, width=80))
    assert "┃ Workload" in re.sub(r"\x1b\[[0-9;]*m", "", term.getvalue()) and "┃" not in log.getvalue()
    assert_fits(log.getvalue())


def test_render_lines_wraps_whole_values_on_indented_lines(ci):
    c = compare(ci / "base", ci / "head")
    for width in (60, 80, 120):
        text = "\n".join(line.plain for line in render_lines(c, width))
        assert_fits(text, width)
        assert_whole(text, [r.name for r in c.rows] + ["[+", "%]"])
        # a change and its interval are one value: never split over two lines
        for line in text.splitlines():
            assert line.count("[") == line.count("]"), line


@pytest.mark.parametrize("markup", ["[tensorflow]", "[/]", "[bold", "[link=x]", ":warning:"])
def test_markup_in_labels_machines_and_messages_is_printed_literally(side, tmp_path, markup):
    """Workload labels, machine names and guard messages are data: printed as they are, in both layouts."""
    def mark(rec):
        rec["machine"] = f"m{markup}"
        rec["env"]["machine"] = f"m{markup}"
        rec["config"]["arch"]["hidden"] = [64]

    from compare_support import set_energy

    def head_mark(rec):
        mark(rec)
        set_energy(rec, country=f"C{markup}")  # named by the guard's country message

    for name in ("base", "head"):
        side(f"{name}/x", noise_seed=1 if name == "base" else 2, workloads=[("torch", "mlp")],
             mutate=mark if name == "base" else head_mark)
        side(f"{name}/y", noise_seed=3 if name == "base" else 4, workloads=[("torch", "mlp")],
             mutate=lambda r: (r.update(machine="other"), r["env"].update(machine="other")))

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for out in (Tty(), io.StringIO()):
        run_compare(tmp_path / "base", tmp_path / "head", console=make_console(file=out, width=250))
        text = out.getvalue()
        assert f"m{markup}: torch/mlp/cpu/adam/none" in text, text
        assert "(arch.hidden=[64])" in text
        assert f"head C{markup}" in text, text
    # Any rich console (markup on, as a caller may pass one): still literal.
    from rich.console import Console

    out = io.StringIO()
    run_compare(tmp_path / "base", tmp_path / "head", console=Console(file=out, width=250))
    assert f"m{markup}: torch/mlp/cpu/adam/none" in out.getvalue() and f"head C{markup}" in out.getvalue()


def test_error_message_with_markup_is_one_literal_line(tmp_path):
    missing = "[bold]missing[/] [link=x]"
    proc = run_piped("compare", missing, missing, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert missing in proc.stderr.splitlines()[0]
