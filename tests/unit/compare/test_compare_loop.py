"""compare() and the loop-style axis (issue 13): runs of one loop match runs of the same loop only, and
records written before the axis existed (no ``loop`` key: every run was a parity run) match parity runs."""

from __future__ import annotations

from typing import Any, Callable

from greenbench.compare import compare


def _loop(loop: str | None) -> Callable[[dict[str, Any]], None]:
    def mutate(rec: dict[str, Any]) -> None:
        if loop is None:
            rec["config"].pop("loop", None)  # a record from before the axis
            return
        rec["config"]["loop"] = loop
        if loop != "parity":
            rec["run_id"] += f"-{loop}"
            rec["workload_id"] += f"-{loop}"

    return mutate


def test_each_loop_is_compared_with_the_same_loop(side):
    # The idiomatic runs take twice as long: pooled with the parity runs, every time row would move.
    base = [side("base-parity", noise_seed=1, mutate=_loop("parity")),
            side("base-idiomatic", noise_seed=2, time_factor=2.0, mutate=_loop("idiomatic"))]
    head = [side("head-parity", noise_seed=3, mutate=_loop("parity")),
            side("head-idiomatic", noise_seed=4, time_factor=2.0, mutate=_loop("idiomatic"))]
    c = compare(base, head)
    assert len(c.rows) == 8 * 4  # 4 workloads × 2 loops × 4 default metrics
    assert {r.workload["loop"] for r in c.rows} == {"parity", "idiomatic"}
    assert not c.regressions and not c.improvements, [(r.label, r.metric) for r in c.regressions]
    assert all(r.n_base == 5 and r.n_head == 5 for r in c.rows)
    assert c.unmatched == {"base": [], "head": []}


def test_records_from_before_the_axis_match_parity_runs_only(side):
    base = side("base-old", noise_seed=1, mutate=_loop(None))
    head = [side("head-parity", noise_seed=3, mutate=_loop("parity")),
            side("head-idiomatic", noise_seed=4, time_factor=2.0, mutate=_loop("idiomatic"))]
    c = compare(base, head)
    assert len(c.rows) == 4 * 4 and {r.workload["loop"] for r in c.rows} == {"parity"}
    assert not c.regressions and not c.improvements
    assert c.unmatched["base"] == [] and len(c.unmatched["head"]) == 4
