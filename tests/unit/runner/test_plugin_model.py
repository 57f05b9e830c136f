"""A model is one registry entry (its settings, its weight specs) and one builder per backend: a
one-layer ``linear`` model defined in the test tree (``linear_model.py``, ``linear_model_torch.py``,
not in greenbench/) is registered through the model registry's public API; the suite schema allows
it and its settings, and a plan runs through the real runner (a spawned torch worker included),
which nothing else in greenbench had to be told about. Unregistered afterwards: every other test
sees the four built-in models only."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

import pytest

from greenbench import api
from greenbench import model_registry as registry
from greenbench.errors import SuiteError

HERE = Path(__file__).parent
SUITE = """\
name: plugin-model
data: {train_samples: 2000, test_samples: 500}
matrix:
  backend: [torch]
  model: [linear]
  optimizer: [sgd]
models:
  linear: {learning_rate: 0.5}
training: {epochs: 2, batch_size: 32}
energy: {enabled: false}
runner: {timeout_s: 300, latency_samples: 10}
"""


@pytest.fixture
def linear_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[registry.ModelInfo]:
    monkeypatch.syspath_prepend(str(HERE))  # a spawned worker starts with its parent's sys.path
    import linear_model

    registry.register_model(linear_model.INFO)  # this process
    monkeypatch.setenv(registry.MODELS_ENV, "linear_model")  # and every worker it spawns
    try:
        yield linear_model.INFO
    finally:
        monkeypatch.delenv(registry.MODELS_ENV)  # (before the look-up below, which would import it again)
        registry.unregister_model(linear_model.NAME)
        registry._plugins_loaded.discard("linear_model")
        assert registry.model_names() == registry.BUILTIN_NAMES


def _plan_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SuiteError) as info:
        api.plan_suite(path)
    return str(info.value).replace(f"{path}: ", "")


def test_an_unregistered_model_is_refused_in_one_line(tmp_path: Path) -> None:
    assert registry.model_names() == ("mlp", "cnn", "rnn", "transformer")
    assert _plan_error(tmp_path, SUITE) == "\n".join([
        "matrix.model[0]: 'linear' is not one of: mlp, cnn, rnn, transformer",
        "models: unknown key 'linear'; allowed keys: cnn, mlp, rnn, transformer",
    ])


def test_a_registered_model_is_a_value_of_the_model_axis_with_its_own_settings(
        linear_model: registry.ModelInfo, tmp_path: Path) -> None:
    from greenbench.workloads import param_count

    path = tmp_path / "s.yaml"
    path.write_text(SUITE.replace("{learning_rate: 0.5}", "{learning_rate: 0.5, init: zeros}"))
    suite, runs = api.plan_suite(path)
    assert [(r.backend, r.model) for r in runs] == [("torch", "linear")]
    assert runs[0].arch == {"dropout": 0.0, "init": "zeros"}
    assert runs[0].optimizer_config["learning_rate"] == 0.5
    assert param_count("linear", runs[0].arch) == 784 * 10 + 10
    # Its settings are checked like a built-in model's; unknown models and keys stay one line each.
    assert _plan_error(tmp_path, SUITE.replace("{learning_rate: 0.5}", "{init: ones}")) == (
        "models.linear.init: 'ones' is not one of: glorot_uniform, zeros")
    assert _plan_error(tmp_path, SUITE.replace("{learning_rate: 0.5}", "{hidden: [64]}")) == (
        "models.linear: unknown key 'hidden'; allowed keys: batch_size, dropout, epochs, init, learning_rate")
    assert _plan_error(tmp_path, SUITE.replace("linear: {learning_rate: 0.5}", "resnet: {}")) == (
        "models: unknown key 'resnet'; allowed keys: cnn, linear, mlp, rnn, transformer")


@pytest.mark.torch
def test_a_model_registered_from_the_test_tree_runs_a_plan(linear_model: registry.ModelInfo,
                                                           tmp_path: Path, mnist_dir: Path) -> None:
    # mnist_dir: the workers read the real MNIST copy through GREENBENCH_DATA_DIR; without one the test skips
    # (by capability, like every test that trains) instead of failing on a download that cannot work here
    from greenbench.results import load_results

    path = tmp_path / "s.yaml"
    path.write_text(SUITE)
    suite, runs = api.plan_suite(path)
    outcome = api.run_suite(suite, runs, results_dir=tmp_path / "results")
    df = load_results(tmp_path / "results")
    assert outcome.counts == {"completed": 1}, df[["status", "reason"]].to_dict("index")
    row = df.iloc[0]
    assert (row["backend"], row["model"]) == ("torch", "linear")
    assert row["params"] == 784 * 10 + 10
    assert row["test_accuracy"] > 0.5, row["test_accuracy"]  # chance is 0.1


@pytest.mark.torch
def test_a_backend_without_a_builder_of_a_model_skips_its_runs(linear_model: registry.ModelInfo,
                                                               tmp_path: Path) -> None:
    from greenbench.backends.torch.backend import TorchBackend

    bare = dataclasses.replace(linear_model, name="linear-bare", builders={})
    registry.register_model(bare)
    try:
        path = tmp_path / "s.yaml"
        path.write_text(SUITE.replace("linear", "linear-bare"))
        _, runs = api.plan_suite(path)
        assert TorchBackend().skip(runs[0]) == "unsupported: torch has no builder for model 'linear-bare'"
        assert TorchBackend().skip(api.plan_suite(_write(tmp_path, SUITE))[1][0]) is None
    finally:
        registry.unregister_model("linear-bare")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "other.yaml"
    path.write_text(text)
    return path
