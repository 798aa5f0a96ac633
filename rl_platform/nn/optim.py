"""Optimisation helpers shared by the agents."""

from __future__ import annotations

import torch


def clip_grad_norm(gradients: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale `gradients` in place so their global L2 norm is at most `max_norm`; returns the norm.

    Same result as `torch.nn.utils.clip_grad_norm_`, without its per-call bookkeeping, which
    costs as much as the arithmetic for the small networks RL agents use.
    """
    total_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(gradients)))
    scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    torch._foreach_mul_(gradients, scale)
    return total_norm
