"""A backend from outside greenbench: a numpy-only MLP (ReLU hidden layers, plain SGD), registered
through the backend registry alone (``greenbench.backend_registry.register_backend``).

It proves that a backend is one folder (here, one module of the test tree) and one registry
entry: nothing else in greenbench names it. It subclasses :class:`BackendBase` and provides only
the primitives (build, a training step, a forward pass); it trains the MLP only, on the CPU only,
and its compression table has one method, ``float16``. A spawned worker learns of it through
``GREENBENCH_BACKENDS=numpy_mlp_backend``, which imports this module and registers ``BACKENDS``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from greenbench.backends.base import TrainData
from greenbench.backends.common import BackendBase, ChunkedModel
from greenbench.backend_registry import BackendInfo

NAME = "numpy-mlp"
INFO = BackendInfo(
    name=NAME,
    target=f"{__name__}:NumpyMLPBackend",
    package="numpy",
    versions={"numpy": ("numpy",)},
    color="#4d4d4d",
    marker="D",
)
BACKENDS = [INFO]


def _layers(weights: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """(kernel, bias) names in forward order: dense_0, dense_1, …, head."""
    hidden = sorted((k for k in weights if k.startswith("dense_") and k.endswith("/kernel")),
                    key=lambda k: int(k.split("/")[0].split("_")[1]))
    names = [k.rsplit("/", 1)[0] for k in hidden] + ["head"]
    return [(f"{n}/kernel", f"{n}/bias") for n in names]


def _forward(weights: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Logits and the input of every layer (for the backward pass)."""
    h = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    inputs = []
    layers = _layers(weights)
    for i, (k, b) in enumerate(layers):
        inputs.append(h)
        h = h @ weights[k].astype(np.float32) + weights[b].astype(np.float32)
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h, inputs


class NumpyModel(ChunkedModel):
    def __init__(self, weights: dict[str, np.ndarray], method: str, batch_size: int) -> None:
        self.weights = weights
        self.method = method
        self.batch_size = max(1, int(batch_size))

    def _predict_batch(self, x: np.ndarray) -> np.ndarray:
        return _forward(self.weights, x)[0].astype(np.float32)

    def size_bytes(self) -> int:
        return int(sum(w.nbytes for w in self.weights.values()))

    def parameter_stats(self) -> tuple[int, int]:
        return (int(sum(np.count_nonzero(w) for w in self.weights.values())),
                int(sum(w.size for w in self.weights.values())))


class _Stepper:
    """Softmax cross-entropy, plain SGD, on the backend's weights in place."""

    def __init__(self, weights: dict[str, np.ndarray], data: TrainData) -> None:
        self.w = weights
        self.x = data.x_train
        self.y = data.y_train
        self.loss = 0.0
        self.correct = 0

    def begin_epoch(self) -> None:
        self.loss, self.correct = 0.0, 0

    def step(self, index: np.ndarray, x_batch: np.ndarray | None, lr: float) -> None:
        x = self.x[index] if x_batch is None else x_batch
        y = self.y[index]
        logits, inputs = _forward(self.w, x)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        n = len(y)
        self.loss += float(-np.log(p[np.arange(n), y] + 1e-12).sum())
        self.correct += int((logits.argmax(axis=1) == y).sum())
        grad = p
        grad[np.arange(n), y] -= 1.0
        grad /= n
        layers = _layers(self.w)
        for i in range(len(layers) - 1, -1, -1):
            k, b = layers[i]
            gk, gb = inputs[i].T @ grad, grad.sum(axis=0)
            if i > 0:
                grad = (grad @ self.w[k].T) * (inputs[i] > 0)
            self.w[k] -= lr * gk
            self.w[b] -= lr * gb

    def end_epoch(self) -> tuple[float, float]:
        return self.loss, float(self.correct)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return _forward(self.w, x)[0]


def _float16(backend: "NumpyMLPBackend", method: str, data: TrainData) -> NumpyModel:
    return backend.wrap({k: v.astype(np.float16) for k, v in backend.model.items()}, method)


#: This backend's compression table (``BackendBase.compress`` dispatches over it).
COMPRESSORS = {"float16": _float16}


class NumpyMLPBackend(BackendBase):
    name = NAME
    compress_module = __name__

    def device_unavailable(self, device: str) -> str | None:
        return None if device == "cpu" else f"{NAME} runs on the CPU only"

    def skip(self, spec: Any) -> str | None:
        if spec.model != "mlp":
            return f"unsupported: {NAME} trains the mlp only"
        return super().skip(spec)

    def _device(self, device: str) -> Any:
        return device

    def _set_threads(self, intra: int) -> None:
        self._threads = intra

    def build(self, spec: Any, weights: dict[str, np.ndarray]) -> None:
        self.setup(spec)
        self.model = {k: np.array(v, dtype=np.float32) for k, v in weights.items()}

    def param_count(self) -> int:
        return int(sum(w.size for w in self._built().values()))

    def _train_stepper(self, data: TrainData) -> _Stepper:
        return _Stepper(self._built(), data)

    def wrap(self, model: Any = None, method: str = "none") -> NumpyModel:
        return NumpyModel(self._built() if model is None else model, method, self.spec.training.eval_batch_size)

    def synchronize(self) -> None:
        pass

    def peak_device_memory(self) -> int | None:
        return None

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def threads(self) -> dict[str, int]:
        return {"intra_op": getattr(self, "_threads", 1), "inter_op": 1}
