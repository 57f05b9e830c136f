"""The comparability guard names what differs between the sides, from fingerprints and energy provenance."""

from __future__ import annotations

import pytest
from compare_support import measured, set_energy

from greenbench.compare import compare
from greenbench.errors import UserError

VERSIONS = {"torch": "2.13.0", "tensorflow": "2.21.0", "keras": "3.15.0", "codecarbon": "3.3.2", "numpy": "2.4.6"}


def _env(**changes):
    versions = {**VERSIONS, **changes.pop("versions", {})}
    return {"machine": "test-machine", "cpu": {"model": "Synthetic CPU", "usable_cores": 2},
            "versions": versions, "python": {"version": "3.11.9"}, "os": {"system": "Linux", "distro": "Debian 13"},
            **changes}


def _only(messages, needle):
    hits = [m for m in messages if needle in m]
    assert hits, f"no message with {needle!r} in {messages}"
    return hits[0]


def test_identical_environments_raise_nothing(side):
    c = compare(side("base", noise_seed=1, env=_env()), side("head", noise_seed=2, env=_env()))
    assert c.guard_messages == []


def test_estimated_vs_measured_energy(side):
    c = compare(side("base", noise_seed=1), side("head", noise_seed=2, mutate=measured))
    msg = _only(c.guard_messages, "measured on one side and estimated on the other")
    assert "base estimated" in msg and "head measured" in msg
    prov = _only(c.guard_messages, "CPU energy provenance differs")
    assert "estimated:tdp" in prov and "measured:rapl" in prov


def test_different_country_and_carbon_intensity(side):
    fra = lambda rec: set_energy(rec, country="FRA", carbon_intensity_g_per_kwh=56.0)  # noqa: E731
    c = compare(side("base", noise_seed=1), side("head", noise_seed=2, mutate=fra))
    assert "base USA; head FRA" in _only(c.guard_messages, "country differs")
    assert "base 380 g/kWh; head 56 g/kWh" in _only(c.guard_messages, "carbon intensity differs")
    # CO₂ then moves while energy does not: the rows show it, the guard explains it.
    co2 = [r for r in c.rows if r.metric == "total_co2_kg"]
    assert all(r.verdict == "improved" for r in co2)


def test_different_library_versions_are_listed(side):
    base = side("base", noise_seed=1, env=_env())
    head = side("head", noise_seed=2, env=_env(versions={"torch": "2.12.1", "numpy": "1.26.4"},
                                                python={"version": "3.12.3"}))
    c = compare(base, head)
    assert _only(c.guard_messages, "torch version differs") == "torch version differs: base 2.13.0; head 2.12.1"
    assert "base 2.4.6; head 1.26.4" in _only(c.guard_messages, "numpy version differs")
    assert "base 3.11.9; head 3.12.3" in _only(c.guard_messages, "python version differs")
    assert not any("tensorflow version" in m for m in c.guard_messages)


def test_torch_version_is_irrelevant_when_only_tensorflow_runs_match(side):
    tf = [("tensorflow", "mlp")]
    c = compare(side("base", noise_seed=1, workloads=tf, env=_env()),
                side("head", noise_seed=2, workloads=tf, env=_env(versions={"torch": "2.0.0"})))
    assert not any("torch" in m for m in c.guard_messages)


def test_different_data_subset_is_named_and_not_matched(side):
    def bigger(rec):
        if rec["config"]["model"] == "cnn":
            rec["config"]["data"]["train_samples"] = 1000

    c = compare(side("base", noise_seed=1), side("head", noise_seed=2, mutate=bigger))
    msg = _only(c.guard_messages, "data subsets differ")
    assert "train_samples: base 600; head 1000, 600" in msg
    assert {r.workload["model"] for r in c.rows} == {"mlp"}
    assert c.unmatched["base"] == ["tensorflow/cnn/cpu/adam/none (train_samples=600)",
                                   "torch/cnn/cpu/adam/none (train_samples=600)"]
    assert c.unmatched["head"] == ["tensorflow/cnn/cpu/adam/none (train_samples=1000)",
                                   "torch/cnn/cpu/adam/none (train_samples=1000)"]


def test_entirely_different_data_subset_is_a_user_error_naming_it(side):
    def bigger(rec):
        rec["config"]["data"]["train_samples"] = 1000

    with pytest.raises(UserError, match=r"nothing to compare.*train_samples: base 600; head 1000"):
        compare(side("base", noise_seed=1), side("head", noise_seed=2, mutate=bigger))


def test_different_machines_are_a_hardware_comparison(side):
    base = side("base", noise_seed=1, machine="laptop", env=_env(machine="laptop"))
    head = side("head", noise_seed=2, machine="ci-runner",
                env=_env(machine="ci-runner", cpu={"model": "AMD EPYC 7763", "usable_cores": 4}))
    c = compare(base, head)
    assert not c.paired_by_machine
    msg = _only(c.guard_messages, "hardware comparison")
    assert "base ran on laptop (Synthetic CPU), head on ci-runner (AMD EPYC 7763)" in msg


def test_same_machine_label_on_different_cpus_is_flagged(side):
    # GitHub-hosted runners with one label run on several CPU models.
    base = side("base", noise_seed=1, machine="gha-ubuntu", env=_env(machine="gha-ubuntu"))
    head = side("head", noise_seed=2, machine="gha-ubuntu",
                env=_env(machine="gha-ubuntu", cpu={"model": "Intel Xeon 8370C", "usable_cores": 2}))
    c = compare(base, head)
    assert c.paired_by_machine
    msg = _only(c.guard_messages, "is not the same hardware")
    assert "CPU: base Synthetic CPU; head Intel Xeon 8370C" in msg


def test_missing_fingerprint_keys_are_not_compared(side):
    def bare(rec):
        rec["env"] = {}  # an old record, or a fingerprint that could not be read

    c = compare(side("base", noise_seed=1, mutate=bare), side("head", noise_seed=2, env=_env()))
    assert not any("version" in m or "operating system" in m or "CPU" in m for m in c.guard_messages)
    assert {r.verdict for r in c.rows} == {"unchanged"}


def test_config_field_added_on_one_side_is_ignored_for_matching_and_said(side):
    def new_field(rec):
        rec["config"]["training"]["new_knob"] = 3

    c = compare(side("base", noise_seed=1), side("head", noise_seed=2, mutate=new_field))
    assert len({r.label for r in c.rows}) == 4
    assert "(training.new_knob)" in _only(c.guard_messages, "only in head records")


def test_comparing_a_result_set_with_itself_is_said(side):
    base = side("base", noise_seed=1)
    c = compare(base, base)
    assert "compares a result set with itself" in _only(c.guard_messages, "same 20 runs")
    assert {r.verdict for r in c.rows} == {"unchanged"}
