"""compare(): A/A stays quiet, A/B slowdowns and accuracy drops are flagged, the exit code follows the flag."""

from __future__ import annotations

import io
import subprocess
import sys

from rich.console import Console

from greenbench.compare import compare, run_compare, to_markdown
from greenbench.compare.output import rule_text


def _console() -> Console:
    return Console(file=io.StringIO(), width=200)


def test_aa_same_configuration_same_machine_is_not_flagged(side):
    # Two independent sets of 5 repeats of the same 4 workloads, one with a noisy-neighbour outlier.
    base = side("base", noise_seed=1, outlier=True)
    head = side("head", noise_seed=2)
    c = compare(base, head)
    assert len(c.rows) == 4 * 4  # 4 workloads × 4 default metrics
    assert not c.regressions and not c.improvements, [(r.name, r.metric, r.note) for r in c.regressions]
    assert {r.verdict for r in c.rows} == {"unchanged"}
    assert all(r.n_base == 5 and r.n_head == 5 for r in c.rows)
    assert c.guard_messages == []
    assert c.unmatched == {"base": [], "head": []}
    assert not c.paired_by_machine or c.base_machines == c.head_machines
    assert run_compare(base, head, fail_on_regression=True, console=_console()) == 0


def test_ab_injected_slowdown_is_flagged_and_exit_code_follows_flag(side):
    base = side("base", noise_seed=1)
    head = side("head", noise_seed=2, time_factor=1.2)  # 20 % more training time on every repeat
    c = compare(base, head)
    time_rows = [r for r in c.rows if r.metric == "train_time_s"]
    assert len(time_rows) == 4
    for r in time_rows:
        assert r.verdict == "regressed", r.note
        assert r.p_value < 0.05
        assert 1.1 < r.ratio < 1.3
        assert r.ratio_ci_low <= r.ratio <= r.ratio_ci_high
    # Energy follows time at a steady power draw: also flagged; accuracy untouched.
    assert {r.verdict for r in c.rows if r.metric == "total_energy_kwh"} == {"regressed"}
    assert {r.verdict for r in c.rows if r.metric == "test_accuracy"} == {"unchanged"}
    assert c.has_regression
    assert run_compare(base, head, fail_on_regression=True, console=_console()) == 1
    assert run_compare(base, head, fail_on_regression=False, console=_console()) == 0


def test_speedup_is_an_improvement_not_a_regression(side):
    base = side("base", noise_seed=1)
    head = side("head", noise_seed=2, time_factor=0.7)
    c = compare(base, head, metrics=["train_time_s"])
    assert {r.verdict for r in c.rows} == {"improved"}
    assert run_compare(base, head, metrics=["time"], fail_on_regression=True, console=_console()) == 0


def test_accuracy_drop_beyond_threshold_is_a_regression(side):
    base = side("base", noise_seed=1)
    head = side("head", noise_seed=2, acc_shift=-0.015)  # −1.5 pp, threshold 0.5 pp
    c = compare(base, head, metrics=["test_accuracy"])
    assert {r.verdict for r in c.rows} == {"regressed"}
    for r in c.rows:
        assert r.direction == "higher"
        assert r.diff < 0 and r.diff_ci_high < 0
    # A higher accuracy is an improvement, never a regression.
    better = side("better", noise_seed=3, acc_shift=+0.015)
    assert {r.verdict for r in compare(base, better, metrics=["accuracy"]).rows} == {"improved"}


def test_small_significant_change_below_threshold_is_unchanged(side):
    base = side("base", noise_seed=1, time_cv=0.005)
    head = side("head", noise_seed=2, time_cv=0.005, time_factor=1.04)  # clearly real, but 4 % < 10 %
    c = compare(base, head, metrics=["train_time_s"])
    assert {r.verdict for r in c.rows} == {"unchanged"}
    assert all(r.p_value < 0.05 and "below the 10% threshold" in r.note for r in c.rows)
    # The same change passes a 3 % threshold; "3%" and 0.03 mean the same.
    assert {r.verdict for r in compare(base, head, metrics=["train_time_s"], threshold="3%").rows} == {"regressed"}
    assert {r.verdict for r in compare(base, head, metrics=["train_time_s"], threshold=0.03).rows} == {"regressed"}


def test_accuracy_threshold_is_configurable(side):
    base = side("base", noise_seed=1)
    head = side("head", noise_seed=2, acc_shift=-0.015)
    c = compare(base, head, metrics=["test_accuracy"], accuracy_threshold_pp="2pp")
    assert {r.verdict for r in c.rows} == {"unchanged"}
    assert run_compare(base, head, metrics=["test_accuracy"], fail_on_regression=True, console=_console(),
                       accuracy_threshold="2pp") == 0


def test_single_run_per_side_cannot_be_flagged(side):
    base = side("base", noise_seed=1, seeds=[0])
    head = side("head", noise_seed=2, seeds=[0], time_factor=1.5)
    c = compare(base, head)
    assert {r.verdict for r in c.rows} == {"insufficient-data"}
    assert all("insufficient repeats" in r.note for r in c.rows)
    assert all(r.ratio > 1.3 for r in c.rows if r.metric == "train_time_s")  # the ratio is still shown
    assert run_compare(base, head, fail_on_regression=True, console=_console()) == 0


def test_three_repeats_cannot_reach_alpha_and_say_so(side):
    base = side("base", noise_seed=1, seeds=range(3))
    head = side("head", noise_seed=2, seeds=range(3), time_factor=1.5)
    c = compare(base, head, metrics=["train_time_s"])
    assert {r.verdict for r in c.rows} == {"insufficient-data"}
    assert all("smallest attainable p is 0.1" in r.note and "≥ 4 repeats" in r.note for r in c.rows)


