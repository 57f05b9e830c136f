"""`greenbench run --dry-run` and the run summary where CI people read them: an 80-column pipe (issue 15)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from golden_support import ROOT, assert_fits, assert_whole, check_golden, run_piped

from greenbench.console import columns, key_values, make_console
from greenbench.runner.local import SuiteOutcome
from greenbench.runner.progress import print_summary
from greenbench.suite import expand, load_suite

SUITE = """\
name: ci-layout
data: {dataset: mnist, train_samples: 3000, test_samples: 500}
matrix:
  backend: [torch, tensorflow]
  model: [mlp, transformer]
  optimizer: [adam, rmsprop]
  compression: [none, int8-dynamic]
  include:
    - {backend: torch, model: mlp, optimizer: adam, compression: none, seed: 1}
training: {epochs: 2}
"""


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "suites" / "ci-layout.yaml"
    path.parent.mkdir()
    path.write_text(SUITE)
    return path


def test_dry_run_piped_at_80_columns_golden(suite_file: Path) -> None:
    proc = run_piped("run", "suites/ci-layout.yaml", "--dry-run", cwd=suite_file.parents[1])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert_fits(out)
    runs = expand(load_suite(suite_file))
    assert_whole(out, [r.run_id for r in runs] + ["int8-dynamic", "transformer", "tensorflow", "rmsprop"])
    assert "…" not in out  # nothing truncated
    check_golden("dry-run-80.txt", out)


def test_dry_run_of_the_default_study_keeps_every_value_whole_at_80() -> None:
    proc = run_piped("run", "suites/mnist.yaml", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert_fits(proc.stdout)
    runs = expand(load_suite(ROOT / "suites" / "mnist.yaml"))
    assert_whole(proc.stdout, [r.run_id for r in runs])
    assert "…" not in proc.stdout and "64 runs (16 trainings" in proc.stdout


def test_dry_run_json_is_the_plan_for_scripts(suite_file: Path) -> None:
    proc = run_piped("run", str(suite_file), "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)  # the whole of stdout
    runs = expand(load_suite(suite_file))
    assert [p["run_id"] for p in plan] == [r.run_id for r in runs]
    assert plan[0] == {"run_id": runs[0].run_id, "workload_id": runs[0].workload_id, **runs[0].axes}
    assert set(plan[0]) == {"run_id", "workload_id", "backend", "model", "device", "optimizer", "compression", "seed",
                            "dropout", "l1", "l2", "augmentation", "loop", "threads"}
    only = run_piped("run", str(suite_file), "--dry-run", "--json", "--only", "backend=torch,model=mlp")
    assert [p["backend"] for p in json.loads(only.stdout)] == ["torch"] * 5
    alone = run_piped("run", str(suite_file), "--json")
    assert alone.returncode == 2 and alone.stderr.startswith("error: --json prints the plan and needs --dry-run")


def _records(make_record) -> list[dict]:
    recs = [make_record(backend=b, model=m, accuracy=a, kwh=k) for b, m, a, k in
            (("torch", "mlp", 0.91, 1e-4), ("tensorflow", "transformer", 0.93, 3e-4))]
    for r in recs:
        r["run_id"] = f"{r['config']['backend']}-{r['config']['model']}-adam-int8-dynamic-s0-0123456789"
    failed = make_record(backend="tensorflow", model="cnn", status="failed")
    failed["run_id"] = "tensorflow-cnn-adam-int8-dynamic-s0-0123456789"
    failed["reason"] = ("timed out after 300 s in phase train (epoch 2 of 3); the worker was killed and the "
                        "next run starts in a fresh one")
    return [*recs, failed]


def test_run_summary_at_80_columns_golden(make_record) -> None:
    out = io.StringIO()
    outcome = SuiteOutcome(results_dir=Path("results/ci-layout"), planned=4,
                           counts={"completed": 2, "failed": 1, "skipped": 1}, resumed=1, wall_s=83.25)
    print_summary(make_console(file=out, width=80), outcome, _records(make_record))
    text = out.getvalue()
    assert_fits(text)
    assert_whole(text, [r["run_id"] for r in _records(make_record)] + ["results/ci-layout"])
    check_golden("summary-80.txt", text)


def test_columns_fall_back_to_label_value_pairs_when_nothing_fits() -> None:
    rows = [["1", "tensorflow", "transformer", "dropout 0.2, l2 0.0001, aug shift-rotate", "run-id-" + "x" * 40]]
    lines = [ln.plain for ln in columns(["#", "backend", "model", "regularization", "run id"], rows, 60, right=[0])]
    assert lines == ["1  backend tensorflow  model transformer",
                     "   regularization dropout 0.2, l2 0.0001, aug shift-rotate",
                     "   run id run-id-" + "x" * 40]
    lines = [ln.plain for ln in columns(["#", "backend", "run id"], [["1", "torch", "abc"]], 60)]
    assert lines == ["#  backend  run id", "1  torch    abc"]


def test_key_values_flow_each_value_under_its_column() -> None:
    lines = [ln.plain for ln in key_values([("runs", "4 planned"), ("failed", "x: " + "word " * 20)], 40)]
    assert lines[0] == "runs    4 planned"
    assert all(ln.startswith("        ") for ln in lines[2:]) and all(len(ln) <= 40 for ln in lines)
    assert re.sub(r"\s+", " ", " ".join(lines[1:])).strip() == "failed x: " + " ".join(["word"] * 20)
