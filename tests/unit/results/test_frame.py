"""The pandas API: one row per run with the documented columns; aggregation over seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

import greenbench
from greenbench.errors import UserError
from greenbench.results import COLUMNS

REQUIRED = ["run_id", "suite", "backend", "model", "device", "optimizer", "compression", "seed", "status",
            "test_accuracy", "train_time_s", "train_energy_kwh", "train_co2_kg", "total_energy_kwh",
            "total_co2_kg", "energy_source", "params", "machine"]


def test_required_columns_present_and_filled(make_record, write_records) -> None:
    df = greenbench.load_results(write_records([make_record(seed=s) for s in range(2)]))
    assert set(REQUIRED) <= set(df.columns)
    assert df[REQUIRED].notna().all().all(), df[REQUIRED].isna().sum()  # a completed run fills every one


def test_load_results_one_row_per_run(make_record, write_records) -> None:
    recs = [make_record(seed=s, accuracy=0.9 + 0.01 * s, kwh=1e-4 * (s + 1)) for s in range(3)]
    recs.append(make_record(backend="tensorflow", status="failed"))
    df = greenbench.load_results(write_records(recs))
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS
    assert len(df) == 4
    done = df[df.status == "completed"].sort_values("seed")
    assert done.test_accuracy.tolist() == pytest.approx([0.9, 0.91, 0.92])
    # total = setup + train + evaluate; the epoch windows nested in train are not added again
    assert done.total_energy_kwh.tolist() == pytest.approx([1e-4 * (s + 1) * 1.08 for s in range(3)])
    assert done.train_co2_kg.tolist() == pytest.approx([1e-4 * (s + 1) * 0.38 for s in range(3)])
    assert set(done.energy_source) == {"estimated"}
    failed = df[df.status == "failed"].iloc[0]
    assert failed.reason == "failed: synthetic reason" and math.isnan(failed.test_accuracy)


def test_aggregate_over_seeds_mean_std_ci(make_record, write_records) -> None:
    accs = [0.90, 0.92, 0.94]
    df = greenbench.load_results(write_records([make_record(seed=s, accuracy=a) for s, a in enumerate(accs)]))
    agg = greenbench.aggregate_results(df)
    assert len(agg) == 1 and agg.loc[0, "n"] == 3
    assert agg.loc[0, "test_accuracy_mean"] == pytest.approx(0.92)
    assert agg.loc[0, "test_accuracy_std"] == pytest.approx(np.std(accs, ddof=1))
    half = 4.302652729911275 * np.std(accs, ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert agg.loc[0, "test_accuracy_ci_low"] == pytest.approx(0.92 - half)
    assert agg.loc[0, "test_accuracy_ci_high"] == pytest.approx(0.92 + half)


def test_single_seed_has_no_confidence_interval(make_record, write_records) -> None:
    agg = greenbench.aggregate_results(greenbench.load_results(write_records([make_record()])))
    assert math.isnan(agg.loc[0, "test_accuracy_ci_low"]) and math.isnan(agg.loc[0, "test_accuracy_std"])


def test_several_machines_merge_with_a_machine_column(make_record, write_records) -> None:
    a = write_records([make_record(machine="laptop")], name="a")
    b = write_records([make_record(machine="server")], name="b")
    df = greenbench.load_results([a, b])
    assert sorted(df.machine) == ["laptop", "server"]


def test_missing_directory_is_a_user_error(tmp_path) -> None:
    with pytest.raises(UserError, match="no such results directory"):
        greenbench.load_results(tmp_path / "nope")
