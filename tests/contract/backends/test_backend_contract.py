"""The Backend contract, run once per backend on real frameworks and a small real MNIST subset.

Every test here imports one framework: it is marked with it and runs in that framework's pytest
session (tests/framework_guard.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from backend_support import MODELS, make_spec, max_weight_diff, train_data
from framework_guard import backend_params

from greenbench.backends.base import EpochStats, Evaluation, Hooks, Unsupported, framework_installed, get_backend
from greenbench.workloads import initial_weights, parity

BACKENDS = backend_params()

SMALL = {
    "mlp": {"hidden": [32]},
    "cnn": {"channels": [4, 8], "dense": 16},
    "rnn": {"hidden": 16},
    "transformer": {"dim": 16, "heads": 2, "depth": 1, "mlp_dim": 32},
}


def _backend(name: str) -> Any:
    if not framework_installed(name):
        pytest.skip(f"{name} is not installed")
    return get_backend(name)


# --------------------------------------------------------------------------- devices
@pytest.mark.parametrize("backend", BACKENDS)
def test_absent_devices_give_a_reason(backend: str) -> None:
    be = _backend(backend)
    assert be.device_unavailable("cpu") is None
    for device in ("cuda", "mps"):
        reason = be.device_unavailable(device)
        if reason is None:
            continue  # this machine has that device
        assert reason.startswith("unavailable: ") and len(reason) > len("unavailable: ") + 10
        spec = make_spec(backend, "mlp", device=device)
        assert be.skip(spec) == reason
        with pytest.raises(Unsupported, match="unavailable"):
            be.setup(spec)
    assert "unknown device" in be.device_unavailable("tpu")


def _framework_sees_gpu(backend: str) -> bool:
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_cuda_reported_exactly_when_the_framework_sees_no_gpu(backend: str) -> None:
    """A CUDA run is skipped with a reason exactly when the framework itself finds no GPU (never a crash)."""
    be = _backend(backend)
    reason = be.device_unavailable("cuda")
    if _framework_sees_gpu(backend):
        assert reason is None
    else:
        assert reason is not None and reason.startswith("unavailable: ")


@pytest.mark.tensorflow
def test_tensorflow_has_no_mps() -> None:
    """MPS is torch's Apple-silicon device; TensorFlow runs there through its own plugin, not 'mps'."""
    assert _backend("tensorflow").device_unavailable("mps").startswith("unavailable: ")


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.parametrize("backend", BACKENDS)
def test_cuda_logits_match_cpu(build: Any, mnist: Any, backend: str) -> None:
    be = _backend(backend)
    if be.device_unavailable("cuda"):
        pytest.skip(be.device_unavailable("cuda"))
    x = train_data(mnist).x_test[:64]
    cpu = build(backend, "transformer", SMALL["transformer"]).predict(x)
    gpu = build(backend, "transformer", SMALL["transformer"], device="cuda")
    assert np.max(np.abs(gpu.predict(x) - cpu)) <= 1e-4  # TF32 is off in both backends
    assert gpu.peak_device_memory() > 0


@pytest.mark.slow  # trains
# --------------------------------------------------------------------------- training, evaluation
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_train_evaluate_and_wrap(build: Any, mnist: Any, backend: str, model: str) -> None:
    data = train_data(mnist, n_train=512)
    # A brisk rate: 16 steps must lift even the 16-unit LSTM well above chance.
    be = build(backend, model, SMALL[model], epochs=2, batch_size=64, optimizers={"adam": {"learning_rate": 0.005}})
    began: list[int] = []
    ended: list[EpochStats] = []
    history = be.train(data, Hooks(on_epoch_begin=began.append, on_epoch_end=lambda s: ended.append(s) or False))
    assert began == [1, 2] and [s.epoch for s in history] == [1, 2] and ended == history
    for s in history:
        assert np.isfinite(s.train_loss) and 0.0 <= s.train_accuracy <= 1.0
        assert s.val_accuracy is not None and 0.0 <= s.val_accuracy <= 1.0 and np.isfinite(s.val_loss)
        assert s.learning_rate == 0.005
    assert history[1].train_loss < history[0].train_loss

    wrapped = be.compress("none", data)
    assert wrapped.method == "none"
    ev = be.evaluate(wrapped, data.x_test, data.y_test)
    assert isinstance(ev, Evaluation)
    # 16 steps on real MNIST: far above chance (0.10 +- 0.013 on 500 test images) for every model.
    assert ev.accuracy > 0.2
    assert ev.predictions.shape == (len(data.y_test),) and ev.predictions.dtype == np.int64
    confusion = np.asarray(ev.confusion)
    assert confusion.shape == (10, 10) and confusion.sum() == len(data.y_test)
    assert np.trace(confusion) == round(ev.accuracy * len(data.y_test))
    assert len(ev.per_class_accuracy) == 10 and np.isfinite(ev.loss)
    nonzero, total = wrapped.parameter_stats()
    assert total == be.param_count() and 0.99 * total <= nonzero <= total
    assert wrapped.size_bytes() > 4 * total  # float32 weights plus the format's own overhead
    assert be.threads() == {"intra_op": be.spec.training.threads, "inter_op": parity.INTER_OP_THREADS}


@pytest.mark.slow  # trains
@pytest.mark.parametrize("backend", BACKENDS)
def test_target_accuracy_stops_early(build: Any, mnist: Any, backend: str) -> None:
    data = train_data(mnist, n_train=256)
    be = build(backend, "mlp", SMALL["mlp"], epochs=5, batch_size=64)
    history = be.train(data, Hooks(on_epoch_end=lambda s: s.epoch >= 2))
    assert [s.epoch for s in history] == [1, 2]


