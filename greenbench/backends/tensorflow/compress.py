"""Compression of a trained Keras 3 (TensorFlow) model: pruning, int8 dynamic, float16, int8 static.

Entry point: :data:`COMPRESSORS`, the table ``TensorFlowBackend.compress`` dispatches on (one
function per method). The functions above them work on a plain ``keras.Model`` so they can be
used and tested without a backend.

* ``prune-<N>``: global unstructured magnitude pruning over the weight matrices, threshold
  from :mod:`greenbench.workloads.compression` (shared with the torch backend, so both prune
  the same weights), masks multiplied into the variables; optional fine-tuning with the mask
  re-applied after every optimizer step. Runs in Keras, on the run's device.
* ``int8-dynamic``: Keras 3 ``Model.quantize("int8")``: ``Dense`` and ``EinsumDense`` kernels
  to int8 (per output channel, symmetric), inputs quantized per row at run time. Runs in Keras.
* ``float16``: TFLite post-training float16 quantization of the exported SavedModel
  (weights stored as float16); runs in the TFLite/LiteRT interpreter on the CPU.
* ``int8-static``: TFLite full-integer post-training quantization calibrated on training
  samples (float32 input/output, int8 inside); LiteRT interpreter on the CPU.

``tensorflow-model-optimization`` does not support Keras 3 and is not used. TFLite models
are converted from a SavedModel (``model.export(..., format="tf_saved_model")``) because
``TFLiteConverter.from_keras_model`` does not work with Keras 3.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from greenbench.backends.base import TrainData, Unsupported
from greenbench.backends.common import PRUNE, CompressedBase, Compressor, available_cores
from greenbench.workloads.compression import (
    CALIBRATION_SAMPLES,
    calibration_indices,
    global_magnitude_threshold,
    parse_prune,
    prunable_names,
)

if TYPE_CHECKING:  # pragma: no cover
    from greenbench.backends.tensorflow.backend import TensorFlowBackend

_KERNEL_NAMES = ("kernel", "recurrent_kernel")


def _keras() -> Any:
    import keras

    return keras


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _prunable_layer_types() -> tuple[type, ...]:
    keras = _keras()
    L = keras.layers
    return (L.Dense, L.EinsumDense, L.Conv1D, L.Conv2D, L.Conv3D, L.LSTMCell, L.GRUCell, L.SimpleRNNCell,
            L.LSTM, L.GRU, L.SimpleRNN, L.MultiHeadAttention)


# --------------------------------------------------------------------------- helpers
def _keras_file_bytes(model: Any) -> bytes:
    """The model saved in Keras' native ``.keras`` format (a zip archive, stored uncompressed)."""
    with tempfile.TemporaryDirectory(prefix="greenbench-keras-") as d:
        path = os.path.join(d, "model.keras")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def keras_weight_stats(model: Any) -> tuple[int, int, int, int]:
    """(non-zero weights, total weights, int8 kernel elements, kernel elements) of a Keras model.

    Counts the model's variables except quantization scales (``*_scale``) and random-seed
    state; int8 kernels count by their integer values (zero exactly where the real value is
    zero: Keras' int8 weight quantization is symmetric).
    """
    nz = total = q = kernels = 0
    seen: set[int] = set()
    for v in model.weights:
        if id(v) in seen:
            continue
        seen.add(id(v))
        name = v.name
        if name.endswith("_scale") or "seed_generator" in v.path or "seed" == name:
            continue
        a = np.asarray(v.numpy())
        nz += int(np.count_nonzero(a))
        total += int(a.size)
        if name in _KERNEL_NAMES:
            kernels += int(a.size)
            q += int(a.size) if a.dtype == np.int8 else 0
    return nz, total, q, kernels


