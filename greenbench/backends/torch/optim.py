"""Optimizers with Keras 3's update rules (see greenbench.workloads.parity for the reasoning).

* ``sgd``: ``torch.optim.SGD`` (dampening 0); when the learning rate changes, the momentum
  buffers are rescaled by ``lr_old / lr_new`` so the velocity behaves as Keras' (which keeps
  it in parameter units). A no-op under a constant rate.
* ``adam``: ``torch.optim.Adam`` with ``eps`` set to ``epsilon / sqrt(1 - beta2**t)`` before
  step ``t``: that is Keras' "epsilon hat" update, exactly.
* ``rmsprop``: :class:`KerasRMSprop`, because torch's RMSprop puts epsilon outside the square
  root and the learning rate outside the momentum buffer, with no option for either.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import torch

from greenbench.workloads import parity


class KerasRMSprop(torch.optim.Optimizer):
    """RMSprop exactly as Keras 3 computes it (not centered).

    ``v = rho*v + (1-rho)*g**2``; ``inc = lr*g / sqrt(v + eps)``;
    with momentum ``m = momentum*m + inc; w -= m``, else ``w -= inc``.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, rho: float, momentum: float, eps: float):
        super().__init__(params, dict(lr=lr, rho=rho, momentum=momentum, eps=eps))

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        if closure is not None:
            raise ValueError("KerasRMSprop does not take a closure")
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            vel, mom = [], []
            for p in params:
                state = self.state[p]
                if not state:
                    state["velocity"] = torch.zeros_like(p)
                    if group["momentum"] > 0:
                        state["momentum"] = torch.zeros_like(p)
                vel.append(state["velocity"])
                if group["momentum"] > 0:
                    mom.append(state["momentum"])
            rho, lr, eps = group["rho"], group["lr"], group["eps"]
            torch._foreach_mul_(vel, rho)
            torch._foreach_addcmul_(vel, grads, grads, value=1.0 - rho)
            denom = torch._foreach_add(vel, eps)
            torch._foreach_sqrt_(denom)
            inc = torch._foreach_div(grads, denom)
            torch._foreach_mul_(inc, lr)
            if group["momentum"] > 0:
                torch._foreach_mul_(mom, group["momentum"])
                torch._foreach_add_(mom, inc)
                torch._foreach_sub_(params, mom)
            else:
                torch._foreach_sub_(params, inc)


class ParityOptimizer:
    """A torch optimizer plus the per-step adjustments that give it Keras 3's semantics."""

    def __init__(self, name: str, params: list[torch.nn.Parameter], config: Mapping[str, Any]):
        self.name = name
        self.config = dict(config)
        lr = float(config["learning_rate"])
        self._lr = lr
        self._t = 0
        if name == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
                params,
                lr=lr,
                momentum=float(config["momentum"]),
                nesterov=bool(config["nesterov"]),
                dampening=parity.SGD_DAMPENING,
                weight_decay=0.0,
            )
        elif name == "adam":
            self.optimizer = torch.optim.Adam(
                params,
                lr=lr,
                betas=(float(config["beta1"]), float(config["beta2"])),
                eps=float(config["epsilon"]),
                weight_decay=0.0,
                amsgrad=parity.ADAM_AMSGRAD,
            )
        elif name == "rmsprop":
            self.optimizer = KerasRMSprop(
                params, lr=lr, rho=float(config["rho"]), momentum=float(config["momentum"]), eps=float(config["epsilon"])
            )
        else:
            raise ValueError(f"unknown optimizer {name!r}; use sgd, adam or rmsprop")

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def step(self, lr: float) -> None:
        """One update at learning rate ``lr``."""
        lr = float(lr)
        if lr != self._lr:
            if self.name == "sgd" and self.config["momentum"] > 0:
                # Keras' velocity is lr-scaled; torch's is not: keep lr * buffer continuous.
                scale = self._lr / lr
                bufs = [s["momentum_buffer"] for s in self.optimizer.state.values() if s.get("momentum_buffer") is not None]
                if bufs:
                    torch._foreach_mul_(bufs, scale)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self._lr = lr
        self._t += 1
        if self.name == "adam":
            beta2 = float(self.config["beta2"])
            eps = float(self.config["epsilon"]) / math.sqrt(1.0 - beta2**self._t)
            for group in self.optimizer.param_groups:
                group["eps"] = eps
        self.optimizer.step()