@pytest.mark.slow  # trains
@pytest.mark.parametrize("backend", BACKENDS)
def test_no_validation_set(build: Any, mnist: Any, backend: str) -> None:
    data = train_data(mnist, n_train=256)
    data.x_val, data.y_val = data.x_val[:0], data.y_val[:0]
    history = build(backend, "mlp", SMALL["mlp"], epochs=1).train(data, Hooks())
    assert history[0].val_accuracy is None and history[0].val_loss is None


@pytest.mark.slow  # trains
@pytest.mark.parametrize("backend", BACKENDS)
def test_finetune_calls_after_step_and_keeps_the_trained_model(build: Any, mnist: Any, backend: str) -> None:
    import copy

    data = train_data(mnist, n_train=300)
    be = build(backend, "mlp", SMALL["mlp"], epochs=1, batch_size=100)
    be.train(data, Hooks())
    trained = be.canonical_weights()
    calls: list[int] = []
    if backend == "torch":
        other = copy.deepcopy(be.model)
    else:
        from greenbench.backends.tensorflow.models import build_model

        other = build_model(be.spec.model, be.spec.arch)
        other.set_weights(be.model.get_weights())
    history = be.finetune(data, 2, lambda: calls.append(1), model=other)
    assert len(calls) == 2 * 3 and [s.epoch for s in history] == [2, 3]
    diff, _ = max_weight_diff(be.canonical_weights(), trained)
    assert diff == 0.0, "finetune(model=other) changed the backend's own model"
    assert be.evaluate(be.wrap(other), data.x_test, data.y_test).accuracy > 0.3


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_architecture_is_unsupported(backend: str) -> None:
    be = _backend(backend)
    spec = make_spec(backend, "cnn", {"channels": [8, 8, 8, 8]})
    # The schema's limits (kernel_size <= 7) keep every CNN buildable; a hand-made spec can still
    # ask for convolutions that shrink the image to nothing.
    spec = spec.model_copy(update={"arch": {**spec.arch, "kernel_size": 9}})
    assert "unsupported" in be.skip(spec) and "kernel_size" in be.skip(spec)
    with pytest.raises(Unsupported, match="shrink"):
        be.build(spec, {})


@pytest.mark.slow  # trains
# --------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("model", ["mlp", "transformer"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_twice_same_result(build: Any, mnist: Any, backend: str, model: str) -> None:
    """Dropout on, augmentation on: two runs with one seed in one process are identical."""
    runs = []
    for _ in range(2):
        data = train_data(mnist, augmentation="shift-rotate", n_train=256, seed=7)
        be = build(backend, model, SMALL[model], seed=7, augmentation="shift-rotate", epochs=2, batch_size=64)
        history = be.train(data, Hooks())
        runs.append((be.canonical_weights(), history, be.predict(data.x_test[:50])))
    diff, where = max_weight_diff(runs[0][0], runs[1][0])
    assert diff == 0.0, f"{where} differs by {diff} between two runs of one seed"
    assert runs[0][1] == runs[1][1]
    assert np.array_equal(runs[0][2], runs[1][2])


@pytest.mark.slow  # trains
@pytest.mark.parametrize("backend", BACKENDS)
def test_other_seed_other_result(build: Any, mnist: Any, backend: str) -> None:
    weights = []
    for seed in (1, 2):
        data = train_data(mnist, n_train=128, seed=seed)
        be = build(backend, "mlp", SMALL["mlp"], seed=seed, epochs=1, batch_size=64)
        be.train(data, Hooks())
        weights.append(be.canonical_weights())
    assert max_weight_diff(weights[0], weights[1])[0] > 1e-3


@pytest.mark.parametrize("backend", BACKENDS)
def test_load_weights_round_trip(build: Any, backend: str) -> None:
    be = build(backend, "rnn", {"cell": "gru", "hidden": 8})
    w = {k: v + 0.5 for k, v in initial_weights(be.spec).items()}
    be.load_weights(w)
    assert max_weight_diff(be.canonical_weights(), w)[0] == 0.0
    with pytest.raises(ValueError, match="missing"):
        be.load_weights({k: v for k, v in w.items() if k != "head/bias"})


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_initial_weights_round_trip(build: Any, backend: str, model: str) -> None:
    """Canonical → framework layout → canonical is the identity."""
    arch = {"cnn": {"channels": [4, 8], "dense": 16}, "rnn": {"cell": "gru", "hidden": 8, "layers": 2}}.get(model, {})
    be = build(backend, model, arch, seed=5)
    diff, where = max_weight_diff(be.canonical_weights(), initial_weights(be.spec))
    assert diff == 0.0, f"{backend}: {where} changed by {diff} on load/export"


_THREADS_PROBE = """
import json
from greenbench.backends.base import get_backend
from greenbench.suite import expand, parse_suite
spec = expand(parse_suite({{"name": "threads", "matrix": {{"backend": [{backend!r}], "model": ["mlp"]}},
                            "models": {{"mlp": {{"hidden": [8]}}}}, "training": {{"threads": {threads}}}}}))[0]
be = get_backend({backend!r})
be.setup(spec)
print(json.dumps(be.threads()))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_threads_follow_the_spec_not_the_machine(backend: str) -> None:
    """A thread count other than this machine's core count, in a fresh process (TensorFlow fixes its pools once)."""
    _backend(backend)
    # The cores this process may use (its CPU affinity: a container's or `taskset`'s cpuset), which is what the
    # backends size "all" by (greenbench.backends.common.available_cores); os.cpu_count() counts the host's, and
    # under `taskset -c 0` it chose 1 thread, the very count the machine would have given: nothing was tested.
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = 1 if usable > 1 else 2
    done = subprocess.run([sys.executable, "-c", _THREADS_PROBE.format(backend=backend, threads=threads)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got == {"intra_op": threads, "inter_op": parity.INTER_OP_THREADS}
