"""The PyTorch backend: eager training from in-memory tensors (no DataLoader) in the parity loop;
``loop: idiomatic`` trains with a standard ``DataLoader`` loop and a stock ``torch.optim`` optimizer.

Imported only by a worker process (or a test) that runs torch workloads. See
:mod:`greenbench.backends.base` for the contract and :mod:`greenbench.workloads` for
everything the two backends share.
"""

from __future__ import annotations

import io
import os
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from greenbench.backends.base import EpochStats, Hooks, TrainData, Unsupported
from greenbench.backends.common import BackendBase, ChunkedModel
from greenbench.backends.torch.models import build_model, export_canonical, load_canonical, regularized_parameters
from greenbench.backends.torch.optim import ParityOptimizer
from greenbench.workloads import parity
from greenbench.workloads.specs import ArchitectureError

DEVICES = ("cpu", "cuda", "mps")


def as_tensor(a: np.ndarray, dtype: Any, device: torch.device) -> torch.Tensor:
    """``a`` as a torch tensor on ``device``; read-only arrays (the data layer's) are copied first."""
    a = np.asarray(a, dtype=dtype)
    if not a.flags.writeable or not a.flags.c_contiguous:
        a = np.array(a, dtype=dtype, order="C")
    return torch.from_numpy(a).to(device)


def _device_reason(device: str) -> str | None:
    if device == "cpu":
        return None
    if device == "cuda":
        if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
            return f"unavailable: this torch build ({torch.__version__}) has no CUDA support"
        if not torch.cuda.is_available():
            return "unavailable: torch sees no CUDA device (no GPU, no driver, or CUDA_VISIBLE_DEVICES hides it)"
        return None
    if device == "mps":
        if not torch.backends.mps.is_built():
            return f"unavailable: this torch build ({torch.__version__}) has no MPS support (Apple silicon only)"
        if not torch.backends.mps.is_available():
            return "unavailable: MPS is built but not available (needs macOS 12.3+ on Apple silicon)"
        return None
    return f"unavailable: unknown device {device!r}; torch supports {', '.join(DEVICES)}"


def standard_optimizer(name: str, params: Any, config: dict[str, Any]) -> torch.optim.Optimizer:
    """The stock ``torch.optim`` optimizer of ``name`` with the run's hyperparameters, as a torch user
    writes it: the parity optimizer's learning rate, momentum/Nesterov, betas, rho and epsilon, but
    torch's own update rules (Adam's epsilon on the bias-corrected root, RMSprop's epsilon outside
    the root and its learning rate outside the momentum buffer: see greenbench.workloads.parity)."""
    lr = float(config["learning_rate"])
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(config["momentum"]), nesterov=bool(config["nesterov"]))
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(float(config["beta1"]), float(config["beta2"])), eps=float(config["epsilon"]))
    if name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=lr, alpha=float(config["rho"]), eps=float(config["epsilon"]), momentum=float(config["momentum"])
        )
    raise ValueError(f"unknown optimizer {name!r}; use sgd, adam or rmsprop")


class TorchModel(ChunkedModel):
    """A trained (uncompressed) torch model behind the :class:`~greenbench.backends.base.CompressedModel` protocol."""

    def __init__(self, module: torch.nn.Module, device: torch.device, method: str = "none", batch_size: int = 1000):
        self.module = module
        self.device = device
        self.method = method
        self.batch_size = batch_size

    @torch.inference_mode()
    def _predict_batch(self, x: np.ndarray) -> np.ndarray:
        xt = as_tensor(x, np.float32, self.device)
        return self.module(xt).float().cpu().numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.module.eval()
        return super().predict(x)

    def size_bytes(self) -> int:
        buf = io.BytesIO()
        torch.save(self.module.state_dict(), buf)
        return buf.getbuffer().nbytes

    def parameter_stats(self) -> tuple[int, int]:
        nonzero = total = 0
        for p in self.module.parameters():
            if p.requires_grad:  # the frozen zero LSTM bias_hh is not a weight of the model (Keras has none)
                nonzero += int(torch.count_nonzero(p).item())
                total += p.numel()
        return nonzero, total


class _Stepper:
    """Optimizer steps for :func:`greenbench.workloads.training.run_epochs`."""

    def __init__(self, backend: "TorchBackend", module: torch.nn.Module, optimizer: ParityOptimizer, data: TrainData):
        self.backend = backend
        self.module = module
        self.optimizer = optimizer
        dev = backend.device
        self.x = as_tensor(data.x_train, np.float32, dev)
        self.y = as_tensor(data.y_train, np.int64, dev)
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        self.correct = torch.zeros((), dtype=torch.int64, device=dev)

    def begin_epoch(self) -> None:
        self.module.train()
        self.loss_sum.zero_()
        self.correct.zero_()

    def step(self, index: np.ndarray, x_batch: np.ndarray | None, lr: float) -> None:
        idx = torch.from_numpy(index).to(self.backend.device, non_blocking=True)
        xb = self.x[idx] if x_batch is None else as_tensor(x_batch, np.float32, self.backend.device)
        yb = self.y[idx]
        loss, logits = self.backend._objective(self.module, xb, yb)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step(lr)
        with torch.no_grad():  # epoch statistics stay on the device: no sync per step
            self.loss_sum.add_(loss.detach(), alpha=yb.shape[0])  # accumulated in float64
            self.correct.add_((logits.argmax(dim=1) == yb).sum())

    def end_epoch(self) -> tuple[float, float]:
        return float(self.loss_sum.item()), float(self.correct.item())

    def logits(self, x: np.ndarray) -> np.ndarray:
        self.module.eval()
        with torch.inference_mode():
            out = self.module(as_tensor(x, np.float32, self.backend.device))
        return out.float().cpu().numpy()


