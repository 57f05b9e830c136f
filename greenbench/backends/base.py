"""The Backend contract: the only place a deep-learning framework appears.

A backend lives in ``greenbench/backends/<name>/`` and imports its framework lazily
(inside methods or in modules imported only by the worker process). What both backends do
identically lives once in :class:`greenbench.backends.common.BackendBase`, which each
subclasses; a backend's folder holds only its framework's primitives. The runner, not
the backend, opens measured phase windows and calls :meth:`Backend.synchronize` at
every boundary so timings are honest.

Data crossing this boundary is plain numpy / Python, never framework tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ClassVar, Protocol

import numpy as np

# The registry (one entry per backend: its class, package, extra, versions, colour) lives in a
# standard-library-only leaf that the schema and the parent process read; re-exported here.
from greenbench.backend_registry import BackendInfo, backend_info, framework_installed, register_backend

if TYPE_CHECKING:  # pragma: no cover
    from greenbench.suite.plan import RunSpec


@dataclass
class EpochStats:
    epoch: int  # 1-based
    train_loss: float
    train_accuracy: float
    val_accuracy: float | None
    val_loss: float | None = None
    learning_rate: float | None = None


@dataclass
class Evaluation:
    loss: float
    accuracy: float
    per_class_accuracy: list[float]
    confusion: list[list[int]]  # rows: true label, columns: predicted label
    predictions: np.ndarray  # predicted class per test image, int64, shape (N,)


@dataclass
class TrainData:
    """Preprocessed arrays handed to a backend. Images are float32 (N, 28, 28) in [0, 1]."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    # order[e] is the permutation of training indices used in epoch e (0-based), identical for both backends.
    epoch_order: Callable[[int], np.ndarray]
    # augment(x_batch, epoch, batch_index) -> augmented x_batch; identical for both backends (numpy).
    augment: Callable[[np.ndarray, int, int], np.ndarray] | None = None


class CompressedModel(Protocol):
    """A (possibly compressed) trained model, ready for evaluation and inference timing.

    Compressed variants also have an optional ``details() -> dict``: ``sparsity`` over the pruned
    weight matrices, ``target_sparsity``, ``compressed_size_bytes``, ``quantized_weight_fraction``,
    ``inference_device``, ``size_format``, ``runtime``; the runner records what it finds.
    """

    method: str

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits (N, 10) as numpy for float32 images (N, 28, 28); synchronous."""

    def size_bytes(self) -> int:
        """Serialized size in the framework's standard saved format."""

    def parameter_stats(self) -> tuple[int, int]:
        """(non-zero parameters, total parameters) over all weights."""


@dataclass
class Hooks:
    """Callbacks the runner passes to :meth:`Backend.train`."""

    on_epoch_begin: Callable[[int], None] = lambda epoch: None
    # Returns True to stop training early (target accuracy reached).
    on_epoch_end: Callable[[EpochStats], bool] = lambda stats: False


class Backend(Protocol):
    name: ClassVar[str]

    def device_unavailable(self, device: str) -> str | None:
        """Why ``device`` cannot be used here, or ``None`` when it can."""

    def skip(self, spec: "RunSpec") -> str | None:
        """Why this run cannot be executed by this backend, or ``None``."""

    def setup(self, spec: "RunSpec") -> None:
        """Threads, device, determinism; called once per workload before :meth:`build`."""

    def build(self, spec: "RunSpec", weights: dict[str, np.ndarray]) -> None:
        """Build the model of ``spec`` and load the framework-neutral initial ``weights``."""

    def param_count(self) -> int:
        """Trainable parameters of the built model."""

    def train(self, data: TrainData, hooks: Hooks) -> list[EpochStats]:
        """Train in place from the state set by :meth:`build`."""

    def evaluate(self, model: CompressedModel, x: np.ndarray, y: np.ndarray) -> Evaluation:
        """Evaluate ``model`` on (x, y)."""

    def compress(self, method: str, data: TrainData) -> CompressedModel:
        """Return the trained model compressed with ``method`` (``none`` returns the model itself).

        Raises :class:`Unsupported` when this backend cannot apply ``method`` to this model.
        Never modifies the trained model in place (later variants start from it too).
        """

    def synchronize(self) -> None:
        """Wait for the device to finish queued work."""

    def peak_device_memory(self) -> int | None:
        """Peak device memory in bytes since the last call (GPU), or ``None``."""

    def versions(self) -> dict[str, str]:
        """Framework name → version, for the record."""

    def threads(self) -> dict[str, int]:
        """The intra-op / inter-op thread counts in effect (set identically for both backends), for the record."""

    # Optional: ``warm_up() -> None`` pays one-time costs (lazy imports) at worker start-up, before any
    # measured window; the runner calls it where a backend has it.


class Unsupported(Exception):
    """Raised by a backend for a combination it cannot run; becomes a ``skipped`` record."""


def get_backend(name: str) -> Backend:
    """Import and instantiate backend ``name`` (this imports its framework)."""
    return backend_info(name).load()


__all__ = [
    "Backend",
    "CompressedModel",
    "EpochStats",
    "Evaluation",
    "Hooks",
    "TrainData",
    "Unsupported",
    "BackendInfo",
    "backend_info",
    "get_backend",
    "framework_installed",
    "register_backend",
]
