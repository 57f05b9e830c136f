"""hardware_table: result sets of several machines in one table, relative to a reference machine."""

from __future__ import annotations

import numpy as np
import pytest

from greenbench.compare import hardware_summary, hardware_table
from greenbench.errors import UserError
from greenbench.results import load_results


@pytest.fixture
def machines(side):
    fast = side("fast", noise_seed=1, machine="fast-box", time_cv=0.0)
    slow = side("slow", noise_seed=2, machine="slow-box", time_cv=0.0, time_factor=2.0)
    return fast, slow


def test_relative_speed_and_energy_per_workload(machines):
    table = hardware_table(load_results(list(machines)))
    assert list(table["machine"].unique()) == ["fast-box", "slow-box"]
    assert len(table) == 4 * 2
    assert set(table["reference"]) == {"fast-box"}
    fast = table[table["machine"] == "fast-box"]
    slow = table[table["machine"] == "slow-box"]
    assert np.allclose(fast["relative_speed"], 1.0) and np.allclose(fast["relative_energy"], 1.0)
    assert np.allclose(slow["relative_speed"], 0.5)
    assert np.allclose(slow["train_time_s_ratio"], 2.0)
    assert ((slow["relative_energy"] > 1.8) & (slow["relative_energy"] < 2.2)).all()  # energy follows time
    assert set(table["n"]) == {5}
    assert {"workload", "cpu_model", "energy_source", "train_time_s_mean", "train_time_s_std"} <= set(table.columns)


def test_reference_machine_and_paths(machines):
    table = hardware_table(list(machines), reference="slow-box")  # paths are loaded with load_results
    fast = table[table["machine"] == "fast-box"]
    assert np.allclose(fast["relative_speed"], 2.0)
    with pytest.raises(UserError, match=r"reference machine 'gpu-box' is not in the results; machines: fast-box"):
        hardware_table(list(machines), reference="gpu-box")


def test_workload_missing_on_reference_has_no_ratio(side, machines):
    extra = side("extra", noise_seed=3, machine="slow-box", workloads=[("torch", "mlp")], optimizer="sgd")
    table = hardware_table(load_results([*machines, extra]))
    sgd = table[table["optimizer"] == "sgd"]
    assert len(sgd) == 1 and sgd["relative_speed"].isna().all()


def test_summary_geometric_means(machines):
    summary = hardware_summary(hardware_table(load_results(list(machines))))
    by = summary.set_index("machine")
    assert by.loc["slow-box", "relative_speed"] == pytest.approx(0.5)
    assert by.loc["slow-box", "train_time_s_ratio_geomean"] == pytest.approx(2.0)
    assert by.loc["slow-box", "shared_with_reference"] == 4
    assert by.loc["fast-box", "workloads"] == 4


def test_empty_frame_gives_empty_table(make_record, write_records):
    df = load_results(write_records([make_record(status="failed")], name="failed"))
    assert hardware_table(df).empty
