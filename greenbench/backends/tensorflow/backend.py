"""The TensorFlow backend (Keras 3 models): a compiled ``tf.function`` train step over in-memory tensors.

Imported only by a worker process (or a test) that runs TensorFlow workloads. See
:mod:`greenbench.backends.base` for the contract and :mod:`greenbench.workloads` for
everything the two backends share.

Why a custom ``tf.function`` step rather than ``model.fit``: the learning rate of every step
comes from the shared numpy schedule, the batches from the shared per-epoch permutation and
the augmentation from shared numpy code, all of which ``fit`` would do its own way; and the
custom step was measured at least as fast as ``fit`` on this workload (see the benchmark notes).
``loop: idiomatic`` is ``fit``: what a Keras user writes, measured beside it.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable, ClassVar

import numpy as np

from greenbench.backends.base import EpochStats, Hooks, TrainData, Unsupported
from greenbench.backends.common import BackendBase, ChunkedModel, available_cores
from greenbench.backends.tensorflow.env import keras
from greenbench.workloads import parity
from greenbench.workloads.specs import IMAGE_SIZE, ArchitectureError

K = keras()
import tensorflow as tf  # noqa: E402  (after Keras is pinned to the TensorFlow backend)

from greenbench.backends.tensorflow.models import (  # noqa: E402
    build_model,
    export_canonical,
    load_canonical,
    regularized_variables,
)

DEVICES = ("cpu", "cuda")
_IMAGES = tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE], tf.float32)
_INDEX = tf.TensorSpec([None], tf.int64)
_LABELS = tf.TensorSpec([None], tf.int64)
_SCALAR = tf.TensorSpec([], tf.float32)


def _device_reason(device: str) -> str | None:
    if device == "cpu":
        return None
    if device == "cuda":
        if not tf.test.is_built_with_cuda():
            return f"unavailable: this TensorFlow build ({tf.__version__}) has no CUDA support (tensorflow-cpu?)"
        if not tf.config.list_physical_devices("GPU"):
            return "unavailable: TensorFlow sees no GPU (no device, no driver, or CUDA_VISIBLE_DEVICES hides it)"
        return None
    if device == "mps":
        return "unavailable: TensorFlow has no MPS backend (Apple GPUs need the separate tensorflow-metal plugin)"
    return f"unavailable: unknown device {device!r}; TensorFlow supports {', '.join(DEVICES)}"


def _tf_device(device: str) -> str:
    return "/GPU:0" if device == "cuda" else "/CPU:0"


def make_optimizer(name: str, config: dict[str, Any]) -> Any:
    """The Keras 3 optimizer of ``name`` with every hyperparameter explicit (see parity)."""
    lr = float(config["learning_rate"])
    common = dict(weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False)
    if name == "sgd":
        return K.optimizers.SGD(learning_rate=lr, momentum=float(config["momentum"]), nesterov=bool(config["nesterov"]), **common)
    if name == "adam":
        return K.optimizers.Adam(
            learning_rate=lr,
            beta_1=float(config["beta1"]),
            beta_2=float(config["beta2"]),
            epsilon=float(config["epsilon"]),
            amsgrad=parity.ADAM_AMSGRAD,
            **common,
        )
    if name == "rmsprop":
        return K.optimizers.RMSprop(
            learning_rate=lr,
            rho=float(config["rho"]),
            momentum=float(config["momentum"]),
            epsilon=float(config["epsilon"]),
            centered=parity.RMSPROP_CENTERED,
            **common,
        )
    raise ValueError(f"unknown optimizer {name!r}; use sgd, adam or rmsprop")


class KerasModel(ChunkedModel):
    """A trained (uncompressed) Keras model behind the :class:`~greenbench.backends.base.CompressedModel` protocol."""

    def __init__(
        self,
        model: Any,
        device: str = "cpu",
        method: str = "none",
        batch_size: int = 1000,
        uncompiled: Callable[[], Any] | None = None,
    ):
        self.model = model
        self.device = device
        self.method = method
        self.batch_size = batch_size
        self._uncompiled = uncompiled  # builds a fresh model of the same architecture (for size_bytes)
        self._forward = tf.function(lambda x: model(x, training=False), input_signature=[_IMAGES], jit_compile=parity.TF_JIT_COMPILE)

    def _predict_batch(self, x: np.ndarray) -> np.ndarray:
        with tf.device(_tf_device(self.device)):
            return self._forward(tf.convert_to_tensor(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    def size_bytes(self) -> int:
        model = self.model
        if getattr(model, "optimizer", None) is not None and self._uncompiled is not None:
            # Compiled by the idiomatic loop: `save` would add the optimizer's state (Adam: twice the
            # weights). The size is the model's, as for a parity-trained model: an uncompiled copy
            # (not clone_model, which compiles its clone like the original).
            model = self._uncompiled()
            model.set_weights(self.model.get_weights())
        with tempfile.TemporaryDirectory(prefix="greenbench-") as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            return os.path.getsize(path)

    def parameter_stats(self) -> tuple[int, int]:
        nonzero = total = 0
        for v in self.model.trainable_weights:
            a = np.asarray(v.numpy())
            nonzero += int(np.count_nonzero(a))
            total += a.size
        return nonzero, total


class _Trainer:
    """Compiled train steps for one (model, optimizer) pair."""

    def __init__(self, backend: "TensorFlowBackend", model: Any, optimizer: Any):
        self.model = model
        self.optimizer = optimizer
        spec = backend.spec
        self.l1 = float(spec.training.l1)
        self.l2 = float(spec.training.l2)
        self.reg = regularized_variables(model, spec.model, spec.arch) if (self.l1 or self.l2) else []
        self.variables = list(model.trainable_variables)
        optimizer.build(self.variables)  # slot variables created eagerly, outside the traced step
        self.train_xy = tf.function(self._train, input_signature=[_IMAGES, _LABELS, _SCALAR], jit_compile=parity.TF_JIT_COMPILE)

    def _train(self, x: Any, y: Any, lr: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            logits = self.model(x, training=True)
            loss = K.ops.mean(K.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
            if self.l1:
                loss = loss + self.l1 * tf.add_n([tf.reduce_sum(tf.abs(v)) for v in self.reg])
            if self.l2:
                loss = loss + self.l2 * tf.add_n([tf.reduce_sum(tf.square(v)) for v in self.reg])
        grads = tape.gradient(loss, self.variables)
        self.optimizer.learning_rate.assign(lr)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return loss, logits


class _HooksCallback(K.callbacks.Callback):
    """Keras callback that fires the runner's hooks around every epoch of ``fit`` and keeps the history.

    ``on_epoch_end`` runs after ``fit``'s validation, as in the parity loop; a hook returning True
    sets ``model.stop_training`` (``fit`` stops after this epoch)."""

    def __init__(self, hooks: Hooks, learning_rate: float) -> None:
        super().__init__()
        self.hooks = hooks
        self.learning_rate = learning_rate
        self.history: list[EpochStats] = []

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.hooks.on_epoch_begin(epoch + 1)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}

        def value(key: str) -> float | None:
            return float(logs[key]) if logs.get(key) is not None else None

        stats = EpochStats(
            epoch=epoch + 1,
            train_loss=float(logs["loss"]),
            train_accuracy=float(logs["accuracy"]),
            val_accuracy=value("val_accuracy"),
            val_loss=value("val_loss"),
            learning_rate=self.learning_rate,
        )
        self.history.append(stats)
        if self.hooks.on_epoch_end(stats):
            self.model.stop_training = True


class _Stepper:
    """Optimizer steps for :func:`greenbench.workloads.training.run_epochs`."""

    def __init__(self, trainer: _Trainer, data: TrainData, device: str):
        self.trainer = trainer
        self.device = _tf_device(device)
        with tf.device(self.device):
            self.x = tf.constant(np.ascontiguousarray(data.x_train, dtype=np.float32))
            self.y = tf.constant(np.asarray(data.y_train, dtype=np.int64))
            self.loss_sum = tf.Variable(0.0, dtype=tf.float64, trainable=False)
            self.correct = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.step_index = tf.function(self._step_index, input_signature=[_INDEX, _SCALAR], jit_compile=parity.TF_JIT_COMPILE)
        self.step_batch = tf.function(self._step_batch, input_signature=[_IMAGES, _INDEX, _SCALAR], jit_compile=parity.TF_JIT_COMPILE)
        self.forward = tf.function(lambda x: trainer.model(x, training=False), input_signature=[_IMAGES])

    def _accumulate(self, loss: Any, logits: Any, y: Any) -> None:
        n = tf.cast(tf.shape(y)[0], tf.float64)
        self.loss_sum.assign_add(tf.cast(loss, tf.float64) * n)
        pred = tf.argmax(logits, axis=1, output_type=tf.int64)
        self.correct.assign_add(tf.reduce_sum(tf.cast(tf.equal(pred, y), tf.int64)))

    def _step_index(self, index: Any, lr: Any) -> None:
        y = tf.gather(self.y, index)
        loss, logits = self.trainer._train(tf.gather(self.x, index), y, lr)
        self._accumulate(loss, logits, y)

    def _step_batch(self, x: Any, index: Any, lr: Any) -> None:
        y = tf.gather(self.y, index)
        loss, logits = self.trainer._train(x, y, lr)
        self._accumulate(loss, logits, y)

    def begin_epoch(self) -> None:
        self.loss_sum.assign(0.0)
        self.correct.assign(0)

    def step(self, index: np.ndarray, x_batch: np.ndarray | None, lr: float) -> None:
        with tf.device(self.device):
            lr_t = tf.constant(lr, dtype=tf.float32)
            if x_batch is None:
                self.step_index(index, lr_t)
            else:
                self.step_batch(x_batch, index, lr_t)

    def end_epoch(self) -> tuple[float, float]:
        return float(self.loss_sum.numpy()), float(self.correct.numpy())

    def logits(self, x: np.ndarray) -> np.ndarray:
        with tf.device(self.device):
            return self.forward(np.ascontiguousarray(x, dtype=np.float32)).numpy()


class TensorFlowBackend(BackendBase):
    """TensorFlow/Keras 3 implementation of :class:`greenbench.backends.base.Backend` (the shared part: :class:`BackendBase`).

    After :meth:`build`: ``self.model`` (the ``keras.Model``), ``self.spec`` (the ``RunSpec``),
    ``self.device`` (``"cpu"`` or ``"cuda"``), ``self.optimizer`` (the Keras optimizer).
    """

    name: ClassVar[str] = "tensorflow"
    compress_module: ClassVar[str] = "greenbench.backends.tensorflow.compress"
    models_module: ClassVar[str | None] = "greenbench.backends.tensorflow.models"

    def __init__(self) -> None:
        super().__init__()
        self.device = "cpu"
        self._trainer: _Trainer | None = None
        self._wrapped: KerasModel | None = None  # one traced forward per trained model

    # ------------------------------------------------------------------ environment
    def device_unavailable(self, device: str) -> str | None:
        return _device_reason(device)

    def _device(self, device: str) -> str:
        return device

    def _configure(self, spec: Any) -> None:
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                # Otherwise TensorFlow reserves (nearly) all GPU memory at start-up.
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:
                pass  # already initialized by an earlier workload in this process; set then
        if parity.DISABLE_TF32:
            tf.config.experimental.enable_tensor_float_32_execution(False)  # CUDA: full float32 matmul/conv
        if parity.DETERMINISTIC:
            tf.config.experimental.enable_op_determinism()
        K.backend.set_floatx(parity.DTYPE)

    def _set_threads(self, intra: int) -> None:
        # Both can only be set before TensorFlow's runtime starts; later calls (a second workload in
        # the same worker) raise RuntimeError and the values set first stay: threads() reports them.
        for setter, getter, value in (
            (tf.config.threading.set_intra_op_parallelism_threads, tf.config.threading.get_intra_op_parallelism_threads, intra),
            (tf.config.threading.set_inter_op_parallelism_threads, tf.config.threading.get_inter_op_parallelism_threads, parity.INTER_OP_THREADS),
        ):
            if getter() != value:
                try:
                    setter(value)
                except RuntimeError:
                    pass

    def threads(self) -> dict[str, int]:
        """The thread pools TensorFlow was configured with (0 would mean TF's own default: all cores)."""
        return {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads() or available_cores(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads() or available_cores(),
        }

    # ------------------------------------------------------------------ model
    def build(self, spec: Any, weights: dict[str, np.ndarray]) -> None:
        self.setup(spec)  # idempotent; the runner calls it first too
        K.utils.set_random_seed(spec.seed)  # dropout masks (Python, numpy and TensorFlow seeds)
        with tf.device(_tf_device(spec.device)):
            try:
                model = build_model(spec.model, spec.arch)
            except ArchitectureError as exc:
                raise Unsupported(f"unsupported: {exc}") from None
            load_canonical(model, spec.model, spec.arch, weights)
            self.model = model
            self._wrapped = None
            self.optimizer = make_optimizer(spec.optimizer, spec.optimizer_config)
            self._trainer = _Trainer(self, model, self.optimizer)

    def param_count(self) -> int:
        return int(sum(int(np.prod(v.shape)) for v in self._built().trainable_weights))

    def canonical_weights(self) -> dict[str, np.ndarray]:
        """The current weights in the canonical (framework-neutral) layout."""
        return export_canonical(self._built(), self.spec.model, self.spec.arch)

    def load_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Overwrite the model's weights with canonical ``weights`` (optimizer state is kept)."""
        load_canonical(self._built(), self.spec.model, self.spec.arch, weights)

    # ------------------------------------------------------------------ training
    def train_batch(self, x: np.ndarray, y: np.ndarray, lr: float | None = None) -> float:
        """One optimizer step on (x, y) in training mode; returns the batch objective before the step."""
        assert self._trainer is not None, "build() first"
        lr = self.spec.training.learning_rate if lr is None else lr
        with tf.device(_tf_device(self.device)):
            loss, _ = self._trainer.train_xy(
                np.ascontiguousarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64), tf.constant(lr, tf.float32)
            )
        return float(loss.numpy())

    def _train_stepper(self, data: TrainData) -> _Stepper:
        assert self._trainer is not None, "build() first"
        return _Stepper(self._trainer, data, self.device)

    def _finetune_stepper(self, data: TrainData, model: Any) -> _Stepper:
        with tf.device(_tf_device(self.device)):
            trainer = _Trainer(self, model, make_optimizer(self.spec.optimizer, self.spec.optimizer_config))
        return _Stepper(trainer, data, self.device)

    def _train_idiomatic(self, data: TrainData, hooks: Hooks) -> list[EpochStats]:
        """Keras as its users write it: ``compile`` (a fresh optimizer with the run's hyperparameters,
        sparse cross-entropy from logits, accuracy) + ``fit`` with its own shuffling and batching and
        its defaults (``jit_compile="auto"``: no XLA on a CPU-only machine or with op determinism on,
        ``steps_per_execution=1``), validating on the validation set at the training batch size."""
        model = self._built()
        t = self.spec.training
        callback = _HooksCallback(hooks, float(t.learning_rate))
        has_val = data.x_val is not None and data.y_val is not None and len(data.y_val) > 0
        with tf.device(_tf_device(self.device)):
            self.optimizer = make_optimizer(self.spec.optimizer, self.spec.optimizer_config)
            model.compile(
                optimizer=self.optimizer,
                loss=K.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
            )
            model.fit(
                np.ascontiguousarray(data.x_train, dtype=np.float32),
                np.asarray(data.y_train, dtype=np.int64),
                batch_size=t.batch_size,
                epochs=t.epochs,
                shuffle=True,
                validation_data=(np.ascontiguousarray(data.x_val, dtype=np.float32), np.asarray(data.y_val, dtype=np.int64))
                if has_val
                else None,
                callbacks=[callback],
                verbose=0,
            )
        self._wrapped = None
        return callback.history

    # ------------------------------------------------------------------ evaluation
    def wrap(self, model: Any = None, method: str = "none") -> KerasModel:
        """``model`` (default: the trained model) as a :class:`KerasModel`."""
        if model is None or model is self.model:
            assert self.model is not None, "build() first"
            if self._wrapped is None or self._wrapped.method != method:
                self._wrapped = KerasModel(
                    self.model, self.device, method, self.spec.training.eval_batch_size, uncompiled=self._fresh_model
                )
            return self._wrapped
        return KerasModel(
            model, self.device, method=method, batch_size=self.spec.training.eval_batch_size, uncompiled=self._fresh_model
        )

    def _fresh_model(self) -> Any:
        """A new, uncompiled model of the run's architecture (its weights still to be set)."""
        with tf.device(_tf_device(self.device)):
            return build_model(self.spec.model, self.spec.arch)

    # ------------------------------------------------------------------ device
    def synchronize(self) -> None:
        if self.device == "cuda":
            tf.experimental.sync_devices()

    def peak_device_memory(self) -> int | None:
        if self.device != "cuda":
            return None
        peak = int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
        tf.config.experimental.reset_memory_stats("GPU:0")
        return peak

    def versions(self) -> dict[str, str]:
        return {"tensorflow": tf.__version__, "keras": K.__version__}