def test_repeats_of_one_seed_in_separate_directories_are_samples(make_record, write_records, tmp_path):
    # CI layout: base/<runner>/rep-<i>/<run_id>.json, same run ids in every repeat.
    for side_name, factor in (("base", 1.0), ("head", 1.25)):
        for i in range(5):
            rec = make_record(seed=0, train_s=10.0 * factor * (1 + 0.01 * i), kwh=1e-4 * factor)
            write_records([rec], name=f"{side_name}/gha-ubuntu/rep-{i}")
    c = compare(tmp_path / "base", tmp_path / "head", metrics=["train_time_s"])
    (row,) = c.rows
    assert (row.n_base, row.n_head) == (5, 5)
    assert row.verdict == "regressed"


def test_failed_head_runs_of_a_completed_workload_count_as_regression(side, make_record, write_records):
    base = side("base", noise_seed=1, workloads=[("torch", "mlp"), ("torch", "cnn")])
    good = side("head_ok", noise_seed=2, workloads=[("torch", "mlp")])
    failed = [make_record(backend="torch", model="cnn", seed=s, status="failed") for s in range(5)]
    head = write_records(failed, name="head_ok")  # same directory: mlp completed, cnn failed
    assert head == good
    c = compare(base, head)
    assert c.newly_failing == ["torch/cnn/cpu/adam/none"]
    assert not c.regressions and c.has_regression
    assert run_compare(base, head, fail_on_regression=True, console=_console()) == 1


def test_paired_per_machine_when_both_sides_ran_on_the_same_machines(side, tmp_path):
    for name, factor in (("base", 1.0), ("head", 1.0)):
        seed = 1 if name == "base" else 3
        side(f"{name}/a", noise_seed=seed, machine="gha-a", time_factor=factor)
        side(f"{name}/b", noise_seed=seed + 1, machine="gha-b", time_factor=3.0)  # a slower machine
    c = compare(tmp_path / "base", tmp_path / "head", metrics=["train_time_s"])
    assert c.paired_by_machine
    assert {r.machine for r in c.rows} == {"gha-a", "gha-b"}
    assert len(c.rows) == 2 * 4
    assert {r.label for r in c.rows} == {"torch/mlp/cpu/adam/none", "torch/cnn/cpu/adam/none",
                                         "tensorflow/mlp/cpu/adam/none", "tensorflow/cnn/cpu/adam/none"}
    assert {r.name.split(":")[0] for r in c.rows} == {"gha-a", "gha-b"}
    assert {r.verdict for r in c.rows} == {"unchanged"}  # pooled, the 3× machine would swamp everything
    assert not any("pools runs" in m for m in c.guard_messages)


def test_compare_never_imports_a_framework(side):
    base, head = side("base", noise_seed=1, seeds=range(2)), side("head", noise_seed=2, seeds=range(2))
    # A fresh interpreter: other tests in this process may have imported the frameworks already.
    code = (
        "import sys; from greenbench.compare import compare; "
        f"compare({str(base)!r}, {str(head)!r}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'keras')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_noisy_repeats_are_called_out(side):
    base = side("base", noise_seed=1, time_cv=0.15)
    head = side("head", noise_seed=2, time_cv=0.15)
    c = compare(base, head, metrics=["train_time_s"])
    (msg,) = [m for m in c.guard_messages if "between repeats" in m]
    assert msg.startswith("training time varies by 1") and "half the 10% threshold" in msg
    quiet = compare(side("b2", noise_seed=3), side("h2", noise_seed=4), metrics=["train_time_s"])
    assert not any("between repeats" in m for m in quiet.guard_messages)


def test_one_gate_over_the_report_and_what_it_cannot_see(side):
    # A 20 % slowdown of one workload only, 5 repeats a side, 16 rows: its time, energy and CO₂
    # rows move together, so Benjamini–Hochberg still flags them; the note says what a lone
    # one-row change would need.
    base = side("base", noise_seed=1, time_cv=0.01)
    head = [side("head-slow", noise_seed=2, time_cv=0.01, time_factor=1.2, workloads=[("torch", "mlp")]),
            side("head-rest", noise_seed=3, time_cv=0.01,
                 workloads=[("torch", "cnn"), ("tensorflow", "mlp"), ("tensorflow", "cnn")])]
    c = compare(base, head)
    assert c.correction == "bh" and c.family_size == 16
    flagged = {(r.label, r.metric) for r in c.regressions}
    assert flagged == {("torch/mlp/cpu/adam/none", m) for m in ("train_time_s", "total_energy_kwh", "total_co2_kg")}
    assert all(r.p_adjusted is not None and r.p_adjusted >= r.p_value for r in c.rows)
    (note,) = c.notes
    assert "5 repeats per side" in note and "p < 0.00313" in note and "≥ 6 repeats per side" in note
    assert "Benjamini–Hochberg correction over the 16 tested rows" in rule_text(c)
    # Each row on its own: the same verdicts here, no note, and the rule says so.
    plain = compare(base, head, correction="none")
    assert {(r.label, r.metric) for r in plain.regressions} == flagged and plain.notes == []
    assert "no correction for multiple comparisons" in rule_text(plain)
    # Holm guards every row under any dependence: 5 repeats cannot reach 0.05 / 16.
    assert compare(base, head, correction="holm").regressions == []
    md = to_markdown(c)
    assert "> [!NOTE]" in md and "adj. p" in md
