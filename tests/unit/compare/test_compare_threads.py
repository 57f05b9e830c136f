"""compare() and the threads axis (issue 13): runs match runs of the same thread setting only; a record from
before the axis (``training.threads`` alone, or nothing for all cores) matches the runs that have its setting;
the guard names a difference in OpenMP's wait policy."""

from __future__ import annotations

from typing import Any, Callable

from greenbench.compare import compare


def _threads(setting: int | str | None, *, wait: str | None = "default") -> Callable[[dict[str, Any]], None]:
    """Set a record's thread setting (None: a record written before the axis: no ``threads`` key anywhere new)."""

    def mutate(rec: dict[str, Any]) -> None:
        cfg, pools = rec["config"], rec["metrics"]["threads"]
        if setting is None:
            cfg.pop("threads", None)
            pools.pop("setting", None)
            pools.pop("omp_wait_policy", None)
            return
        cfg["threads"] = setting
        cfg["training"]["threads"] = None if setting == "all" else setting
        pools["setting"] = setting
        pools["intra_op"] = 2 if setting == "all" else setting
        pools["omp_wait_policy"] = wait
        if setting != "all":
            rec["run_id"] += f"-t{setting}"
            rec["workload_id"] += f"-t{setting}"

    return mutate


def test_each_thread_setting_is_compared_with_the_same_setting(side):
    # One thread takes twice as long: pooled with the all-core runs, every time row would move.
    base = [side("base-all", noise_seed=1, mutate=_threads("all")),
            side("base-one", noise_seed=2, time_factor=2.0, mutate=_threads(1))]
    head = [side("head-all", noise_seed=3, mutate=_threads("all")),
            side("head-one", noise_seed=4, time_factor=2.0, mutate=_threads(1))]
    c = compare(base, head)
    assert len(c.rows) == 8 * 4  # 4 workloads × 2 thread settings × 4 default metrics
    assert not c.regressions and not c.improvements, [(r.label, r.metric) for r in c.regressions]
    assert all(r.n_base == 5 and r.n_head == 5 for r in c.rows)
    assert c.unmatched == {"base": [], "head": []}


def test_old_records_match_by_training_threads(side):
    old = side("base-old", noise_seed=1, mutate=_threads(None))  # training.threads null: all cores
    head = [side("head-all", noise_seed=3, mutate=_threads("all")),
            side("head-one", noise_seed=4, time_factor=2.0, mutate=_threads(1))]
    c = compare(old, head)
    assert len(c.rows) == 4 * 4 and all(r.n_base == 5 and r.n_head == 5 for r in c.rows)
    assert not c.regressions and not c.improvements
    assert len(c.unmatched["head"]) == 4 and c.unmatched["base"] == []  # the one-thread runs have no partner


def test_a_different_openmp_wait_policy_is_named_by_the_guard(side):
    c = compare(side("base", noise_seed=1, mutate=_threads("all")),
                side("head", noise_seed=2, mutate=_threads("all", wait="passive")))
    (msg,) = [m for m in c.guard_messages if "OpenMP wait policy" in m]
    assert msg.startswith("OpenMP wait policy differs (base default; head passive)")
