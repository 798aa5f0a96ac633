"""Registered network parts: encoders (observation -> features) and heads (features -> outputs)."""

from rl_platform.nn.actor_critic import ActorCritic, CategoricalHead, GaussianHead, build_actor_critic
from rl_platform.nn.cnn import CNNEncoder
from rl_platform.nn.encoders import MLPEncoder, build_encoder
from rl_platform.nn.heads import DuelingQHead, QHead, build_q_network
from rl_platform.nn.optim import clip_grad_norm
from rl_platform.nn.transformer import TransformerEncoder

__all__ = [
    "ActorCritic", "CategoricalHead", "GaussianHead", "build_actor_critic", "CNNEncoder", "MLPEncoder",
    "TransformerEncoder", "build_encoder", "QHead", "DuelingQHead", "build_q_network", "clip_grad_norm",
]
