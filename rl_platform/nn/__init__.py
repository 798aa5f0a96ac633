"""Registered network parts: encoders (observation -> features) and heads (features -> outputs)."""

from rl_platform.nn.encoders import MLPEncoder, build_encoder
from rl_platform.nn.heads import DuelingQHead, QHead, build_q_network
from rl_platform.nn.optim import clip_grad_norm

__all__ = ["MLPEncoder", "build_encoder", "QHead", "DuelingQHead", "build_q_network", "clip_grad_norm"]
