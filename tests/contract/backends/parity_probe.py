"""What one framework computes for the cross-backend parity tests, in a process of its own.

``python parity_probe.py FRAMEWORK OUT.pkl`` builds every parity case with FRAMEWORK's backend
from the same inputs (real MNIST from ``$GREENBENCH_DATA_DIR``, initial weights generated in
numpy) and pickles what it computed — parameter counts, logits, weights after optimizer steps,
training trajectories — keyed by case id. ``test_parity.py`` runs this once per framework, each in
its own process (TensorFlow and torch's triton segfault in one), and compares the two files.

The cases are defined here, once, so both processes and the comparing test see the same list.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np

from backend_support import make_spec, train_data

# Default sizes (empty dict) and non-default ones for every model.
ARCHS: list[tuple[str, dict[str, Any]]] = [
    ("mlp", {}),
    ("mlp", {"hidden": [64, 32, 16], "activation": "tanh"}),
    ("mlp", {"hidden": [48], "activation": "gelu"}),
    ("cnn", {}),
    ("cnn", {"channels": [8, 16, 8], "kernel_size": 5, "pool": 3, "dense": 24, "activation": "sigmoid"}),
    ("rnn", {}),
    ("rnn", {"hidden": 24, "layers": 3}),
    ("rnn", {"cell": "gru"}),
    ("rnn", {"cell": "gru", "hidden": 20, "layers": 2}),
    ("transformer", {}),
    ("transformer", {"pooling": "mean"}),
    ("transformer", {"patch_size": 4, "dim": 24, "heads": 3, "depth": 3, "mlp_dim": 40}),
    ("transformer", {"patch_size": 14, "dim": 16, "heads": 1, "depth": 1, "mlp_dim": 8, "pooling": "mean"}),
]
ARCH_IDS = [f"{m}-{'-'.join(f'{k}{v}' for k, v in a.items()) or 'default'}" for m, a in ARCHS]
LOGIT_SEED = 3
ROUND_TRIP_ARCHS = {"cnn": {"channels": [4, 8], "dense": 16}, "rnn": {"cell": "gru", "hidden": 8, "layers": 2}}

# Small widths: these cases are about update rules, not model size. Dropout off so the two
# frameworks' (unshared) dropout masks cannot enter.
STEP_ARCHS = {
    "mlp": {"hidden": [32], "dropout": 0.0},
    "cnn": {"channels": [4, 8], "dense": 16, "dropout": 0.0, "dense_dropout": 0.0},
    "rnn": {"hidden": 16},
    "gru": {"cell": "gru", "hidden": 16},
    "transformer": {"dim": 16, "heads": 2, "depth": 1, "mlp_dim": 32, "dropout": 0.0},
}
OPTIMIZERS: list[tuple[str, dict[str, Any]]] = [
    ("sgd", {}),
    ("sgd", {"sgd": {"nesterov": True}}),
    ("sgd", {"sgd": {"momentum": 0.0}}),
    ("adam", {}),
    ("rmsprop", {}),
    ("rmsprop", {"rmsprop": {"momentum": 0.9}}),
]
OPTIMIZER_IDS = [f"{o}-{c}" if c else o for o, c in OPTIMIZERS]
REGULARIZERS = [(0.0, 1e-3), (1e-4, 0.0), (1e-4, 1e-3)]
# Every optimizer on every model without regularization; L1 and L2 on the MLP and the transformer
# (between them: dense, attention, patch-embedding and head kernels).
STEP_CASES: list[tuple[str, str, dict[str, Any], float, float]] = [
    (m, o, c, 0.0, 0.0) for m in STEP_ARCHS for o, c in OPTIMIZERS
] + [(m, o, c, l1, l2) for m in ("mlp", "transformer") for o, c in OPTIMIZERS for l1, l2 in REGULARIZERS if l1 or l2]
STEP_IDS = [f"{m}-{o}{'-' + str(c) if c else ''}-l1={a}-l2={b}" for m, o, c, a, b in STEP_CASES]
SCHEDULES = ("cosine", "step")
SCHEDULE_STEPS = 4
SCHEDULE_L2 = 1e-4
TRAJECTORIES = [(m, a) for m in ("mlp", "transformer") for a in ("none", "shift-rotate")]
TRAJECTORY_N_TRAIN = 640


def step_spec(backend: str, model: str, optimizer: str, optimizers: dict[str, Any], l1: float, l2: float) -> Any:
    arch_model = "rnn" if model == "gru" else model
    return make_spec(backend, arch_model, STEP_ARCHS[model], optimizer=optimizer, optimizers=optimizers, l1=l1, l2=l2)


def schedule_lrs(schedule: str, optimizer: str, optimizers: dict[str, Any]) -> list[float | None]:
    from greenbench.workloads import learning_rate_at

    base = make_spec("torch", "mlp", optimizer=optimizer, optimizers=optimizers).training.learning_rate
    return [learning_rate_at(schedule, base, i, SCHEDULE_STEPS) for i in range(SCHEDULE_STEPS)]


def load_mnist() -> Any:
    """The subset the contract tests use: 1,000 train (100 of them validation), 500 test."""
    from greenbench.data import load_dataset

    return load_dataset("mnist", Path(os.environ["GREENBENCH_DATA_DIR"]), train_samples=1000, test_samples=500,
                        validation_samples=100, seed=0, download=False, progress=False)


def _built(framework: str, spec: Any) -> Any:
    from greenbench.backends.base import get_backend
    from greenbench.workloads import initial_weights

    be = get_backend(framework)
    be.setup(spec)
    be.build(spec, initial_weights(spec))
    return be


def _torch_builtin_step(be: Any, optimizer: str, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Negative control: one step of torch's own Adam / RMSprop (epsilon placed as torch does)."""
    import torch

    cfg = be.spec.optimizer_config
    params = [p for p in be.model.parameters() if p.requires_grad]
    if optimizer == "adam":
        builtin = torch.optim.Adam(params, lr=cfg["learning_rate"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["epsilon"])
    else:
        builtin = torch.optim.RMSprop(params, lr=cfg["learning_rate"], alpha=cfg["rho"], eps=cfg["epsilon"])
    loss, _ = be._objective(be.model, torch.from_numpy(x.copy()), torch.from_numpy(y.copy()))
    loss.backward()
    builtin.step()
    return be.canonical_weights()


def compute(framework: str) -> dict[str, Any]:
    """Every parity case computed by one framework's backend."""
    from greenbench.backends.base import Hooks

    mnist = load_mnist()
    data = train_data(mnist)
    x_logits = data.x_test[:64]
    x_step, y_step = data.x_train[:64], data.y_train[:64]
    out: dict[str, Any] = {"framework": framework}

    for case, (model, arch) in zip(ARCH_IDS, ARCHS):
        out[f"params/{case}"] = _built(framework, make_spec(framework, model, arch)).param_count()
        out[f"logits/{case}"] = _built(framework, make_spec(framework, model, arch, seed=LOGIT_SEED)).predict(x_logits)

    for case, (model, optimizer, optimizers, l1, l2) in zip(STEP_IDS, STEP_CASES):
        be = _built(framework, step_spec(framework, model, optimizer, optimizers, l1, l2))
        loss = be.train_batch(x_step, y_step, None)
        out[f"step/{case}"] = {"weights": be.canonical_weights(), "loss": loss}

    for schedule in SCHEDULES:
        for oid, (optimizer, optimizers) in zip(OPTIMIZER_IDS, OPTIMIZERS):
            be = _built(framework, step_spec(framework, "mlp", optimizer, optimizers, 0.0, SCHEDULE_L2))
            for lr in schedule_lrs(schedule, optimizer, optimizers):
                be.train_batch(x_step, y_step, lr)
            out[f"schedule/{schedule}/{oid}"] = be.canonical_weights()

    if framework == "torch":
        for optimizer in ("adam", "rmsprop"):
            be = _built(framework, step_spec(framework, "mlp", optimizer, {}, 0.0, 0.0))
            out[f"builtin/{optimizer}"] = _torch_builtin_step(be, optimizer, x_step, y_step)

    for model, augmentation in TRAJECTORIES:
        tdata = train_data(mnist, augmentation=augmentation, n_train=TRAJECTORY_N_TRAIN)
        spec = make_spec(framework, model, STEP_ARCHS[model], optimizer="sgd", augmentation=augmentation, epochs=2,
                         batch_size=64, schedule="cosine", l2=1e-4)
        be = _built(framework, spec)
        history = be.train(tdata, Hooks())
        out[f"trajectory/{model}/{augmentation}"] = {"weights": be.canonical_weights(), "history": history}

    from framework_guard import loaded_frameworks

    out["loaded_frameworks"] = sorted(loaded_frameworks())
    return out


def main(argv: list[str]) -> int:
    framework, path = argv
    result = compute(framework)
    tmp = Path(path + ".tmp")
    tmp.write_bytes(pickle.dumps(result))
    tmp.replace(path)
    return 0


if __name__ == "__main__":
    # tests/ (framework_guard) and this folder (backend_support) on the path, as under pytest.
    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here), str(here.parents[1])]
    sys.exit(main(sys.argv[1:]))
