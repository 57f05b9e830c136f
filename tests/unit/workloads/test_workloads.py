"""Framework-neutral workload pieces: weights, data order, augmentation, schedules, metrics, loop."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from greenbench.suite import expand, parse_suite
from greenbench.workloads import (
    ArchitectureError,
    augment_batch,
    batch_slices,
    classification_metrics,
    cross_entropy,
    epoch_order,
    generate_weights,
    initial_weights,
    learning_rate_at,
    make_augment,
    make_epoch_order,
    param_count,
    regularized_names,
    weight_specs,
)
from greenbench.workloads.training import LoopConfig, run_epochs


def arch(model: str, **kw: Any) -> dict[str, Any]:
    suite = {"name": "u", "matrix": {"model": [model], "backend": ["torch"]}, "models": {model: kw}}
    return expand(parse_suite(suite))[0].arch


def test_importing_workloads_imports_no_framework() -> None:
    import subprocess

    code = "import sys, greenbench.workloads; assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("model", ["mlp", "cnn", "rnn", "transformer"])
def test_initial_weights_are_deterministic_float32_and_seeded(model: str) -> None:
    a = arch(model)
    w1, w2, w3 = generate_weights(model, a, 0), generate_weights(model, a, 0), generate_weights(model, a, 1)
    assert list(w1) == [s.name for s in weight_specs(model, a)]
    for k in w1:
        assert w1[k].dtype == np.float32 and np.array_equal(w1[k], w2[k])
    kernels = regularized_names(model, a)
    assert any(not np.array_equal(w1[k], w3[k]) for k in kernels)
    assert sum(v.size for v in w1.values()) == param_count(model, a)


def test_initializers() -> None:
    w = generate_weights("rnn", arch("rnn", hidden=16), 0)
    rec = w["rnn_0/recurrent_kernel"]  # (16, 64), orthogonal rows
    assert np.allclose(rec @ rec.T, np.eye(16), atol=1e-5)
    bias = w["rnn_0/bias"]  # i, f, c, o
    assert np.all(bias[16:32] == 1.0) and np.all(bias[:16] == 0) and np.all(bias[32:] == 0)
    k = w["rnn_0/kernel"]
    limit = np.sqrt(6 / (28 + 64))
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.9 * limit
    t = generate_weights("transformer", arch("transformer"), 0)
    assert np.all(t["block_0/ln_1/gamma"] == 1) and np.all(t["head/bias"] == 0)
    assert 0.015 < t["pos"].std() < 0.025
    conv = generate_weights("cnn", arch("cnn"), 0)["conv_1/kernel"]  # HWIO, fans k*k*in, k*k*out
    assert conv.shape == (3, 3, 32, 64) and np.abs(conv).max() <= np.sqrt(6 / (9 * 32 + 9 * 64))


def test_initial_weights_of_a_runspec() -> None:
    spec = expand(parse_suite({"name": "u", "matrix": {"model": ["mlp"], "seed": [4]}}))[0]
    w = initial_weights(spec)
    assert np.array_equal(w["head/kernel"], generate_weights("mlp", spec.arch, 4)["head/kernel"])


def test_regularized_weights_are_kernels_only() -> None:
    names = regularized_names("transformer", arch("transformer", pooling="cls"))
    assert all(n.endswith("kernel") for n in names)
    assert "patch/kernel" in names and "block_0/attn/query/kernel" in names and "head/kernel" in names
    assert not any(n in names for n in ("cls", "pos", "block_0/ln_1/gamma"))
    assert "rnn_0/recurrent_kernel" in regularized_names("rnn", arch("rnn"))


def test_geometry_errors_are_clear() -> None:
    bad = {**arch("cnn"), "kernel_size": 9, "channels": [4, 4, 4, 4]}
    with pytest.raises(ArchitectureError, match="shrink the 28x28 image"):
        weight_specs("cnn", bad)
    with pytest.raises(ArchitectureError, match="divisible"):
        weight_specs("transformer", {**arch("transformer"), "dim": 10, "heads": 3})
    with pytest.raises(ArchitectureError, match="unknown model"):
        weight_specs("gan", {})


def test_param_counts_of_variants() -> None:
    gru = arch("rnn", cell="gru", hidden=10, layers=2)
    # GRU with reset_after: 3 gates, input and recurrent bias.
    assert param_count("rnn", gru) == (28 * 30 + 10 * 30 + 60) + (10 * 30 + 10 * 30 + 60) + 110
    mean = arch("transformer", pooling="mean")
    cls = arch("transformer", pooling="cls")
    assert param_count("transformer", cls) - param_count("transformer", mean) == 64 + 64  # class token + its position


def test_epoch_order_is_a_seeded_permutation() -> None:
    o = epoch_order(3, 0, 100)
    assert sorted(o) == list(range(100))
    assert np.array_equal(o, epoch_order(3, 0, 100))
    assert not np.array_equal(o, epoch_order(3, 1, 100)) and not np.array_equal(o, epoch_order(4, 0, 100))
    assert np.array_equal(make_epoch_order(3, 100)(1), epoch_order(3, 1, 100))


def test_batch_slices_keep_the_last_partial_batch() -> None:
    s = batch_slices(10, 4)
    assert [(x.start, x.stop) for x in s] == [(0, 4), (4, 8), (8, 10)]


def test_augmentation_is_reproducible_and_sensible() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((8, 28, 28), np.float32)
    x[:, 10:18, 12:16] = rng.random((8, 8, 4), dtype=np.float32)
    assert augment_batch(x, "none", 0, 0, 0) is x
    assert make_augment("none", 0) is None
    for kind in ("shift", "rotate", "shift-rotate"):
        a = augment_batch(x, kind, 5, 2, 7)
        assert a.dtype == np.float32 and a.shape == x.shape
        assert np.array_equal(a, make_augment(kind, 5)(x, 2, 7))  # the same for both backends
        assert not np.array_equal(a, augment_batch(x, kind, 5, 2, 8))  # per batch
        assert not np.allclose(a, x)
        # Interpolation neither invents ink nor loses much of it (the digit stays inside the frame).
        assert a.min() >= 0 and a.max() <= x.max() + 1e-6
        assert np.allclose(a.sum(axis=(1, 2)), x.sum(axis=(1, 2)), rtol=0.1)
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment_batch(x, "flip", 0, 0, 0)


def test_integer_shift_moves_pixels_exactly() -> None:
    from greenbench.workloads.data import _warp

    x = np.random.default_rng(1).random((2, 28, 28), dtype=np.float32)
    zero = np.zeros(2)
    out = _warp(x, zero, np.array([1.0, 1.0]), np.array([0.0, -2.0]))
    assert np.allclose(out[0, :, 1:], x[0, :, :-1]) and np.all(out[0, :, 0] == 0)
    assert np.allclose(out[1, :-2, 1:], x[1, 2:, :-1])
    assert np.allclose(_warp(x, zero, zero, zero), x)
    quarter = _warp(x, np.array([np.pi / 2, np.pi / 2]), zero, zero)
    assert np.allclose(quarter[0], np.rot90(x[0], k=-1), atol=1e-5)  # y axis points down: clockwise on screen


def test_schedules() -> None:
    assert learning_rate_at("constant", 0.1, 50, 100) == 0.1
    assert learning_rate_at("cosine", 0.1, 0, 100) == pytest.approx(0.1)
    assert learning_rate_at("cosine", 0.1, 50, 100) == pytest.approx(0.05)
    assert learning_rate_at("cosine", 0.1, 99, 100) < 0.001
    assert [learning_rate_at("step", 1.0, s, 100) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01])
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        learning_rate_at("linear", 0.1, 0, 10)


def test_metrics() -> None:
    logits = np.array([[5.0, 0, 0], [0, 5.0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    y = np.array([0, 1, 2, 2])
    m = classification_metrics(logits, y, num_classes=3)
    assert m["accuracy"] == 0.75
    assert m["confusion"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert m["per_class_accuracy"] == [1.0, 1.0, 0.5]
    assert m["predictions"].dtype == np.int64 and list(m["predictions"]) == [0, 1, 1, 2]
    p = np.exp(5) / (np.exp(5) + 2)
    assert m["loss"] == pytest.approx(np.mean([-np.log(p)] * 3 + [-np.log(1 / (np.exp(5) + 2))]))
    assert cross_entropy(np.array([[1000.0, 0.0]]), np.array([0])) == pytest.approx(0.0)  # stable
    assert np.isnan(classification_metrics(logits[:2], y[:2], num_classes=3)["per_class_accuracy"][2])


class _Recorder:
    """A fake Stepper recording what the loop feeds it (the loop itself is framework-neutral)."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, np.ndarray | None, float]] = []

    def begin_epoch(self) -> None:
        self.calls.append(("begin", None, 0.0))  # type: ignore[arg-type]

    def step(self, index: np.ndarray, x_batch: np.ndarray | None, lr: float) -> None:
        self.calls.append((index.copy(), x_batch, lr))

    def end_epoch(self) -> tuple[float, float]:
        return 10.0, 5.0

    def logits(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x), 10), np.float32)
        out[:, 3] = 1.0
        return out


