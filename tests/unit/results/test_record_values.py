"""A record whose numbers readers compute with are not finite numbers in range (test_accuracy 1e307, "abc",
[1], true; a negative or infinite phase time or energy) is an unreadable file with a reason naming the field
and what is allowed — never a crash of the report or compare that reads it — and records as greenbench writes
them still load."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from greenbench.errors import UserError
from greenbench.report import fmt
from greenbench.results import ResultStore, read_record
from greenbench.results.store import check_output_path
from greenbench.results.walk import find_records


def _write(tmp_path: Path, rec: dict[str, Any]) -> Path:
    path = tmp_path / f"{rec['run_id']}.json"
    path.write_text(json.dumps(rec))  # as a hostile or damaged file would be: not through the store
    return path


def _set(rec: dict[str, Any], where: str, value: Any) -> None:
    *parents, key = where.split(".")
    for p in parents:
        rec = rec[p]
    rec[key] = value


BAD = [
    ("metrics.test_accuracy", 1e307, "1e+307", "a finite number from 0 to 1, or null"),
    ("metrics.test_accuracy", "abc", '"abc" (a string)', "a finite number from 0 to 1, or null"),
    ("metrics.test_accuracy", [1], "[1] (a list)", "a finite number from 0 to 1, or null"),
    ("metrics.test_accuracy", True, "true (a boolean, not a number)", "a finite number from 0 to 1, or null"),
    ("metrics.test_accuracy", -0.5, "-0.5", "a finite number from 0 to 1, or null"),
    ("metrics.test_accuracy", math.nan, "NaN", "a finite number from 0 to 1, or null"),
    ("metrics.params", math.inf, "Infinity", "a finite number, or null"),
    ("metrics.test_loss", {"a": 1}, '{"a": 1} (an object)', "a finite number, or null"),
    ("metrics.params", "101770", '"101770" (a string)', "a finite number, or null"),
    ("metrics.params", 10**400, "1000000000000000000000000000000000000...", "a finite number, or null"),
    ("metrics.epochs_run", False, "false (a boolean, not a number)", "a finite number, or null"),
    ("metrics.time_to_target_s", -math.inf, "-Infinity", "a finite number, or null"),
    ("metrics.energy_to_target_kwh", "1e-4", '"1e-4" (a string)', "a finite number, or null"),
    ("phases.train.wall_s", -1.0, "-1.0", "a finite number >= 0, or null"),
    ("phases.train.wall_s", "10", '"10" (a string)', "a finite number >= 0, or null"),
    ("phases.train.energy", "x", '"x" (a string)', "an object, or null"),
    ("phases.train/epoch-1.energy.total_kwh", -1e-4, "-0.0001", "a finite number >= 0, or null"),
    ("phases.evaluate.energy.total_kwh", math.inf, "Infinity", "a finite number >= 0, or null"),
]


@pytest.mark.parametrize(("where", "value", "shown", "allowed"), BAD, ids=[f"{w}={v!r}" for w, v, *_ in BAD])
def test_a_bad_number_makes_the_file_unreadable_naming_the_field(
    tmp_path: Path, make_record, where: str, value: Any, shown: str, allowed: str
) -> None:
    rec = make_record()
    _set(rec, where, value)
    path = _write(tmp_path, rec)
    with pytest.raises(ValueError) as info:
        read_record(path)
    assert str(info.value) == f"not a greenbench record: {where} is {shown}; allowed: {allowed}"
    # every reader sees it as an unreadable file beside the good ones, with that reason
    good = make_record(seed=1)
    _write(tmp_path, good)
    found = find_records(tmp_path)
    assert [r["run_id"] for r, _ in found.records] == [good["run_id"]]
    assert found.corrupt == [(str(path), str(info.value))]


@pytest.mark.parametrize("loss", [math.nan, math.inf])
def test_an_older_record_of_a_diverged_model_is_still_read(tmp_path: Path, make_record, loss: float) -> None:
    # before test_loss_not_finite, a diverged model's loss was written as NaN / Infinity: a real outcome, kept
    rec = make_record()
    rec["metrics"]["test_loss"] = loss
    path = _write(tmp_path, rec)
    assert read_record(path)["run_id"] == rec["run_id"]


def test_what_is_recorded_is_still_never_overwritten(tmp_path: Path, make_record) -> None:
    rec = make_record()
    rec["metrics"]["test_accuracy"] = "abc"
    path = _write(tmp_path, rec)
    with pytest.raises(UserError, match="refusing to write there: it is a run record"):
        check_output_path(path, "--out")


@pytest.mark.parametrize("value", [None, 0, 1, 0.5, 1.0])
def test_null_absent_and_in_range_numbers_are_read(tmp_path: Path, make_record, value: Any) -> None:
    rec = make_record()
    rec["metrics"].update(test_accuracy=value, test_loss=value, params=value, epochs_run=value)
    rec["phases"]["train"]["wall_s"] = value
    rec["phases"]["train"]["energy"] = None
    rec["phases"]["setup"].pop("wall_s")
    assert read_record(_write(tmp_path, rec)) == rec
    failed = make_record(status="failed", seed=1)  # no metrics, no phases
    assert read_record(_write(tmp_path, failed)) == failed


def test_records_as_the_store_writes_them_round_trip(tmp_path: Path, make_record) -> None:
    store = ResultStore(tmp_path)
    recs = [make_record(seed=s) for s in range(3)] + [make_record(seed=9, status="skipped")]
    for rec in recs:
        store.write(rec)
    scan = store.scan()
    assert scan.corrupt == [] and sorted(scan.records) == sorted(r["run_id"] for r in recs)


def test_a_diverged_model_records_a_null_loss_that_reads_back(tmp_path: Path, make_record) -> None:
    from greenbench.runner.execute import _eval_metrics

    class _Ev:
        accuracy, loss, per_class_accuracy, confusion = 0.1, float("nan"), [0.1] * 10, [[1] * 10] * 10

    metrics = _eval_metrics(_Ev())  # type: ignore[arg-type]
    assert metrics["test_loss"] is None and metrics["test_loss_not_finite"] == "nan"
    rec = make_record()
    rec["metrics"].update(metrics)
    assert read_record(_write(tmp_path, rec))["metrics"]["test_loss"] is None


def test_a_mean_too_large_for_its_unit_is_not_available_not_a_crash() -> None:
    assert fmt.pm(1e307, 1.0, 1000.0, " mWh") == fmt.NA  # before: OverflowError from log10(inf)
    assert fmt.pm(2.0, 1e307, 1000.0, " mWh") == "2,000 mWh"
    assert fmt.pm(0.5, 0.01, 100.0, " %") == "50.0 ± 1.0 %"


def test_a_huge_but_finite_energy_renders_without_the_axis_it_cannot_draw(tmp_path: Path, make_record,
                                                                          write_records) -> None:
    from greenbench.report import build_report

    rec = make_record()
    rec["phases"]["train"]["energy"]["total_kwh"] = 1e307  # allowed (finite), but past a float once in mg of CO₂
    page = build_report([write_records([rec])], out=tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'id="what-if"' in page  # the section is there, its table too; only the figure is left out


def test_the_markdown_report_does_not_say_every_run_completed_over_unreadable_files(
    tmp_path: Path, make_record, write_records
) -> None:
    from greenbench.report import build_report

    d = write_records([make_record()])
    (d / "broken.json").write_text("{not json")
    md = build_report([d], out=tmp_path / "r.md", fmt="md").read_text(encoding="utf-8")
    assert "broken.json" in md and "Every run completed." not in md
    assert "Every run that could be read completed; unreadable record files are listed at the top." in md
