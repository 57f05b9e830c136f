"""A backend is one folder and one registry entry: a numpy-only MLP defined in the test tree
(``numpy_mlp_backend.py``, not in greenbench/) is registered through the registry's public API and
runs a plan through the real runner (spawned workers included), which nothing else in greenbench
had to be told about."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from greenbench import api
from greenbench import backend_registry as registry
from greenbench.errors import SuiteError

HERE = Path(__file__).parent
SUITE = """\
name: plugin-backend
data: {train_samples: 2000, test_samples: 500}
matrix:
  backend: [numpy-mlp]
  model: [mlp]
  optimizer: [sgd]
  compression: [none, float16]
models:
  mlp: {hidden: [32], dropout: 0.0, learning_rate: 0.1}
training: {epochs: 3, batch_size: 32}
energy: {enabled: false}
runner: {timeout_s: 300, latency_samples: 10}
"""


@pytest.fixture
def numpy_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[registry.BackendInfo]:
    monkeypatch.syspath_prepend(str(HERE))  # a spawned worker starts with its parent's sys.path
    import numpy_mlp_backend

    registry.register_backend(numpy_mlp_backend.INFO)  # this process
    monkeypatch.setenv(registry.BACKENDS_ENV, "numpy_mlp_backend")  # and every worker it spawns
    try:
        yield numpy_mlp_backend.INFO
    finally:
        registry.unregister_backend(numpy_mlp_backend.NAME)
        registry._plugins_loaded.discard("numpy_mlp_backend")


def test_an_unregistered_backend_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SUITE)
    with pytest.raises(SuiteError, match="matrix.backend\\[0\\]: 'numpy-mlp' is not one of: torch, tensorflow$"):
        api.plan_suite(path)


def test_a_backend_registered_from_the_test_tree_runs_a_plan(numpy_backend: registry.BackendInfo,
                                                             tmp_path: Path, mnist_dir: Path) -> None:
    # mnist_dir: the workers read the real MNIST copy through GREENBENCH_DATA_DIR; without one the test skips
    # (by capability, like every test that trains) instead of failing on a download that cannot work here
    from greenbench.results import load_results

    path = tmp_path / "s.yaml"
    path.write_text(SUITE)
    suite, runs = api.plan_suite(path)
    assert [(r.backend, r.compression) for r in runs] == [("numpy-mlp", "none"), ("numpy-mlp", "float16")]
    outcome = api.run_suite(suite, runs, results_dir=tmp_path / "results")
    df = load_results(tmp_path / "results").set_index("compression")
    assert outcome.counts == {"completed": 2}, df[["status", "reason"]].to_dict("index")
    assert set(df["backend"]) == {"numpy-mlp"}
    assert (df["test_accuracy"] > 0.5).all(), df["test_accuracy"]  # chance is 0.1
    assert df.loc["float16", "size_bytes"] * 2 == df.loc["none", "size_bytes"]
    assert df.loc["none", "epochs_run"] == 3
