"""What both backends do identically, written once: the framework-neutral half of a backend.

A backend is :class:`BackendBase` plus its framework's primitives (device checks, threads and
determinism, building the model, the optimizer step, a forward pass on one batch, weights in and
out, device synchronization, the compression primitives). Everything else lives here: the skip
checks, ``setup``'s order, the training and fine-tuning loops (through
:func:`greenbench.workloads.training.run_epochs`), prediction in chunks, evaluation, and the
compression dispatch over the backend's table ``{method: compressor}``. Model wrappers share
:class:`ChunkedModel` (chunked predict) and compressed ones :class:`CompressedBase` (size, parameter
statistics, details).

Numpy only: this module imports no framework (the parent process may import it).
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from greenbench.backends.base import CompressedModel, EpochStats, Evaluation, Hooks, TrainData, Unsupported
from greenbench.choices import NO_COMPRESSION, PRUNE, compression_family
from greenbench.workloads.compression import gzip_size
from greenbench.workloads.metrics import classification_metrics
from greenbench.workloads.specs import ArchitectureError, weight_specs
from greenbench.workloads.training import LoopConfig, Stepper, predict_in_batches, run_epochs

# PRUNE (from greenbench.choices): the key of the pruning family (``prune-<N>``) in a backend's
# compression table.

#: A compression method of one backend: ``(backend, method, data) -> compressed model``; it never
#: modifies ``backend.model`` (later variants start from it too).
Compressor = Callable[[Any, str, TrainData], CompressedModel]


def available_cores() -> int:
    """Cores this process may run on (CPU affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


class BackendBase:
    """The shared implementation of :class:`greenbench.backends.base.Backend`.

    After :meth:`build`: ``self.model`` (the framework's model), ``self.spec`` (the ``RunSpec``),
    ``self.device`` (the framework's device), ``self.optimizer``. A subclass provides the
    primitives below marked *framework*.
    """

    name: ClassVar[str]
    #: Module holding ``COMPRESSORS``, the backend's table ``{method: Compressor}`` (``prune`` for
    #: every ``prune-<N>``); imported on the first compression only.
    compress_module: ClassVar[str]

    def __init__(self) -> None:
        self.spec: Any = None
        self.model: Any = None
        self.optimizer: Any = None

    # ------------------------------------------------------------------ framework primitives
    def device_unavailable(self, device: str) -> str | None:  # pragma: no cover - abstract
        """*Framework*: why ``device`` cannot be used here, or ``None`` when it can."""
        raise NotImplementedError

    def _device(self, device: str) -> Any:  # pragma: no cover - abstract
        """*Framework*: the value ``self.device`` holds for the run's ``device``."""
        raise NotImplementedError

    def _set_threads(self, intra: int) -> None:  # pragma: no cover - abstract
        """*Framework*: set the intra-op pool to ``intra`` and the inter-op pool to parity's value."""
        raise NotImplementedError

    def _configure(self, spec: Any) -> None:
        """*Framework*: the rest of :meth:`setup` (determinism, float precision, device memory)."""

    def _train_stepper(self, data: TrainData) -> Stepper:  # pragma: no cover - abstract
        """*Framework*: steps of the built model with the run's optimizer."""
        raise NotImplementedError

    def _finetune_stepper(self, data: TrainData, model: Any) -> Stepper:  # pragma: no cover - abstract
        """*Framework*: steps of ``model`` with a fresh optimizer of the run's configuration."""
        raise NotImplementedError

    def wrap(self, model: Any = None, method: str = "none") -> CompressedModel:  # pragma: no cover - abstract
        """*Framework*: ``model`` (default: the trained model) behind the ``CompressedModel`` protocol."""
        raise NotImplementedError

    # ------------------------------------------------------------------ environment
    def skip(self, spec: Any) -> str | None:
        reason = self.device_unavailable(spec.device)
        if reason:
            return reason
        try:
            weight_specs(spec.model, spec.arch)
        except ArchitectureError as exc:
            return f"unsupported: {exc}"
        return None

    def setup(self, spec: Any) -> None:
        reason = self.device_unavailable(spec.device)
        if reason:
            raise Unsupported(reason)
        self.spec = spec
        self.device = self._device(spec.device)
        self._set_threads(spec.training.threads or available_cores())
        self._configure(spec)

    def _built(self) -> Any:
        assert self.model is not None, "build() first"
        return self.model

    # ------------------------------------------------------------------ training
    def _loop(
        self,
        stepper: Stepper,
        data: TrainData,
        cfg: LoopConfig,
        hooks: Hooks | None,
        after_step: Callable[[], None] | None,
    ) -> list[EpochStats]:
        history = run_epochs(
            stepper,
            cfg,
            x_train=data.x_train,
            y_train=data.y_train,
            x_val=data.x_val,
            y_val=data.y_val,
            epoch_order=data.epoch_order,
            augment=data.augment,
            on_epoch_begin=hooks.on_epoch_begin if hooks else None,
            on_epoch_end=(lambda d: bool(hooks.on_epoch_end(EpochStats(**d)))) if hooks else None,
            after_step=after_step,
            eval_batch_size=self.spec.training.eval_batch_size,
        )
        return [EpochStats(**d) for d in history]

    def train(self, data: TrainData, hooks: Hooks) -> list[EpochStats]:
        stepper = self._train_stepper(data)
        t = self.spec.training
        cfg = LoopConfig(
            epochs=t.epochs, batch_size=t.batch_size, base_lr=t.learning_rate, schedule=t.schedule, seed=self.spec.seed
        )
        return self._loop(stepper, data, cfg, hooks, None)

    def finetune(
        self,
        data: TrainData,
        epochs: int,
        after_step: Callable[[], None],
        model: Any = None,
    ) -> list[EpochStats]:
        """Train ``model`` (default: ``self.model``) ``epochs`` more epochs, calling ``after_step`` after every step.

        A fresh optimizer of the run's configuration at its base learning rate, constant; the
        epochs continue the run's epoch numbering (their data order follows the training's).
        """
        model = self.model if model is None else model
        assert model is not None, "build() first"
        stepper = self._finetune_stepper(data, model)
        t = self.spec.training
        cfg = LoopConfig(
            epochs=epochs,
            batch_size=t.batch_size,
            base_lr=t.learning_rate,
            schedule="constant",
            seed=self.spec.seed,
            first_epoch=t.epochs,
        )
        return self._loop(stepper, data, cfg, None, after_step)

    # ------------------------------------------------------------------ evaluation
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Eval-mode logits of the current model."""
        return self.wrap().predict(x)

    def evaluate(self, model: CompressedModel, x: np.ndarray, y: np.ndarray) -> Evaluation:
        return Evaluation(**classification_metrics(model.predict(x), y))

    def compressors(self) -> Mapping[str, Compressor]:
        """This backend's table ``{method: Compressor}`` (imports its compression module)."""
        return importlib.import_module(self.compress_module).COMPRESSORS

    def compress(self, method: str, data: TrainData) -> CompressedModel:
        if method == NO_COMPRESSION:
            return self.wrap()
        compressor = self.compressors().get(compression_family(method))
        if compressor is None:
            raise ValueError(f"unknown compression method {method!r}")
        return compressor(self, method, data)


# --------------------------------------------------------------------------- model wrappers
class ChunkedModel:
    """A model wrapper whose :meth:`predict` runs ``_predict_batch`` over chunks of ``batch_size`` images."""

    method: str
    batch_size: int

    def _predict_batch(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Logits (n, 10) as float32 numpy for one chunk of float32 images."""
        raise NotImplementedError

    def _chunk_size(self) -> int:
        return self.batch_size

    def predict(self, x: np.ndarray) -> np.ndarray:
        return predict_in_batches(self._predict_batch, np.ascontiguousarray(x, dtype=np.float32), self._chunk_size())


class CompressedBase(ChunkedModel):
    """A compressed model: size of its saved form (and gzipped), parameter statistics and ``details()``.

    A subclass provides ``size_format``, ``_serialize`` (the saved bytes), ``weight_stats`` and
    ``_inference_device``; ``_runtime_details`` adds its own entries to :meth:`details`.
    """

    size_format: ClassVar[str]

    def __init__(self, method: str, *, batch_size: int, details: dict[str, Any] | None = None) -> None:
        self.method = method
        self.batch_size = max(1, int(batch_size))
        self._details = dict(details or {})
        self._blob: bytes | None = None

    def _serialize(self) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def weight_stats(self) -> tuple[int, int, int, int]:  # pragma: no cover - abstract
        """(non-zero weights, total weights, int8 kernel elements, kernel elements)."""
        raise NotImplementedError

    def _inference_device(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _runtime_details(self) -> dict[str, Any]:
        return {}

    def _saved(self) -> bytes:
        if self._blob is None:
            self._blob = self._serialize()
        return self._blob

    def size_bytes(self) -> int:
        """Bytes of the saved model (dense: pruned zeros are stored like any value)."""
        return len(self._saved())

    def parameter_stats(self) -> tuple[int, int]:
        nz, total, _, _ = self.weight_stats()
        return nz, total

    def compressed_size_bytes(self) -> int:
        """gzip size of the saved bytes: what the zeros of a pruned model save on disk."""
        return gzip_size(self._saved())

    def details(self) -> dict[str, Any]:
        _, _, q, kernels = self.weight_stats()
        return {
            **self._details,
            "size_format": self.size_format,
            "compressed_size_bytes": self.compressed_size_bytes(),
            "quantized_weight_fraction": q / kernels if kernels else 0.0,
            "inference_device": self._inference_device(),
            **self._runtime_details(),
        }


__all__ = [
    "PRUNE",
    "BackendBase",
    "ChunkedModel",
    "CompressedBase",
    "Compressor",
    "available_cores",
]
