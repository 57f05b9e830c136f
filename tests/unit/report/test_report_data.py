"""The answers a report gives: Pareto front, headline picks, labels, units, grid data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from greenbench.report import data as rd
from greenbench.report import fmt
from greenbench.report.sections import comparisons, headline, methodology, transparency
from greenbench.measure.grid import WHAT_IF_COUNTRIES, load_grid_data


def test_pareto_mask_keeps_only_undominated_points():
    cost = [1, 2, 3, 4, 2, 5, np.nan]
    gain = [0.90, 0.95, 0.94, 0.97, 0.95, 0.96, 0.99]
    # 3 is dominated by 2; the second (2, .95) ties the first and is not strictly better; 5 by 4; NaN never counts
    assert rd.pareto_mask(cost, gain).tolist() == [True, True, False, True, False, False, False]


def test_headline_picks_best_greenest_and_greenest_near_best(make_record, write_records):
    recs = [
        make_record(model="cnn", accuracy=0.980, kwh=10e-4),  # best
        make_record(model="mlp", accuracy=0.9765, kwh=4e-4),  # within 0.5 pp, much greener
        make_record(model="rnn", accuracy=0.960, kwh=1e-4),  # greenest overall
        make_record(model="transformer", accuracy=0.974, kwh=0.5e-4, compression="prune-50"),  # not a training run
    ]
    res = rd.load([write_records(recs)])
    agg = rd.aggregates(rd.primary(res.df))
    h = headline.headline(res.df, agg)
    assert h.best["model"] == "cnn"
    assert h.greenest["model"] == "rnn"
    assert h.near_best["model"] == "mlp"
    # phases sum setup (5 %), train and evaluate (3 %) energy: same factor for both, so the ratio is 4/10
    assert h.saving_vs_best == pytest.approx(0.6)
    assert h.totals["runs"] == 4 and h.totals["estimated"] is True


def test_labels_name_only_the_axes_that_tell_runs_apart(make_record, write_records):
    # the two models carry different default dropouts: dropout follows the model and is left out of labels
    recs = [make_record(model=m, optimizer=o, seed=s) for m in ("mlp", "cnn") for o in ("adam", "sgd") for s in (0, 1)]
    res = rd.load([write_records(recs)])
    assert rd.varying_axes(res.df) == ["backend", "model", "optimizer"]
    assert set(res.df["config_label"]) == {
        "torch · mlp · adam",
        "torch · mlp · sgd",
        "torch · cnn · adam",
        "torch · cnn · sgd",
    }
    assert "torch · cnn · sgd · s1" in set(res.df["label"])


def test_head_to_head_compares_matched_configurations(make_record, write_records):
    recs = []
    for model, t in (("mlp", 10.0), ("cnn", 40.0)):
        recs.append(make_record(backend="torch", model=model, train_s=t, kwh=t * 1e-5, accuracy=0.97))
        recs.append(make_record(backend="tensorflow", model=model, train_s=t * 1.5, kwh=t * 2e-5, accuracy=0.96))
    res = rd.load([write_records(recs)])
    agg = rd.aggregates(rd.primary(res.df))
    (row,) = comparisons.head_to_head(agg, "backend")
    assert (row["level"], row["reference"], row["matched"]) == ("torch", "tensorflow", 2)
    assert row["time"] == pytest.approx(1 / 1.5)
    assert row["energy"] == pytest.approx(0.5)
    assert row["accuracy_pp"] == pytest.approx(1.0)
    assert comparisons.head_to_head(agg, "optimizer") == []  # one level only
    # both sides split their energy alike between CPU and RAM (0.8 / 0.2): the method's factors cancel
    lo, hi = row["energy_range"]
    assert lo == pytest.approx(1.0) and hi == pytest.approx(1.0)


def _side(cpu: float, ram: float, cpu_band: tuple[float, float], ram_band: tuple[float, float]):
    import pandas as pd

    row = {"total_gpu_kwh_mean": 0.0, "total_gpu_kwh_method_low": np.nan, "total_gpu_kwh_method_high": np.nan}
    for c, v, (lo, hi) in (("cpu", cpu, cpu_band), ("ram", ram, ram_band)):
        row |= {f"total_{c}_kwh_mean": v, f"total_{c}_kwh_method_low": v * lo, f"total_{c}_kwh_method_high": v * hi}
    return pd.DataFrame([row])


def test_a_same_method_ratio_keeps_the_range_the_components_split_leaves():
    # CPU-heavy against RAM-heavy, each 4 units: stated ratio 1. CPU ÷2 … ×2, RAM exact:
    # (3f + 1) / (f + 3) runs from 2.5 / 3.5 (f = 0.5) to 7 / 5 (f = 2)
    lo, hi = comparisons.ratio_range(_side(3.0, 1.0, (0.5, 2.0), (1.0, 1.0)), _side(1.0, 3.0, (0.5, 2.0), (1.0, 1.0)))
    assert (lo, hi) == (pytest.approx(2.5 / 3.5), pytest.approx(7 / 5))
    # the same split on both sides: nothing is left, whatever the bands
    lo, hi = comparisons.ratio_range(_side(3.0, 1.0, (0.2, 5.0), (1 / 3, 2.0)), _side(6.0, 2.0, (0.2, 5.0), (1 / 3, 2.0)))
    assert (lo, hi) == (pytest.approx(1.0), pytest.approx(1.0))
    # a component with a figure but no bound: no range is claimed
    unbounded = _side(3.0, 1.0, (0.5, 2.0), (1.0, 1.0)).assign(total_ram_kwh_method_low=np.nan)
    assert comparisons.ratio_range(unbounded, _side(1.0, 3.0, (0.5, 2.0), (1.0, 1.0))) is None


def test_provenance_and_environment_tables(make_record, write_records):
    res = rd.load([write_records([make_record(), make_record(seed=1, machine="other")])])
    prov = methodology.provenance_table(res.df, res.records)
    assert {(p["machine"], p["device"], p["provenance"]) for p in prov} >= {
        ("test-machine", "CPU", "estimated:tdp"),
        ("other", "RAM", "estimated:ram-model"),
    }
    cpu = next(p for p in prov if p["device"] == "CPU")
    assert "TDP" in cpu["meaning"] and cpu["phases"] == 5 and cpu["runs"] == 1  # setup, train, evaluate + 2 epoch windows
    env = methodology.environment(res.df, res.records)
    assert env["machines"] == ["other", "test-machine"]
    assert env["versions"]["torch"] == {"other": "2.13.0", "test-machine": "2.13.0"}
    assert env["system"]["cpu.model"]["other"] == "Synthetic CPU"
    assert methodology.flatten({"memory_bytes": 25_276_514_304, "gpus": [], "os": {"system": "Linux"}}) == {
        "memory_bytes": "25.3 GB (25,276,514,304 bytes)",
        "gpus": "none",
        "os.system": "Linux",
    }


def test_decode_samples():
    imgs = np.arange(2 * 28 * 28, dtype=np.uint16).astype(np.uint8).reshape(2, 28, 28)
    import base64

    ok = transparency.decode_samples(
        {
            "indices": [5, 9],
            "labels": [1, 2],
            "predictions": [1, 3],
            "images_b64": base64.b64encode(imgs.tobytes()).decode(),
        }
    )
    assert not isinstance(ok, str)
    assert ok.images.shape == (2, 28, 28) and (ok.images == imgs).all() and ok.indices == [5, 9]
    assert "not valid base64" in transparency.decode_samples({"labels": [1], "predictions": [1], "images_b64": "%%%"})
    assert transparency.decode_samples(None) == "no sample predictions were recorded"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.000123, "0.000123"),
        (1.0, "1.00"),
        (12.345, "12.3"),
        (1234.5, "1,234"),
        (0, "0"),
        (None, fmt.NA),
        (float("nan"), fmt.NA),
        (1e-15, "1.00e-15"),
    ],
)
def test_num(value, expected):
    assert fmt.num(value) == expected


def test_units_and_markers():
    assert fmt.pick_unit([1e-4, 2e-4, 3e-4], fmt.ENERGY_UNITS) == ("mWh", 1e-6)
    assert fmt.energy(0.0025) == "2.50 Wh"
    assert fmt.co2(3.8e-5) == "38.0 mg"
    assert fmt.duration(90) == "90.0 s" and fmt.duration(600) == "10.0 min" and fmt.duration(36000) == "10.0 h"
    assert fmt.marked("1.00 Wh", "estimated", False) == "1.00 Wh †"
    assert fmt.marked("1.00 Wh", "mixed", True) == "1.00 Wh †‡"
    assert fmt.marked("1.00 Wh", "measured", False) == "1.00 Wh"
    assert fmt.marked(fmt.NA, "unavailable") == f"{fmt.NA} (unavailable)"
    assert fmt.pm(0.9823, 0.0031, 100, " %", 4) == "98.23 ± 0.31 %"
    assert fmt.pm(7.92, math.nan, 1, " s") == "7.92 s"


def test_grid_data_comes_from_codecarbons_file():
    grid = load_grid_data()
    if grid is None:
        pytest.skip("codecarbon is not installed")
    assert "global_energy_mix.json" in grid.source and grid.source.startswith("codecarbon ")
    assert all(c in grid.countries for c in WHAT_IF_COUNTRIES)
    fra, usa, ind = (grid.countries[c].g_per_kwh for c in ("FRA", "USA", "IND"))
    assert 0 < fra < usa < ind < 2000


def test_energy_extras_collapse_numbers_into_one_range_per_key():
    phases = {
        "train": {"energy": {"samples": 1, "ram_power_w": 19.999999999999996, "tracking_mode": "machine"}},
        "evaluate": {"energy": {"samples": 3, "ram_power_w": 20.000000000000004, "tracking_mode": "machine"}},
        "latency": {"energy": {"samples": 2, "ram_power_w": 20.0, "tracking_mode": "process"}},
    }
    rows = methodology.energy_extras([{"phases": phases}])
    assert ("samples", "1 – 3", 3) in rows
    assert ("ram_power_w", "20.0", 3) in rows  # float noise does not make three rows
    assert ("tracking_mode", "machine", 2) in rows and ("tracking_mode", "process", 1) in rows
    assert len(rows) == 4
