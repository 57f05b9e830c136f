"""What both backends do identically, written once: the framework-neutral half of a backend.

A backend is :class:`BackendBase` plus its framework's primitives (device checks, threads and
determinism, building the model, the optimizer step, a forward pass on one batch, weights in and
out, device synchronization, the compression primitives). Everything else lives here: the skip
checks, ``setup``'s order, the training and fine-tuning loops (through
:func:`greenbench.workloads.training.run_epochs`), the choice between that shared-schedule loop and
the framework's idiomatic one (``loop: idiomatic``: Keras ``compile`` + ``fit``, a torch
``DataLoader`` loop) and what the idiomatic one refuses, prediction in chunks, evaluation, and the
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
from greenbench.choices import NO_COMPRESSION, PRUNE, THREADS_DEFAULT, compression_family, parse_prune
from greenbench.workloads.compression import gzip_size
from greenbench.workloads.metrics import classification_metrics
from greenbench.workloads.specs import ArchitectureError, weight_specs
from greenbench.workloads.training import LoopConfig, Stepper, predict_in_batches, run_epochs

# PRUNE (from greenbench.choices): the key of the pruning family (``prune-<N>``) in a backend's
# compression table.

#: A compression method of one backend: ``(backend, method, data) -> compressed model``; it never
#: modifies ``backend.model`` (later variants start from it too).
Compressor = Callable[[Any, str, TrainData], CompressedModel]


#: The loop styles: ``parity`` is greenbench's shared-schedule loop (:func:`run_epochs`: the same
#: per-epoch permutation, batch boundaries and learning rate of every step in both frameworks);
#: ``idiomatic`` is what a user of the framework writes (Keras ``compile`` + ``fit`` with its own
#: shuffling and batching; torch a ``DataLoader(shuffle=True)`` loop with a stock ``torch.optim``
#: optimizer), from the same initial weights and data with the same hyperparameters.
PARITY_LOOP = "parity"
IDIOMATIC_LOOP = "idiomatic"
LOOPS: tuple[str, ...] = (PARITY_LOOP, IDIOMATIC_LOOP)


def loop_style(spec: Any) -> str:
    """The run's loop style (``parity`` for a spec from before the loop axis)."""
    return getattr(spec, "loop", None) or PARITY_LOOP


def idiomatic_unsupported(spec: Any, compression: str | None = None) -> str | None:
    """Why the idiomatic loop cannot run ``spec`` (with ``compression``, default the spec's) as
    configured, or ``None`` when it can.

    The idiomatic loop is what a user writes with no extra code: a constant learning rate, the
    plain images, the loss alone and no pruning fine-tune. A run asking for more is skipped with
    this reason rather than silently trained without it.
    """
    t = spec.training
    missing = []
    if t.schedule != "constant":
        missing.append(f"a {t.schedule!r} learning-rate schedule (it trains at a constant rate)")
    if t.l1 or t.l2:
        missing.append("L1/L2 penalties in the loss (it minimizes the cross-entropy alone)")
    if t.augmentation != "none":
        missing.append(f"augmentation {t.augmentation!r} (it trains on the plain images)")
    compression = spec.compression if compression is None else compression
    try:
        pruned = parse_prune(compression) is not None
    except ValueError:
        pruned = False
    if pruned:
        missing.append(f"{compression}'s pruning fine-tune (a parity loop)")
    if not missing:
        return None
    return (
        "unsupported: the idiomatic loop (Keras compile + fit, a torch DataLoader loop) does not cover "
        + "; ".join(missing)
        + " - use loop: parity"
    )


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
    #: Module holding ``builder(model)``, the look-up of the backend's builders (its ``BUILDERS``
    #: table, keyed by model name): a model it has no builder of is skipped as unsupported.
    #: ``None``: the backend builds every model it does not skip itself.
    models_module: ClassVar[str | None] = None

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

    def _train_idiomatic(self, data: TrainData, hooks: Hooks) -> list[EpochStats]:  # pragma: no cover - abstract
        """*Framework*: train the built model the way the framework's users do (see :data:`IDIOMATIC_LOOP`).

        Same initial weights (``build``'s), same training and validation arrays, epochs, batch size
        and optimizer hyperparameters; the framework's own shuffling and batching. Calls
        ``hooks.on_epoch_begin(n)`` / ``hooks.on_epoch_end(stats)`` around every epoch (the latter
        after validation; True stops training) and returns one :class:`EpochStats` per epoch run.
        """
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
            if self.models_module is not None:
                importlib.import_module(self.models_module).builder(spec.model)
        except ArchitectureError as exc:
            return f"unsupported: {exc}"
        if loop_style(spec) == IDIOMATIC_LOOP:
            reason = idiomatic_unsupported(spec)
            if reason:
                return reason
        return None

    def setup(self, spec: Any) -> None:
        reason = self.device_unavailable(spec.device)
        if reason:
            raise Unsupported(reason)
        self.spec = spec
        self.device = self._device(spec.device)
        if getattr(spec, "threads", None) != THREADS_DEFAULT:  # default: the framework sizes its pools itself
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
        """Train with the run's loop style: the shared-schedule loop, or :meth:`train_idiomatic`."""
        if loop_style(self.spec) == IDIOMATIC_LOOP:
            return self.train_idiomatic(data, hooks)
        stepper = self._train_stepper(data)
        t = self.spec.training
        cfg = LoopConfig(
            epochs=t.epochs, batch_size=t.batch_size, base_lr=t.learning_rate, schedule=t.schedule, seed=self.spec.seed
        )
        return self._loop(stepper, data, cfg, hooks, None)

    def train_idiomatic(self, data: TrainData, hooks: Hooks | None = None) -> list[EpochStats]:
        """Train the built model with the framework's idiomatic loop (whatever the run's loop style).

        Raises :class:`Unsupported` for a setting that loop does not cover (:func:`idiomatic_unsupported`).
        """
        self._built()
        reason = idiomatic_unsupported(self.spec)
        if reason:
            raise Unsupported(reason)
        return self._train_idiomatic(data, hooks or Hooks())

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
        if loop_style(self.spec) == IDIOMATIC_LOOP and compression_family(method) == PRUNE:
            # The fine-tune is a parity loop: an idiomatically trained model would be half one, half the other.
            raise Unsupported(idiomatic_unsupported(self.spec, method))
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
    "IDIOMATIC_LOOP",
    "LOOPS",
    "PARITY_LOOP",
    "PRUNE",
    "BackendBase",
    "ChunkedModel",
    "CompressedBase",
    "Compressor",
    "available_cores",
    "idiomatic_unsupported",
    "loop_style",
]
