"""Constants and helpers shared by the compression contract tests (a uniquely named module: every test
folder has a ``conftest``, so ``from conftest import`` would pick whichever was imported first)."""

from __future__ import annotations

from typing import Any

from greenbench.backends.base import TrainData
from greenbench.suite import expand, parse_suite

MODELS = ("mlp", "cnn", "rnn", "transformer")
# Small architectures: the tests check compression, not model quality, and share 2 cores.
SMALL_MODELS = {
    "mlp": {"hidden": [64]},
    "cnn": {"channels": [8, 16], "dense": 32},
    "rnn": {"hidden": 32},
    "transformer": {"dim": 32, "heads": 4, "depth": 1, "mlp_dim": 64},
}
N_TRAIN, N_TEST = 2000, 1000


def make_spec(backend: str, model: str, *, compression: str = "none", small: bool = True, **training: Any) -> Any:
    suite = {
        "name": "compression-contract",
        "matrix": {"backend": [backend], "model": [model], "compression": [compression]},
        "training": {"threads": 2, "eval_batch_size": 500, **training},
        "runner": {"inference_batch": 500},
    }
    if small:
        suite["models"] = {model: SMALL_MODELS[model]}
    return expand(parse_suite(suite))[0]


def accuracy(model: Any, data: TrainData) -> float:
    return float((model.predict(data.x_test).argmax(axis=1) == data.y_test).mean())