# --------------------------------------------------------------------------- compressed models
class KerasCompressedModel(CompressedBase):
    """A compressed Keras model (pruned or int8-quantized), run by Keras on the run's device."""

    size_format = ".keras"

    def __init__(
        self,
        method: str,
        model: Any,
        *,
        batch_size: int,
        device: str,
        details: dict[str, Any] | None = None,
        predictor: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        super().__init__(method, batch_size=batch_size, details=details)
        self.model = model
        self.device = device
        # The backend's own inference path (a compiled tf.function on the run's device), so a
        # variant's latency is comparable with the uncompressed model's; eager Keras otherwise.
        self._predictor = predictor

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self._predictor is not None:  # it runs in chunks of the same size itself
            return np.asarray(self._predictor(x), dtype=np.float32)
        return super().predict(x)

    def _predict_batch(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(_tf().constant(x), training=False), dtype=np.float32)

    def weight_stats(self) -> tuple[int, int, int, int]:
        return keras_weight_stats(self.model)

    def _inference_device(self) -> str:
        return self.device

    def _runtime_details(self) -> dict[str, Any]:
        return {"runtime": "keras"}

    def _serialize(self) -> bytes:
        return _keras_file_bytes(self.model)


def _interpreter_class() -> tuple[Any, str]:
    """LiteRT's interpreter when ``ai-edge-litert`` is installed, else ``tf.lite.Interpreter``."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        return _tf().lite.Interpreter, "tf.lite"


def _make_interpreter(blob: bytes, threads: int | None) -> tuple[Any, str]:
    cls, runtime = _interpreter_class()
    with warnings.catch_warnings():
        # tf.lite.Interpreter warns on construction that it moves to the ai-edge-litert package;
        # greenbench uses that package when it is installed (the `tensorflow` extra lists it) and
        # falls back to the identical in-TF interpreter otherwise. Only that notice is ignored.
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated", category=UserWarning)
        return cls(model_content=blob, num_threads=threads), runtime


class TFLiteCompressedModel(CompressedBase):
    """A TFLite flatbuffer run by the LiteRT interpreter (CPU).

    ``batch_sizes`` is ``None`` for a model with a dynamic batch dimension, else the batch sizes
    the model was converted for (a dict ``batch → flatbuffer``): a chunk of ``c`` images runs
    on the smallest converted batch ``≥ c``, padded with zeros.
    """

    size_format = ".tflite"

    def __init__(
        self,
        method: str,
        blobs: dict[int | None, bytes],
        *,
        batch_size: int,
        threads: int | None,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(method, batch_size=batch_size, details=details)
        self.blobs = blobs
        self.threads = threads
        self._interpreters: dict[int | None, Any] = {}
        self._shapes: dict[int, int | None] = {}
        self.runtime = _interpreter_class()[1]

    @property
    def _static(self) -> list[int]:
        return sorted(b for b in self.blobs if b is not None)

    def _run(self, key: int | None, xb: np.ndarray) -> np.ndarray:
        it = self._interpreters.get(key)
        if it is None:
            it, _ = _make_interpreter(self.blobs[key], self.threads)
            self._interpreters[key] = it
            if key is not None:
                it.allocate_tensors()
        inp = it.get_input_details()[0]
        if key is None and self._shapes.get(id(it)) != len(xb):
            it.resize_tensor_input(inp["index"], list(xb.shape), strict=False)
            it.allocate_tensors()
            self._shapes[id(it)] = len(xb)
        it.set_tensor(inp["index"], xb)
        it.invoke()
        return np.array(it.get_tensor(it.get_output_details()[0]["index"]), dtype=np.float32)

    def _chunk_size(self) -> int:
        static = self._static
        return self.batch_size if not static else min(self.batch_size, static[-1])

    def _predict_batch(self, xb: np.ndarray) -> np.ndarray:
        static = self._static
        if not static:
            return self._run(None, xb)
        key = next(b for b in static if b >= len(xb))
        padded = np.zeros((key, *xb.shape[1:]), np.float32)
        padded[: len(xb)] = xb
        return self._run(key, padded)[: len(xb)]

    def _primary(self) -> bytes:
        return self.blobs[None] if None in self.blobs else self.blobs[self._static[-1]]

    def _saved(self) -> bytes:
        """The ``.tflite`` flatbuffer (for static-batch models: the one for the largest batch)."""
        return self._primary()

    def weight_stats(self) -> tuple[int, int, int, int]:
        return tflite_weight_stats(self._primary())

    def _inference_device(self) -> str:
        return "cpu"

    def _runtime_details(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "static_batch_sizes": self._static or None}


# --------------------------------------------------------------------------- TFLite flatbuffer inspection
_BIAS_INPUT = {"FULLY_CONNECTED": 2, "CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "TRANSPOSE_CONV": 3}
_WEIGHT_TYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT8": np.int8}


def _tflite_constants(blob: bytes) -> list[tuple[str, np.ndarray, bool]]:
    """(type name, values, is_bias) of every constant tensor that stores weights in ``blob``.

    Constant tensors (with data in the flatbuffer) of type float32/float16/int8, in every
    subgraph (a converted RNN keeps its cell weights in the loop body), plus the int32 biases
    of integer FULLY_CONNECTED / CONV ops. Integer shape/axis constants are not weights.
    """
    from tensorflow.lite.tools import flatbuffer_utils as fu

    model = fu.read_model_from_bytearray(bytearray(blob))
    opnames = [fu.opcode_to_name(model, i) for i in range(len(model.operatorCodes))]
    out: list[tuple[str, np.ndarray, bool]] = []
    for g in model.subgraphs:
        biases: set[int] = set()
        for op in g.operators or []:
            k = _BIAS_INPUT.get(opnames[op.opcodeIndex])
            if k is not None and op.inputs is not None and len(op.inputs) > k and op.inputs[k] >= 0:
                biases.add(int(op.inputs[k]))
        for ti, t in enumerate(g.tensors or []):
            buf = model.buffers[t.buffer]
            if buf.data is None or len(buf.data) == 0:
                continue
            tname = fu.type_to_name(t.type)
            if tname in _WEIGHT_TYPES:
                dtype = _WEIGHT_TYPES[tname]
            elif tname == "INT32" and ti in biases:
                dtype = np.int32
            else:
                continue
            values = np.frombuffer(bytes(buf.data), dtype=dtype)
            if not values.any():
                # all-zero constants are folded initial states (a static-batch RNN's zero h/c), not
                # weights; the converter drops an all-zero bias anyway
                continue
            out.append((tname, values, ti in biases))
    return out


def tflite_weight_stats(blob: bytes) -> tuple[int, int, int, int]:
    """(non-zero, total, int8 kernel elements, kernel elements) of the weights stored in a flatbuffer.

    Weights are the constants of :func:`_tflite_constants` (all-zero constants excluded);
    kernels are the non-bias ones with more than one element. Totals can differ slightly from
    the Keras parameter count where the converter folds constants (docs/compression.md).
    """
    nz = total = q = kernels = 0
    for tname, values, is_bias in _tflite_constants(blob):
        nz += int(np.count_nonzero(values))
        total += int(values.size)
        if not is_bias and values.size > 1:
            kernels += int(values.size)
            q += int(values.size) if tname == "INT8" else 0
    return nz, total, q, kernels


# --------------------------------------------------------------------------- pruning
def prunable_variables(model: Any, canonical: dict[str, Any] | None = None, names: Sequence[str] | None = None) -> list[Any]:
    """The Keras variables magnitude pruning touches.

    With a canonical mapping (canonical name → variable) and ``names``
    (:func:`greenbench.workloads.compression.prunable_names`): exactly those. Otherwise the
    ``kernel`` / ``recurrent_kernel`` variables of dense, einsum-dense, convolution, recurrent
    and attention layers; never biases, normalization parameters, embeddings or tokens.
    """
    if canonical is not None and names is not None:
        return [canonical[n] for n in names]
    types = _prunable_layer_types()
    out, seen = [], set()
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if not isinstance(layer, types):
            continue
        for v in layer.weights:
            if v.name in _KERNEL_NAMES and id(v) not in seen:
                seen.add(id(v))
                out.append(v)
    return out


def prune_global_magnitude(variables: Sequence[Any], sparsity: float) -> list[np.ndarray]:
    """Prune ``variables`` **in place** to ``sparsity`` (shared global threshold); returns keep-masks."""
    if not variables:
        raise Unsupported("the model has no weight matrices to prune")
    arrays = [np.asarray(v.numpy(), dtype=np.float32) for v in variables]
    threshold = global_magnitude_threshold(arrays, sparsity)
    masks = []
    for v, a in zip(variables, arrays):
        keep = (~threshold.prune_mask(a)).astype(np.float32)
        v.assign(a * keep)
        masks.append(keep)
    return masks


def mask_applier(variables: Sequence[Any], masks: Sequence[np.ndarray]) -> Callable[[], None]:
    """A callback re-applying ``masks`` to ``variables`` (the fine-tuning loop calls it after every step)."""
    tf = _tf()
    pairs = [(v, tf.constant(m, dtype=v.dtype)) for v, m in zip(variables, masks)]

    def apply() -> None:
        for v, keep in pairs:
            v.assign(v * keep)

    return apply


# --------------------------------------------------------------------------- quantization
def quantize_dynamic_int8(model: Any) -> Any:
    """Keras 3 ``quantize("int8")`` **in place** on every layer type that implements it."""
    keras = _keras()
    base = keras.layers.Layer.quantize

    def has_quantize(layer: Any) -> bool:
        # Only layers that implement quantize (Dense, EinsumDense, Embedding): asking the others
        # would just make Keras warn that they cannot be quantized.
        return type(layer).quantize is not base

    model.quantize("int8", filters=has_quantize)
    return model


def _has_rnn(model: Any) -> bool:
    keras = _keras()
    return any(isinstance(layer, keras.layers.RNN) for layer in model._flatten_layers(include_self=False, recursive=True))


def export_saved_model(model: Any, path: str, batch: int | None = None) -> None:
    """``model.export`` as a SavedModel whose input is ``(batch, 28, 28)`` float32."""
    keras = _keras()
    spec = keras.InputSpec(shape=(batch, 28, 28), dtype="float32")
    model.export(path, format="tf_saved_model", verbose=False, input_signature=[spec])


def convert_tflite(saved_model: str, mode: str, calibration: np.ndarray | None = None, batch: int | None = None) -> bytes:
    """Convert a SavedModel (input batch ``batch``, ``None`` = dynamic) to a TFLite flatbuffer.

    ``mode`` ``float16`` (weights stored as float16) or ``int8-static`` (full-integer,
    calibrated on ``calibration`` images; float32 input and output).
    """
    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8-static":
        assert calibration is not None
        data = np.ascontiguousarray(calibration, dtype=np.float32)
        step = batch or 1

        def representative() -> Any:
            for i in range(0, len(data) - step + 1, step):
                yield [data[i : i + step]]

        converter.representative_dataset = representative
    else:
        raise ValueError(mode)
    return converter.convert()


def _kernels_left_float(blob: bytes) -> int:
    _, _, q, kernels = tflite_weight_stats(blob)
    return kernels - q


# --------------------------------------------------------------------------- entry point
def _copy_model(backend: TensorFlowBackend) -> Any:
    """A fresh model of the same architecture with the trained weights (``backend.model`` untouched)."""
    from greenbench.backends.tensorflow.models import build_model

    spec = backend.spec
    clone = build_model(spec.model, spec.arch)
    clone.set_weights(backend._built().get_weights())
    return clone


def _canonical(backend: TensorFlowBackend, model: Any) -> dict[str, Any]:
    """Canonical name → Keras variable of ``model`` (whole variables only)."""
    from greenbench.backends.tensorflow.models import canonical_variables

    spec = backend.spec
    return {n: v for n, (v, row) in canonical_variables(model, spec.model, spec.arch).items() if row is None}


def _compressed(backend: TensorFlowBackend, method: str, model: Any, details: dict[str, Any]) -> KerasCompressedModel:
    """``model`` (a compressed copy of the backend's) as a :class:`KerasCompressedModel` of this run,
    predicting through the backend's own compiled forward."""
    return KerasCompressedModel(method, model, batch_size=backend.spec.training.eval_batch_size, device=str(backend.device),
                                predictor=backend.wrap(model, method).predict, details=details)


def _threads(backend: TensorFlowBackend) -> int:
    threads = backend.spec.training.threads
    return int(threads) if threads else available_cores()


# --------------------------------------------------------------------------- the methods
# Each: (the trained backend, method, data) -> a compressed copy; ``backend.model`` is untouched.
def compress_prune(backend: TensorFlowBackend, method: str, data: TrainData) -> KerasCompressedModel:
    """``prune-<N>``: global magnitude pruning of a copy, fine-tuned with the masks re-applied after every step."""
    spec = backend.spec
    pruning = parse_prune(method)
    assert pruning is not None, method
    model = _copy_model(backend)
    variables = prunable_variables(model, _canonical(backend, model), prunable_names(spec.model, spec.arch))
    masks = prune_global_magnitude(variables, pruning.sparsity)
    epochs = spec.training.prune_finetune_epochs
    if epochs > 0:
        backend.finetune(data, epochs, mask_applier(variables, masks), model=model)
    kept = sum(int(np.count_nonzero(v.numpy())) for v in variables)
    n = sum(int(np.prod(v.shape)) for v in variables)
    # sparsity: measured zeros over the weight matrices (the target's scope)
    return _compressed(backend, method, model, {"target_sparsity": pruning.sparsity, "sparsity": 1.0 - kept / n,
                                                "prunable_params": n, "finetune_epochs": epochs})


def compress_int8_dynamic(backend: TensorFlowBackend, method: str, data: TrainData) -> KerasCompressedModel:
    model = quantize_dynamic_int8(_copy_model(backend))
    return _compressed(backend, method, model, {"api": "keras.Model.quantize('int8')"})


def compress_tflite(backend: TensorFlowBackend, method: str, data: TrainData) -> TFLiteCompressedModel:
    """``float16`` and ``int8-static``: TFLite post-training quantization of the exported model."""
    spec = backend.spec
    batch = spec.training.eval_batch_size
    trained = backend._built()
    if method == "int8-static" and _has_rnn(trained):
        raise Unsupported(
            "TFLite full-integer quantization of a Keras 3 LSTM/GRU (converted to a WHILE loop) "
            "crashes the TF 2.21 converter during calibration; no static int8 recurrent layer"
        )
    calibration = None
    if method == "int8-static":
        idx = calibration_indices(len(data.x_train), CALIBRATION_SAMPLES, spec.seed)
        calibration = data.x_train[idx]
    # A Keras 3 LSTM/GRU exported with a dynamic batch does not convert (TensorList ops need
    # a static element shape); recurrent models are converted once per batch size used.
    batches: list[int | None] = sorted({1, batch, int(spec.runner.inference_batch)}) if _has_rnn(trained) else [None]
    blobs: dict[int | None, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="greenbench-tflite-") as d:
        for b in batches:
            path = os.path.join(d, f"saved_model_{b}")
            export_saved_model(trained, path, b)
            blobs[b] = convert_tflite(path, method, calibration, b)
    if method == "int8-static":
        left = _kernels_left_float(next(iter(blobs.values())))
        if left:
            raise Unsupported(f"TFLite int8-static leaves {left} kernel weights in float")
    details: dict[str, Any] = {"api": "tf.lite.TFLiteConverter.from_saved_model"}
    if calibration is not None:
        details["calibration_samples"] = len(calibration)
    return TFLiteCompressedModel(method, blobs, batch_size=batch, threads=_threads(backend), details=details)


#: This backend's compression table (``TensorFlowBackend.compress`` dispatches on it; ``prune`` covers ``prune-<N>``).
COMPRESSORS: dict[str, Compressor] = {
    PRUNE: compress_prune,
    "int8-dynamic": compress_int8_dynamic,
    "float16": compress_tflite,
    "int8-static": compress_tflite,
}


__all__ = [
    "COMPRESSORS",
    "KerasCompressedModel",
    "TFLiteCompressedModel",
    "compress_int8_dynamic",
    "compress_prune",
    "compress_tflite",
    "convert_tflite",
    "export_saved_model",
    "keras_weight_stats",
    "mask_applier",
    "prunable_variables",
    "prune_global_magnitude",
    "quantize_dynamic_int8",
    "tflite_weight_stats",
]
