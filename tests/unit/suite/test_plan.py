"""Matrix expansion (include/exclude) and stable run ids."""

from __future__ import annotations

from typing import Any

from greenbench.suite import expand, group_by_workload, parse_suite


def _suite(**kw: Any):
    return parse_suite({"name": "t", **kw})


def _axes(runs, *keys):
    return [tuple(getattr(r, k) for k in keys) for r in runs]


def test_cartesian_product_in_stable_order() -> None:
    runs = expand(_suite(matrix={"backend": ["torch", "tensorflow"], "model": ["mlp", "cnn"], "seed": [0, 1]}))
    assert len(runs) == 8
    assert _axes(runs, "backend", "model", "seed")[:3] == [("torch", "mlp", 0), ("torch", "mlp", 1), ("torch", "cnn", 0)]


def test_exclude_removes_matching_combinations() -> None:
    runs = expand(_suite(matrix={"backend": ["torch", "tensorflow"], "model": ["mlp", "cnn"],
                                 "exclude": [{"backend": "tensorflow", "model": "cnn"}]}))
    assert ("tensorflow", "cnn") not in _axes(runs, "backend", "model")
    assert len(runs) == 3


def test_include_adds_runs_with_free_axes_ranging_over_the_matrix() -> None:
    runs = expand(_suite(matrix={"backend": ["torch", "tensorflow"], "model": ["mlp"], "optimizer": ["adam"],
                                 "include": [{"model": "cnn", "optimizer": "rmsprop"}]}))
    assert set(_axes(runs, "backend", "model", "optimizer")) == {
        ("torch", "mlp", "adam"), ("tensorflow", "mlp", "adam"),
        ("torch", "cnn", "rmsprop"), ("tensorflow", "cnn", "rmsprop"),
    }


def test_include_can_add_back_an_excluded_run_and_duplicates_collapse() -> None:
    runs = expand(_suite(matrix={"backend": ["torch", "tensorflow"],
                                 "exclude": [{"backend": "tensorflow"}],
                                 "include": [{"backend": "tensorflow"}, {"backend": "torch"}]}))
    assert _axes(runs, "backend") == [("torch",), ("tensorflow",)]


def test_combinations_that_resolve_to_the_same_run_are_one_run() -> None:
    # dropout null is the model's own dropout: 0.0 for the RNN (one run), 0.2 for the MLP (two runs)
    runs = expand(_suite(matrix={"backend": ["torch"], "model": ["rnn", "mlp"], "dropout": [None, 0.0],
                                 "compression": ["none", "float16"]}))
    assert sorted(_axes(runs, "model", "dropout", "compression")) == [
        ("mlp", 0.0, "float16"), ("mlp", 0.0, "none"), ("mlp", 0.2, "float16"), ("mlp", 0.2, "none"),
        ("rnn", 0.0, "float16"), ("rnn", 0.0, "none"),
    ]
    assert len({r.run_id for r in runs}) == len(runs)
    assert [len(g) for g in group_by_workload(runs)] == [2, 2, 2]


def test_run_ids_are_stable_and_change_with_any_setting() -> None:
    base = {"matrix": {"model": ["mlp"], "backend": ["torch"]}}
    a = expand(_suite(**base))[0]
    b = expand(_suite(**base))[0]
    assert a.run_id == b.run_id and a.run_id.startswith("torch-mlp-adam-none-s0-")
    changed = [
        {**base, "training": {"epochs": 2}},
        {**base, "models": {"mlp": {"hidden": [64]}}},
        {**base, "optimizers": {"adam": {"learning_rate": 0.002}}},
        {**base, "data": {"train_samples": 1000}},
        {**base, "energy": {"country": "FRA"}},
        {"matrix": {**base["matrix"], "l2": [0.001]}},
        {"matrix": {**base["matrix"], "seed": [1]}},
    ]
    ids = {expand(_suite(**c))[0].run_id for c in changed}
    assert a.run_id not in ids and len(ids) == len(changed)


def test_run_id_ignores_where_data_lives_timeouts_and_the_suite_name() -> None:
    a = expand(_suite(matrix={"model": ["mlp"], "backend": ["torch"]}))[0]
    b = expand(parse_suite({"name": "other", "matrix": {"model": ["mlp"], "backend": ["torch"]},
                            "data": {"dir": "/somewhere"}, "runner": {"timeout_s": 5}}))[0]
    assert a.run_id == b.run_id


def test_compression_variants_share_a_workload_and_none_comes_first() -> None:
    runs = expand(_suite(matrix={"backend": ["torch"], "model": ["mlp", "cnn"],
                                 "compression": ["prune-50", "none", "int8-dynamic"]}))
    groups = group_by_workload(runs)
    assert len(groups) == 2
    assert [r.compression for r in groups[0]] == ["none", "prune-50", "int8-dynamic"]
    assert len({r.run_id for r in runs}) == 6


def test_resolution_order_model_settings_override_training_and_optimizer_defaults() -> None:
    suite = _suite(
        matrix={"model": ["mlp", "cnn"], "optimizer": ["sgd", "adam"], "backend": ["torch"], "dropout": [None, 0.0]},
        training={"epochs": 3, "batch_size": 64},
        models={"mlp": {"epochs": 5, "learning_rate": {"sgd": 0.1}}, "cnn": {"batch_size": 32}},
    )
    by = {(r.model, r.optimizer, r.dropout): r for r in expand(suite)}
    mlp_sgd = by[("mlp", "sgd", 0.2)]
    assert (mlp_sgd.training.epochs, mlp_sgd.training.batch_size, mlp_sgd.training.learning_rate) == (5, 64, 0.1)
    assert by[("mlp", "adam", 0.2)].training.learning_rate == 0.001
    assert by[("cnn", "adam", 0.25)].training.batch_size == 32 and by[("cnn", "adam", 0.25)].training.epochs == 3
    assert by[("mlp", "adam", 0.0)].arch["dropout"] == 0.0