class TorchBackend(BackendBase):
    """PyTorch implementation of :class:`greenbench.backends.base.Backend` (the shared part: :class:`BackendBase`).

    After :meth:`build`: ``self.model`` (the ``nn.Module``), ``self.spec`` (the ``RunSpec``),
    ``self.device`` (a ``torch.device``), ``self.optimizer`` (a :class:`ParityOptimizer`).
    """

    name: ClassVar[str] = "torch"
    compress_module: ClassVar[str] = "greenbench.backends.torch.compress"
    models_module: ClassVar[str | None] = "greenbench.backends.torch.models"

    def __init__(self) -> None:
        super().__init__()
        self.model: torch.nn.Module | None = None
        self.device = torch.device("cpu")
        self.optimizer: ParityOptimizer | None = None
        self._regularized: list[torch.nn.Parameter] = []
        self._threads: dict[str, int] = {}

    # ------------------------------------------------------------------ environment
    def device_unavailable(self, device: str) -> str | None:
        return _device_reason(device)

    def warm_up(self) -> None:
        """One-time costs, paid before any measured window: the first ``use_deterministic_algorithms``
        call imports torch's compiler stack (1.5–2 s here), which would land in one workload's setup."""
        torch.use_deterministic_algorithms(
            torch.are_deterministic_algorithms_enabled(),
            warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
        )

    def _device(self, device: str) -> torch.device:
        return torch.device(device)

    def _configure(self, spec: Any) -> None:
        # Determinism: the same seed twice gives the same result.
        if parity.DETERMINISTIC:
            if spec.device == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        if parity.DISABLE_TF32:
            # CUDA only (no-ops elsewhere): full float32 matmul and convolution, as TensorFlow is set to.
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.set_float32_matmul_precision("highest")

    def _set_threads(self, intra: int) -> None:
        torch.set_num_threads(intra)
        if torch.get_num_interop_threads() != parity.INTER_OP_THREADS:
            try:
                torch.set_num_interop_threads(parity.INTER_OP_THREADS)
            except RuntimeError:
                pass  # can only be set before the first parallel work; the actual value is recorded below
        self._threads = {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}

    def threads(self) -> dict[str, int]:
        """The thread pools torch actually uses: ``{"intra_op": n, "inter_op": m}``."""
        return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}

    # ------------------------------------------------------------------ model
    def build(self, spec: Any, weights: dict[str, np.ndarray]) -> None:
        self.setup(spec)  # idempotent; the runner calls it first too
        torch.manual_seed(spec.seed)  # dropout masks
        try:
            module = build_model(spec.model, spec.arch)
        except ArchitectureError as exc:
            raise Unsupported(f"unsupported: {exc}") from None
        load_canonical(module, weights)
        self.model = module.to(self.device)
        self._regularized = regularized_parameters(self.model, spec.model, spec.arch)
        self.optimizer = self._new_optimizer(self.model)

    def _new_optimizer(self, module: torch.nn.Module, learning_rate: float | None = None) -> ParityOptimizer:
        config = dict(self.spec.optimizer_config)
        if learning_rate is not None:
            config["learning_rate"] = learning_rate
        params = [p for p in module.parameters() if p.requires_grad]
        return ParityOptimizer(self.spec.optimizer, params, config)

    def param_count(self) -> int:
        return sum(p.numel() for p in self._built().parameters() if p.requires_grad)

    def canonical_weights(self) -> dict[str, np.ndarray]:
        """The current weights in the canonical (framework-neutral) layout."""
        return export_canonical(self._built())

    def load_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Overwrite the model's weights with canonical ``weights`` (optimizer state is kept)."""
        load_canonical(self._built(), weights)

    # ------------------------------------------------------------------ training
    def _penalty_params(self, module: torch.nn.Module) -> list[torch.nn.Parameter]:
        if module is self.model:
            return self._regularized
        return regularized_parameters(module, self.spec.model, self.spec.arch)

    def _objective(self, module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cross-entropy from logits, mean over the batch, + L1/L2 on kernels; logits)."""
        logits = module(x)
        loss = F.cross_entropy(logits, y)
        l1, l2 = self.spec.training.l1, self.spec.training.l2
        if l1 or l2:
            params = self._penalty_params(module)
            if l1:
                loss = loss + l1 * torch.stack([p.abs().sum() for p in params]).sum()
            if l2:
                loss = loss + l2 * torch.stack([p.square().sum() for p in params]).sum()
        return loss, logits

    def train_batch(self, x: np.ndarray, y: np.ndarray, lr: float | None = None) -> float:
        """One optimizer step on (x, y) in training mode; returns the batch objective before the step."""
        assert self.model is not None and self.optimizer is not None, "build() first"
        self.model.train()
        xb = as_tensor(x, np.float32, self.device)
        yb = as_tensor(y, np.int64, self.device)
        loss, _ = self._objective(self.model, xb, yb)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step(self.spec.training.learning_rate if lr is None else lr)
        return float(loss.item())

    def _train_stepper(self, data: TrainData) -> _Stepper:
        assert self.model is not None and self.optimizer is not None, "build() first"
        return _Stepper(self, self.model, self.optimizer, data)

    def _finetune_stepper(self, data: TrainData, model: torch.nn.Module) -> _Stepper:
        return _Stepper(self, model, self._new_optimizer(model), data)

    def _train_idiomatic(self, data: TrainData, hooks: Hooks) -> list[EpochStats]:
        """The training loop of torch's tutorials: a shuffling ``DataLoader`` over a ``TensorDataset``
        (its generator seeded from the run seed), ``model.train()``, ``zero_grad``, loss, ``backward``,
        ``step``, the epoch's loss and accuracy summed with ``.item()``, then validation in eval mode
        under ``no_grad`` with a ``DataLoader`` of the same batch size (Keras' ``fit`` default)."""
        from torch.utils.data import DataLoader, TensorDataset

        model = self._built()
        t = self.spec.training
        cpu = torch.device("cpu")
        generator = torch.Generator().manual_seed(self.spec.seed)
        train_loader = DataLoader(
            TensorDataset(as_tensor(data.x_train, np.float32, cpu), as_tensor(data.y_train, np.int64, cpu)),
            batch_size=t.batch_size,
            shuffle=True,
            generator=generator,
        )
        val_loader = None
        if data.x_val is not None and data.y_val is not None and len(data.y_val) > 0:
            val_loader = DataLoader(
                TensorDataset(as_tensor(data.x_val, np.float32, cpu), as_tensor(data.y_val, np.int64, cpu)),
                batch_size=t.batch_size,
            )
        optimizer = standard_optimizer(self.spec.optimizer, model.parameters(), self.spec.optimizer_config)
        criterion = torch.nn.CrossEntropyLoss()
        history: list[EpochStats] = []
        for epoch in range(1, t.epochs + 1):
            hooks.on_epoch_begin(epoch)
            model.train()
            running_loss, correct, seen = 0.0, 0, 0
            for xb, yb in train_loader:
                xb, yb = xb.to(self.device), yb.to(self.device)
                optimizer.zero_grad()
                logits = model(xb)
                loss = criterion(logits, yb)
                loss.backward()
                optimizer.step()
                running_loss += loss.item() * yb.size(0)
                correct += (logits.argmax(dim=1) == yb).sum().item()
                seen += yb.size(0)
            val_accuracy = val_loss = None
            if val_loader is not None:
                model.eval()
                v_loss, v_correct, v_seen = 0.0, 0, 0
                with torch.no_grad():
                    for xb, yb in val_loader:
                        xb, yb = xb.to(self.device), yb.to(self.device)
                        logits = model(xb)
                        v_loss += criterion(logits, yb).item() * yb.size(0)
                        v_correct += (logits.argmax(dim=1) == yb).sum().item()
                        v_seen += yb.size(0)
                val_accuracy, val_loss = v_correct / v_seen, v_loss / v_seen
            stats = EpochStats(
                epoch=epoch,
                train_loss=running_loss / seen,
                train_accuracy=correct / seen,
                val_accuracy=val_accuracy,
                val_loss=val_loss,
                learning_rate=float(optimizer.param_groups[0]["lr"]),
            )
            history.append(stats)
            if hooks.on_epoch_end(stats):
                break
        return history

    # ------------------------------------------------------------------ evaluation
    def wrap(self, module: torch.nn.Module | None = None, method: str = "none") -> TorchModel:
        """``module`` (default: the trained model) as a :class:`TorchModel`."""
        module = self._built() if module is None else module
        return TorchModel(module, self.device, method=method, batch_size=self.spec.training.eval_batch_size)

    # ------------------------------------------------------------------ device
    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            torch.mps.synchronize()

    def peak_device_memory(self) -> int | None:
        if self.device.type == "cuda":
            peak = int(torch.cuda.max_memory_allocated(self.device))
            torch.cuda.reset_peak_memory_stats(self.device)
            return peak
        return None  # CPU: not a device memory; MPS: torch keeps no peak statistic

    def versions(self) -> dict[str, str]:
        # str(): torch.__version__ is a TorchVersion, and unpickling one in the parent would import torch there.
        return {"torch": str(torch.__version__)}
