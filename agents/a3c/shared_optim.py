"""Optimizers whose statistics live in shared memory, so every A3C worker updates the same ones.

The A3C paper shares RMSProp's running average of squared gradients between its threads; here
the statistics (and the step count) are tensors in shared memory, created once by the parent
process (`share_state`) and attached by each worker (`state=`). Each `step()` updates them in
place, lock-free, like the parameters (Hogwild). The update is written out with `torch._foreach`
ops instead of reusing `torch.optim.Adam`, whose lazily created, per-process state would not be shared.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

SharedState = dict[str, list[torch.Tensor]]


class SharedOptimizer:
    """Base: one parameter group, statistics named by `buffer_names`, plus a scalar step count.

    Not a `torch.optim.Optimizer` subclass: its constructor imports torch._dynamo (about 1.3 s), which
    every worker process would pay before its first step; only `param_groups[0]` is kept from its API.
    """

    buffer_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[torch.nn.Parameter], defaults: dict, state: SharedState | None) -> None:
        self.params: list[torch.nn.Parameter] = list(params)
        self.param_groups = [{"params": self.params, **defaults}]
        if state is None:
            state = {name: [torch.zeros_like(p) for p in self.params] for name in self.buffer_names}
            state["step"] = [torch.zeros((), dtype=torch.float64)]
        self.shared = state

    def share_memory(self) -> SharedOptimizer:
        """Move the statistics into shared memory (before starting the worker processes)."""
        for tensors in self.shared.values():
            for tensor in tensors:
                tensor.share_memory_()
        return self

    @property
    def num_steps(self) -> int:
        return int(self.shared["step"][0].item())

    def _next_step(self) -> int:
        step = self.shared["step"][0]
        step += 1
        return int(step.item())

    def state_dict(self) -> dict:
        return {name: [t.clone() for t in tensors] for name, tensors in self.shared.items()}

    def load_state_dict(self, state_dict: dict) -> None:
        """Copy saved statistics into the (possibly shared) tensors in place, keeping them shared."""
        with torch.no_grad():
            for name, tensors in self.shared.items():
                torch._foreach_copy_(tensors, [torch.as_tensor(t) for t in state_dict[name]])


class SharedRMSprop(SharedOptimizer):
    """RMSProp as in the A3C paper and Stable-Baselines3's A2C.

    g2 <- alpha g2 + (1 - alpha) g^2;  p <- p - lr g / (sqrt(g2) + eps).
    """

    buffer_names = ("square_avg",)

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 7e-4, alpha: float = 0.99,
                 eps: float = 1e-5, state: SharedState | None = None) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps}, state)

    @torch.no_grad()
    def step(self, closure=None) -> None:  # noqa: ARG002 (no closure support, as for most RL optimizers)
        group = self.param_groups[0]
        chosen = [i for i, p in enumerate(self.params) if p.grad is not None]
        params = [self.params[i] for i in chosen]
        grads = [p.grad for p in params]
        square_avg = [self.shared["square_avg"][i] for i in chosen]
        self._next_step()
        torch._foreach_mul_(square_avg, group["alpha"])
        torch._foreach_addcmul_(square_avg, grads, grads, value=1.0 - group["alpha"])
        denom = torch._foreach_sqrt(square_avg)
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_addcdiv_(params, grads, denom, value=-group["lr"])


class SharedAdam(SharedOptimizer):
    """Adam (Kingma & Ba, 2015) with bias correction, on shared first and second moments."""

    buffer_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 state: SharedState | None = None) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps}, state)

    @torch.no_grad()
    def step(self, closure=None) -> None:  # noqa: ARG002
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        chosen = [i for i, p in enumerate(self.params) if p.grad is not None]
        params = [self.params[i] for i in chosen]
        grads = [p.grad for p in params]
        exp_avg = [self.shared["exp_avg"][i] for i in chosen]
        exp_avg_sq = [self.shared["exp_avg_sq"][i] for i in chosen]
        t = self._next_step()
        torch._foreach_lerp_(exp_avg, grads, 1.0 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1.0 - beta2)
        denom = torch._foreach_sqrt(exp_avg_sq)
        torch._foreach_div_(denom, math.sqrt(1.0 - beta2**t))
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_addcdiv_(params, exp_avg, denom, value=-group["lr"] / (1.0 - beta1**t))


OPTIMIZERS = {"rmsprop": SharedRMSprop, "adam": SharedAdam}
