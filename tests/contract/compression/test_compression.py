"""Compression contract, run once per backend on real frameworks and a small real MNIST subset.

Each test imports one framework (marked with it; tests/framework_guard.py). That both frameworks prune
the same weights follows from each one's masks equalling the numpy reference from the shared initial weights."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
from compression_support import MODELS, accuracy
from framework_guard import backend_params

from greenbench.backends.base import Unsupported
from greenbench.workloads import initial_weights
from greenbench.workloads.compression import global_magnitude_masks, prunable_names

BACKENDS = backend_params()
# The combinations that cannot be compressed, and a fragment of the reason each must give
# (docs/compression.md's table); every other backend × model × method must run.
UNSUPPORTED = {
    ("torch", "rnn", "int8-static"): "no static int8 kernel for LSTM",
    ("torch", "transformer", "int8-static"): "leaves weight layers in float32",
    ("tensorflow", "rnn", "int8-static"): "TFLite full-integer quantization of a Keras 3 LSTM/GRU",
}


def canonical_of(be: Any, compressed: Any) -> dict[str, np.ndarray]:
    """A compressed (pruned) model's weights by canonical name, via the backend's own mapping."""
    models = importlib.import_module(f"greenbench.backends.{be.name}.models")
    if be.name == "torch":
        return models.export_canonical(compressed.module)
    return models.export_canonical(compressed.model, be.spec.model, be.spec.arch)


@pytest.mark.slow
@pytest.mark.parametrize("target", [50, 90])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_achieved_sparsity_within_one_point(built: Any, backend: str, model: str, target: int) -> None:
    be = built(backend, model)  # initial weights: the target is about counting, not accuracy
    pruned = be.compress(f"prune-{target}", None)
    details = pruned.details()
    assert details["sparsity"] == pytest.approx(target / 100, abs=0.01), details
    weights = canonical_of(be, pruned)
    kernels = [weights[n] for n in prunable_names(model, be.spec.arch)]
    zeros = sum(int((k == 0).sum()) for k in kernels) / sum(k.size for k in kernels)
    assert zeros == pytest.approx(target / 100, abs=0.01)
    nonzero, total = pruned.parameter_stats()
    assert total == be.param_count() and nonzero <= total - zeros * sum(k.size for k in kernels) + 1


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_prunes_the_weights_of_the_numpy_reference(built: Any, backend: str, model: str) -> None:
    """The shared initial weights → the numpy reference masks; each backend's pruned model keeps exactly those.

    Run once per framework (each in its own process), this proves both frameworks prune the same weights."""
    be = built(backend, model)
    reference = initial_weights(be.spec)
    names = prunable_names(model, be.spec.arch)
    assert all(np.array_equal(be.canonical_weights()[n], reference[n]) for n in names)
    pruned = canonical_of(be, be.compress("prune-50", None))
    masks = global_magnitude_masks([reference[n] for n in names], 0.5)
    for n, mask in zip(names, masks, strict=True):
        np.testing.assert_array_equal(pruned[n] != 0, mask == 1, err_msg=f"{backend}: {n}")


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_int8_dynamic_mlp_is_small_and_accurate(built: Any, mnist_data: Any, backend: str) -> None:
    # the default MLP (784-128-10), trained enough (125 steps) for accuracy to mean something
    be = built(backend, "mlp", train_on=mnist_data, small=False, epochs=2, batch_size=32)
    base = be.compress("none", mnist_data)
    quantized = be.compress("int8-dynamic", mnist_data)
    ratio = quantized.size_bytes() / base.size_bytes()
    assert ratio < 0.40, f"{backend}: int8 size {quantized.size_bytes()} is {ratio:.0%} of float32 {base.size_bytes()}"
    acc0, acc1 = accuracy(base, mnist_data), accuracy(quantized, mnist_data)
    assert acc0 > 0.8, f"{backend}: the trained MLP is too weak for the check ({acc0:.3f})"
    assert abs(acc1 - acc0) <= 0.01, f"{backend}: accuracy {acc0:.4f} → {acc1:.4f}"
    assert quantized.details()["quantized_weight_fraction"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_pruning_with_finetuning_holds_the_mask(built: Any, mnist_data: Any, backend: str) -> None:
    be = built(backend, "mlp", train_on=mnist_data, prune_finetune_epochs=1)
    before = be.canonical_weights()
    pruned = be.compress("prune-90", mnist_data)
    assert pruned.details()["finetune_epochs"] == 1
    assert pruned.details()["sparsity"] == pytest.approx(0.9, abs=0.01)
    weights = canonical_of(be, pruned)
    names = prunable_names("mlp", be.spec.arch)
    masks = global_magnitude_masks([before[n] for n in names], 0.9)
    for n, mask in zip(names, masks, strict=True):
        assert not np.any(weights[n][mask == 0]), f"{n}: a pruned weight came back during fine-tuning"
    assert accuracy(pruned, mnist_data) > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_recurrent_int8_static_is_unsupported_with_a_reason(built: Any, mnist_data: Any, backend: str) -> None:
    be = built(backend, "rnn")
    with pytest.raises(Unsupported, match=UNSUPPORTED[(backend, "rnn", "int8-static")]):
        be.compress("int8-static", mnist_data)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_compression_leaves_the_trained_model_untouched(built: Any, mnist_data: Any, backend: str) -> None:
    be = built(backend, "mlp", prune_finetune_epochs=1)
    before = be.canonical_weights()
    x = mnist_data.x_test[:50]
    logits = be.compress("none", mnist_data).predict(x)
    for method in ("prune-50", "int8-dynamic", "float16", "int8-static"):
        be.compress(method, mnist_data)
        after = be.canonical_weights()
        for name, value in before.items():
            np.testing.assert_array_equal(after[name], value, err_msg=f"{method} changed {name}")
    np.testing.assert_array_equal(be.compress("none", mnist_data).predict(x), logits)


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_method_runs_or_says_why(built: Any, mnist_data: Any, backend: str, model: str) -> None:
    be = built(backend, model)
    n = 37  # not a multiple of any batch size
    for method in ("prune-50", "int8-dynamic", "float16", "int8-static"):
        expected = UNSUPPORTED.get((backend, model, method))
        if expected is not None:
            with pytest.raises(Unsupported, match=expected):
                be.compress(method, mnist_data)
            continue
        compressed = be.compress(method, mnist_data)  # supported: an Unsupported here fails the test
        logits = compressed.predict(mnist_data.x_test[:n])
        assert logits.shape == (n, 10) and logits.dtype == np.float32 and np.isfinite(logits).all()
        single = compressed.predict(mnist_data.x_test[:1])
        # Batch-size independence (checks chunking and the padding of static-batch TFLite models).
        # Not for torch int8-dynamic: it quantizes activations with one range per batch, so a
        # lone image legitimately gets other logits than inside a batch (docs/compression.md).
        if not (method == "int8-dynamic" and backend == "torch"):
            np.testing.assert_allclose(single, logits[:1], rtol=1e-3, atol=1e-3)
        nonzero, total = compressed.parameter_stats()
        # At least a byte per stored non-zero weight (int8 is the smallest format here), as serialized.
        assert 0 < nonzero <= total and compressed.size_bytes() >= nonzero
        assert compressed.method == method
