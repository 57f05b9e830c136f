"""Compression of a trained PyTorch model: pruning, dynamic/static int8 and float16.

Entry point: :data:`COMPRESSORS`, the table ``TorchBackend.compress`` dispatches on (one
function per method). The functions above them work on a plain ``nn.Module`` so they can be
used and tested without a backend.

* ``prune-<N>``: global unstructured magnitude pruning over the weight matrices (see
  :func:`prunable_parameters`), threshold from :mod:`greenbench.workloads.compression`
  (shared with the TensorFlow backend, so both prune the same weights), masks applied with
  ``torch.nn.utils.prune.custom_from_mask`` and made permanent with ``prune.remove``;
  optional fine-tuning with the mask re-applied after every optimizer step.
* ``int8-dynamic``: ``torch.ao.quantization.quantize_dynamic`` on ``nn.Linear`` and
  ``nn.LSTM``/``nn.GRU`` (int8 per-output-channel symmetric weights, activations quantized
  per batch at run time).
* ``float16``: the model cast to half precision (weights *and* computation in float16).
* ``int8-static``: FX graph mode (``prepare_fx`` → calibration on training samples →
  ``convert_fx``) with the ``x86`` default qconfig mapping. Models whose weight layers FX
  cannot quantize statically (LSTM/GRU, ``nn.MultiheadAttention``) are ``Unsupported``.

Quantized PyTorch kernels (fbgemm) run on the CPU only: int8 variants always run there.
"""

from __future__ import annotations

import copy
import io
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from greenbench.backends.base import TrainData, Unsupported
from greenbench.backends.common import PRUNE, CompressedBase, Compressor
from greenbench.workloads.compression import (
    CALIBRATION_SAMPLES,
    calibration_indices,
    global_magnitude_threshold,
    parse_prune,
    prunable_names,
)

if TYPE_CHECKING:  # pragma: no cover
    from greenbench.backends.torch.backend import TorchBackend

#: Module types whose weight matrices are pruned (their ``*weight*`` parameters, never biases).
#: ``nn.MultiheadAttention``'s output projection is an ``nn.Linear`` submodule; its
#: ``in_proj_weight`` holds the query, key and value kernels.
PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.RNNBase,
    nn.MultiheadAttention,
)

#: Module types ``int8-dynamic`` quantizes (every type ``quantize_dynamic`` supports for these models).
DYNAMIC_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.LSTM, nn.GRU)