def test_loop_feeds_the_shared_order_schedule_and_augmentation() -> None:
    x = np.random.default_rng(0).random((10, 28, 28), dtype=np.float32)
    y = np.arange(10) % 10
    rec = _Recorder()
    aug = make_augment("shift", 1)
    after: list[int] = []
    hist = run_epochs(
        rec, LoopConfig(epochs=2, batch_size=4, base_lr=0.1, schedule="step", seed=1),
        x_train=x, y_train=y, x_val=x[:4], y_val=np.array([3, 3, 1, 2]),
        epoch_order=make_epoch_order(1, 10), augment=aug, after_step=lambda: after.append(1),
    )
    steps = [c for c in rec.calls if not isinstance(c[0], str)]
    assert len(steps) == 6 and len(after) == 6
    assert np.array_equal(np.concatenate([s[0] for s in steps[:3]]), epoch_order(1, 0, 10))
    assert np.array_equal(np.concatenate([s[0] for s in steps[3:]]), epoch_order(1, 1, 10))
    assert [s[2] for s in steps] == pytest.approx([0.1, 0.1, 0.1, 0.01, 0.01, 0.001])
    # Batch 1 of epoch 1 is augmented from exactly its images, with (epoch, batch) = (1, 1).
    assert np.array_equal(steps[4][1], aug(x[steps[4][0]], 1, 1))
    assert [h["epoch"] for h in hist] == [1, 2]
    assert hist[0]["train_loss"] == 1.0 and hist[0]["train_accuracy"] == 0.5
    assert hist[0]["val_accuracy"] == 0.5 and hist[0]["learning_rate"] == pytest.approx(0.1)


def test_loop_stops_on_request_and_checks_the_order() -> None:
    x = np.zeros((6, 28, 28), np.float32)
    y = np.zeros(6, np.int64)
    hist = run_epochs(_Recorder(), LoopConfig(epochs=5, batch_size=4, base_lr=0.1, schedule="constant", seed=0),
                      x_train=x, y_train=y, x_val=None, y_val=None, epoch_order=make_epoch_order(0, 6),
                      on_epoch_end=lambda s: s["epoch"] == 2)
    assert len(hist) == 2 and hist[0]["val_accuracy"] is None
    with pytest.raises(ValueError, match="expected"):
        run_epochs(_Recorder(), LoopConfig(epochs=1, batch_size=4, base_lr=0.1, schedule="constant", seed=0),
                   x_train=x, y_train=y, x_val=None, y_val=None, epoch_order=make_epoch_order(0, 5))
