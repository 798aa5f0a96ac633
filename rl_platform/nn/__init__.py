"""Registered network parts: encoders (observation -> features) and heads (features -> outputs)."""

from rl_platform.nn.encoders import MLPEncoder, build_encoder
from rl_platform.nn.heads import DuelingQHead, QHead, build_q_network

__all__ = ["MLPEncoder", "build_encoder", "QHead", "DuelingQHead", "build_q_network"]