# --------------------------------------------------------------------------- the compressed model
class TorchCompressedModel(CompressedBase):
    """A compressed copy of a trained model; implements ``greenbench.backends.base.CompressedModel``."""

    size_format = "torch.save(state_dict)"

    def __init__(
        self,
        method: str,
        module: nn.Module,
        *,
        device: torch.device,
        batch_size: int,
        input_dtype: torch.dtype = torch.float32,
        details: dict[str, Any] | None = None,
        exclude: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(method, batch_size=batch_size, details=details)
        self.module = module.eval()
        self.device = device
        self.input_dtype = input_dtype
        self._exclude = exclude  # frozen (untrained) parameters of the source model, by name

    def _predict_batch(self, x: np.ndarray) -> np.ndarray:
        return self.module(torch.from_numpy(x).to(self.device, self.input_dtype)).float().cpu().numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = super().predict(x)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return out

    def weight_stats(self) -> tuple[int, int, int, int]:
        return module_weight_stats(self.module, self._exclude)

    def _inference_device(self) -> str:
        return str(self.device)

    def _serialize(self) -> bytes:
        buf = io.BytesIO()
        torch.save(self.module.state_dict(), buf)
        return buf.getvalue()


# --------------------------------------------------------------------------- parameter statistics
def _tensor_values(t: torch.Tensor) -> torch.Tensor:
    return t.dequantize() if t.is_quantized else t


def _iter_module_weights(model: nn.Module, exclude: frozenset[str]) -> Iterator[tuple[str, torch.Tensor, bool, bool]]:
    """(name, tensor, is_kernel, is_int8) for every weight of ``model``, quantized or not.

    Quantized modules keep their weights packed; they are unpacked here. Names in ``exclude``
    are skipped (see :func:`frozen_parameter_names`).
    """
    unpacked: list[str] = []  # quantized modules already read (their packed-params submodules hold the same)
    for mname, mod in model.named_modules():
        prefix = f"{mname}." if mname else ""
        if any(mname.startswith(u) for u in unpacked):
            continue
        cls_module = mod.__class__.__module__  # torch.ao.nn.quantized..., torch.ao.nn.intrinsic.quantized...
        quantized = cls_module.startswith("torch.ao.nn.") and ".quantized" in cls_module
        weight_bias = getattr(mod, "_weight_bias", None)
        weight_fn = getattr(mod, "weight", None)
        if quantized and (callable(weight_bias) or callable(weight_fn)):
            unpacked.append(prefix)
            wb = weight_bias() if callable(weight_bias) else (weight_fn(), mod.bias())
            if isinstance(wb, dict):  # dynamic RNN: {"weight": {name: t}, "bias": {name: t}}
                pairs = [(n, t, True) for n, t in wb["weight"].items()] + [(n, t, False) for n, t in wb["bias"].items()]
            else:  # (weight, bias) of a quantized Linear / Conv
                pairs = [("weight", wb[0], True), ("bias", wb[1], False)]
            for n, t, is_kernel in pairs:
                if t is not None and f"{prefix}{n}" not in exclude:
                    yield f"{prefix}{n}", t, is_kernel, t.is_quantized
            continue
        for pname, p in mod.named_parameters(recurse=False):
            full = f"{prefix}{pname}"
            if full not in exclude:
                yield full, p.detach(), isinstance(mod, PRUNABLE_TYPES) and "weight" in pname, False


def frozen_parameter_names(model: nn.Module) -> frozenset[str]:
    """Parameters that are not trained (``requires_grad=False``), e.g. the torch LSTM's all-zero
    ``bias_hh`` that Keras does not have (greenbench.workloads.parity): not workload parameters."""
    return frozenset(n for n, p in model.named_parameters() if not p.requires_grad)


def module_weight_stats(model: nn.Module, exclude: frozenset[str] = frozenset()) -> tuple[int, int, int, int]:
    """(non-zero weights, total weights, int8 kernel elements, kernel elements) of ``model``.

    Quantized weights count by their dequantized values (zero exactly where the integer is the
    zero point); scales and zero points are not parameters.
    """
    nz = total = q = kernels = 0
    for _, t, is_kernel, is_int8 in _iter_module_weights(model, exclude):
        v = _tensor_values(t)
        nz += int(torch.count_nonzero(v))
        total += v.numel()
        if is_kernel:
            kernels += v.numel()
            q += v.numel() if is_int8 else 0
    return nz, total, q, kernels


# --------------------------------------------------------------------------- pruning
def prunable_parameters(model: nn.Module, names: Sequence[str] | None = None) -> list[tuple[str, nn.Module, str]]:
    """(qualified name, owning module, parameter name) of every weight matrix pruning touches.

    With ``names`` (canonical names, :func:`greenbench.workloads.compression.prunable_names`)
    and a greenbench model (which maps canonical names to its parameters via ``canonical()``),
    exactly those parameters. Otherwise, for any module: the ``*weight*`` parameters
    (``weight``, ``weight_ih_l0``, ``weight_hh_l0``, ``in_proj_weight``…) of
    :data:`PRUNABLE_TYPES` modules; never biases, LayerNorm parameters, embeddings, class
    tokens or position embeddings.
    """
    owners = {
        id(p): (f"{mname}.{pname}" if mname else pname, mod, pname)
        for mname, mod in model.named_modules()
        for pname, p in mod.named_parameters(recurse=False)
    }
    if names is not None and callable(getattr(model, "canonical", None)):
        mapping = model.canonical()
        return [owners[id(mapping[n][0])] for n in names]
    out: list[tuple[str, nn.Module, str]] = []
    seen: set[int] = set()
    for mname, mod in model.named_modules():
        if not isinstance(mod, PRUNABLE_TYPES):
            continue
        for pname, p in mod.named_parameters(recurse=False):
            if "weight" not in pname or id(p) in seen:
                continue
            seen.add(id(p))
            out.append(owners[id(p)])
    return out


def prune_global_magnitude(
    model: nn.Module, sparsity: float, names: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """Prune ``model`` **in place** to ``sparsity`` over ``prunable_parameters(model, names)``.

    Returns the keep-masks (same dtype/device as each weight, 1 = kept) by qualified name.
    The masks are applied with ``prune.custom_from_mask`` and made permanent with
    ``prune.remove`` (the weights are plain parameters again, with zeros where pruned).
    """
    params = prunable_parameters(model, names)
    if not params:
        raise Unsupported("the model has no weight matrices to prune")
    arrays = [getattr(mod, pname).detach().float().cpu().numpy() for _, mod, pname in params]
    threshold = global_magnitude_threshold(arrays, sparsity)
    masks: dict[str, torch.Tensor] = {}
    for (qname, mod, pname), a in zip(params, arrays):
        weight = getattr(mod, pname)
        keep = torch.from_numpy(~threshold.prune_mask(a)).to(device=weight.device, dtype=weight.dtype)
        prune.custom_from_mask(mod, pname, keep)
        prune.remove(mod, pname)
        masks[qname] = keep
    return masks


def mask_applier(model: nn.Module, masks: dict[str, torch.Tensor]) -> Callable[[], None]:
    """A callback that re-applies ``masks`` (from :func:`prune_global_magnitude`) to ``model``'s
    weights; the fine-tuning loop calls it after every optimizer step so pruned weights stay zero."""
    modules = dict(model.named_modules())
    targets = []
    for qname, keep in masks.items():
        mname, _, pname = qname.rpartition(".")
        targets.append((getattr(modules[mname], pname), keep))

    def apply() -> None:
        with torch.no_grad():
            for weight, keep in targets:
                weight.mul_(keep)

    return apply


# --------------------------------------------------------------------------- quantization adapter
# torch.ao.quantization is deprecated in favour of torchao (torch prints a DeprecationWarning
# on every call, and a UserWarning whenever it creates quantized tensors). It is still the
# only maintained-in-tree path with int8 CPU kernels for Linear *and* LSTM/GRU and with
# static (calibrated) quantization that runs eagerly, so greenbench keeps it, confined to the
# three functions below. Only these known deprecation notices are ignored, only around
# these calls; any other warning still shows.
_TORCH_AO_DEPRECATIONS = (
    (DeprecationWarning, r"torch\.ao\.quantization is deprecated"),
    (UserWarning, r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation"),
    (UserWarning, r"Please use quant_min and quant_max to specify the range for observers"),
)


class _TorchAoDeprecations(warnings.catch_warnings):
    def __enter__(self) -> Any:
        result = super().__enter__()
        for category, message in _TORCH_AO_DEPRECATIONS:
            warnings.filterwarnings("ignore", message=message, category=category)
        return result


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """Dynamic int8 quantization (CPU) of ``model``'s :data:`DYNAMIC_TYPES` layers; returns a new module."""
    with _TorchAoDeprecations():
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        spec = {t: per_channel_dynamic_qconfig for t in DYNAMIC_TYPES}
        return quantize_dynamic(model.cpu().eval(), spec, dtype=torch.qint8, inplace=False)


def quantize_static_int8(model: nn.Module, calibration: np.ndarray, batch_size: int = 256) -> nn.Module:
    """Static int8 quantization (CPU) with FX graph mode, calibrated on ``calibration`` images.

    Raises :class:`Unsupported` when FX cannot trace the model or leaves weight layers in float.
    """
    model = model.cpu().eval()
    float_layers = [n for n, m in model.named_modules() if isinstance(m, (nn.RNNBase, nn.MultiheadAttention))]
    if float_layers:
        kinds = sorted({type(m).__name__ for m in model.modules() if isinstance(m, (nn.RNNBase, nn.MultiheadAttention))})
        raise Unsupported(
            f"torch int8-static (FX graph mode) has no static int8 kernel for {', '.join(kinds)} "
            f"(layers {', '.join(float_layers)}): they would stay float32"
        )
    _explicit_valid_padding(model)
    example = (torch.from_numpy(np.ascontiguousarray(calibration[:1], dtype=np.float32)),)
    with _TorchAoDeprecations():
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

        try:
            prepared = prepare_fx(copy.deepcopy(model), get_default_qconfig_mapping("x86"), example)
        except Exception as exc:  # noqa: BLE001 - FX tracing errors have many types; the reason is recorded
            raise Unsupported(f"torch FX cannot trace this model for int8-static: {type(exc).__name__}: {exc}") from exc
        with torch.inference_mode():
            for i in range(0, len(calibration), batch_size):
                prepared(torch.from_numpy(np.ascontiguousarray(calibration[i : i + batch_size], dtype=np.float32)))
        converted = convert_fx(prepared)
    left_float = [n for n, m in converted.named_modules() if isinstance(m, PRUNABLE_TYPES)]
    if left_float:
        raise Unsupported(f"torch FX int8-static leaves weight layers in float32: {', '.join(left_float)}")
    return converted


def _explicit_valid_padding(model: nn.Module) -> None:
    """``padding="valid"`` → explicit zeros, in place (same computation).

    The quantized convolution's weight packing accepts only numeric padding and fails on the
    string (``conv2d_prepack ... found type 'tuple' ('v', 'a', 'l', 'i', 'd')``).
    """
    for mod in model.modules():
        if isinstance(mod, nn.modules.conv._ConvNd) and mod.padding == "valid":
            mod.padding = (0,) * len(mod.kernel_size)


# --------------------------------------------------------------------------- the methods
# Each: (the trained backend, method, data) -> a compressed copy; ``backend.model`` is untouched.
def _compressed(backend: TorchBackend, method: str, model: nn.Module, *, cpu: bool = False, **kw: Any) -> TorchCompressedModel:
    """``model`` (a compressed copy of the backend's) as a :class:`TorchCompressedModel` of this run."""
    return TorchCompressedModel(
        method, model, device=torch.device("cpu") if cpu else backend.device,
        batch_size=backend.spec.training.eval_batch_size, exclude=frozen_parameter_names(backend._built()), **kw,
    )


def compress_prune(backend: TorchBackend, method: str, data: TrainData) -> TorchCompressedModel:
    """``prune-<N>``: global magnitude pruning of a copy, fine-tuned with the masks re-applied after every step."""
    spec = backend.spec
    pruning = parse_prune(method)
    assert pruning is not None, method
    model = copy.deepcopy(backend._built())
    names = prunable_names(spec.model, spec.arch)
    masks = prune_global_magnitude(model, pruning.sparsity, names)
    epochs = spec.training.prune_finetune_epochs
    if epochs > 0:
        backend.finetune(data, epochs, mask_applier(model, masks), model=model)
    model.eval()
    weights = [getattr(mod, pname).detach() for _, mod, pname in prunable_parameters(model, names)]
    kept = sum(int(torch.count_nonzero(w)) for w in weights)
    n = sum(w.numel() for w in weights)
    # sparsity: measured zeros over the weight matrices (the pruning target's scope)
    return _compressed(backend, method, model, details={"target_sparsity": pruning.sparsity, "sparsity": 1.0 - kept / n,
                                                        "prunable_params": n, "finetune_epochs": epochs})


def compress_int8_dynamic(backend: TorchBackend, method: str, data: TrainData) -> TorchCompressedModel:
    model = quantize_dynamic_int8(_cpu_copy(backend._built()))
    return _compressed(backend, method, model, cpu=True, details={"api": "torch.ao.quantization.quantize_dynamic"})


def compress_float16(backend: TorchBackend, method: str, data: TrainData) -> TorchCompressedModel:
    model = copy.deepcopy(backend._built()).half().eval()
    return _compressed(backend, method, model, input_dtype=torch.float16, details={"api": "nn.Module.half"})


def compress_int8_static(backend: TorchBackend, method: str, data: TrainData) -> TorchCompressedModel:
    idx = calibration_indices(len(data.x_train), CALIBRATION_SAMPLES, backend.spec.seed)
    model = quantize_static_int8(_cpu_copy(backend._built()), data.x_train[idx])
    return _compressed(backend, method, model, cpu=True,
                       details={"api": "torch.ao.quantization.quantize_fx", "calibration_samples": len(idx)})


#: This backend's compression table (``TorchBackend.compress`` dispatches on it; ``prune`` covers ``prune-<N>``).
COMPRESSORS: dict[str, Compressor] = {
    PRUNE: compress_prune,
    "int8-dynamic": compress_int8_dynamic,
    "float16": compress_float16,
    "int8-static": compress_int8_static,
}


def _cpu_copy(model: nn.Module) -> nn.Module:
    """A CPU copy of ``model`` (the original stays on its device, untouched)."""
    clone = copy.deepcopy(model)
    return clone.cpu().eval()


__all__ = [
    "DYNAMIC_TYPES",
    "PRUNABLE_TYPES",
    "COMPRESSORS",
    "TorchCompressedModel",
    "compress_float16",
    "compress_int8_dynamic",
    "compress_int8_static",
    "compress_prune",
    "frozen_parameter_names",
    "mask_applier",
    "module_weight_stats",
    "prunable_parameters",
    "prune_global_magnitude",
    "quantize_dynamic_int8",
    "quantize_static_int8",
]
