"""The summary table printed at the end of `greenbench run`."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from greenbench.runner.local import SuiteOutcome
from greenbench.runner.progress import print_summary


def test_lowest_co2_is_a_run_that_trained_not_a_compression_variant(make_record, tmp_path: Path) -> None:
    trained_small = make_record(model="mlp", kwh=1e-4)
    trained_big = make_record(model="cnn", kwh=5e-4, accuracy=0.99)
    variant = make_record(model="mlp", compression="int8-dynamic", kwh=1e-6)
    variant["phases"] = {"compress": variant["phases"]["setup"], "evaluate": variant["phases"]["evaluate"]}
    out = io.StringIO()
    outcome = SuiteOutcome(results_dir=tmp_path, planned=3, counts={"completed": 3})
    print_summary(Console(file=out, width=200), outcome, [trained_small, trained_big, variant])
    text = out.getvalue()
    (best,) = [ln for ln in text.splitlines() if "best accuracy" in ln]
    assert f"0.9900  {trained_big['run_id']}" in best
    (line,) = [ln for ln in text.splitlines() if "lowest CO₂ run" in ln]
    assert trained_small["run_id"] in line and variant["run_id"] not in line
    assert "3 planned: 3 completed" in text and str(tmp_path) in text
