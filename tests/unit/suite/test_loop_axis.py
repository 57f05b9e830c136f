"""The loop-style axis (``loop: [parity, idiomatic]``, issue 13): schema, expansion, run ids, records' frame.

``parity`` is the default and was the only loop before the axis existed, so a parity run keeps the
run id it had then (results recorded before resume under the same ids), and a record without the key
reads as ``parity``."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from greenbench import choices
from greenbench.errors import SuiteError
from greenbench.results.frame import record_to_row
from greenbench.suite import expand, parse_suite
from greenbench.suite.plan import RunSpec

# A suite over every identity-bearing kind of axis; the ids below were computed before the loop axis existed.
SUITE: dict[str, Any] = {
    "name": "ids",
    "data": {"train_samples": 3000, "test_samples": 500, "validation_samples": 100},
    "matrix": {"backend": ["torch", "tensorflow"], "model": ["mlp", "cnn"], "optimizer": ["adam", "sgd"],
               "compression": ["none", "prune-50"], "seed": [0, 1], "l2": [0.0, 0.0001]},
    "models": {"mlp": {"hidden": [64]}},
    "training": {"epochs": 3, "batch_size": 64},
}
IDS_BEFORE_THE_AXIS = "365cb5bb6cdc7b7ac2b05e0a55d4b6f6abbd23a9480a5feb4638d6de064d8084"
FIRST_IDS_BEFORE_THE_AXIS = ("torch-mlp-adam-none-s0-40f32b47c1", "torch-mlp-adam-s0-646fa257de")


def _suite(**matrix: Any) -> dict[str, Any]:
    return {**SUITE, "matrix": {**SUITE["matrix"], **matrix}}


def _ids_digest(runs: list[RunSpec]) -> str:
    return hashlib.sha256("\n".join(f"{r.run_id} {r.workload_id}" for r in runs).encode()).hexdigest()


def test_loop_is_an_axis_with_parity_first_and_default() -> None:
    assert "loop" in choices.MATRIX_AXES and "loop" in choices.CONFIG_AXES
    assert choices.LOOPS == ("parity", "idiomatic") and choices.DEFAULT_LOOP == "parity"
    assert choices.AXIS_DEFAULTS["loop"] == "parity"
    runs = expand(parse_suite(SUITE))
    assert {r.loop for r in runs} == {"parity"} and all(r.axes["loop"] == "parity" for r in runs)


@pytest.mark.parametrize("matrix", [{}, {"loop": ["parity"]}], ids=["axis-omitted", "axis-written"])
def test_parity_runs_keep_the_ids_they_had_before_the_axis(matrix: dict[str, Any]) -> None:
    runs = expand(parse_suite(_suite(**matrix)))
    assert (runs[0].run_id, runs[0].workload_id) == FIRST_IDS_BEFORE_THE_AXIS
    assert len(runs) == 64 and _ids_digest(runs) == IDS_BEFORE_THE_AXIS


def test_both_loops_expand_with_their_own_ids_and_workloads() -> None:
    runs = expand(parse_suite(_suite(loop=["parity", "idiomatic"])))
    assert len(runs) == 128
    parity = [r for r in runs if r.loop == "parity"]
    idiomatic = [r for r in runs if r.loop == "idiomatic"]
    assert len(parity) == len(idiomatic) == 64 and _ids_digest(parity) == IDS_BEFORE_THE_AXIS
    assert not {r.run_id for r in parity} & {r.run_id for r in idiomatic}
    assert not {r.workload_id for r in parity} & {r.workload_id for r in idiomatic}
    # Compression variants of an idiomatic run still share its one training.
    by_workload: dict[str, set[str]] = {}
    for r in idiomatic:
        by_workload.setdefault(r.workload_id, set()).add(r.compression)
    assert set(map(frozenset, by_workload.values())) == {frozenset({"none", "prune-50"})}
    # The same run, otherwise: every other field equal.
    first = idiomatic[0]
    same = next(r for r in parity if {**r.axes, "loop": "idiomatic"} == first.axes)
    ids = {"run_id", "workload_id", "loop"}
    assert first.model_dump(exclude=ids) == same.model_dump(exclude=ids)
    assert first.label() == same.label() + "/idiomatic"


def test_loop_in_include_and_exclude() -> None:
    suite = _suite(backend=["torch"], model=["mlp"], optimizer=["adam"], compression=["none"], seed=[0], l2=[0.0],
                   loop=["parity", "idiomatic"], exclude=[{"loop": "idiomatic"}],
                   include=[{"loop": "idiomatic", "optimizer": "sgd"}])
    runs = expand(parse_suite(suite))
    assert [(r.loop, r.optimizer) for r in runs] == [("parity", "adam"), ("idiomatic", "sgd")]


@pytest.mark.parametrize("bad", [["fast"], ["parity", "parity"], []])
def test_bad_loop_values_are_refused(bad: list[str]) -> None:
    with pytest.raises(SuiteError) as exc:
        parse_suite(_suite(loop=bad))
    assert "loop" in str(exc.value)
    if bad == ["fast"]:
        assert "parity" in str(exc.value) and "idiomatic" in str(exc.value)


def test_records_say_which_loop_ran_and_old_records_read_as_parity() -> None:
    run = expand(parse_suite(_suite(loop=["idiomatic"])))[0]
    config = run.model_dump(mode="json")
    assert config["loop"] == "idiomatic"
    assert record_to_row({"run_id": run.run_id, "config": config})["loop"] == "idiomatic"
    old = expand(parse_suite(SUITE))[0].model_dump(mode="json")
    old.pop("loop")  # a record written before the axis existed
    assert record_to_row({"run_id": "x", "config": old})["loop"] == "parity"
