"""Network parts: encoders (observation -> features) and heads (features -> outputs), each a registered
component with its options dataclass (MLPConfig, CNNConfig, ...), plus the model builders agents use."""

from rl_platform.nn.actor_critic import (
    ActorCritic,
    CategoricalHead,
    GaussianHead,
    GaussianHeadConfig,
    build_actor_critic,
)
from rl_platform.nn.cnn import CNNConfig, CNNEncoder
from rl_platform.nn.encoders import MLPConfig, MLPEncoder, build_encoder
from rl_platform.nn.heads import DuelingQHead, QHead, build_head, build_q_network
from rl_platform.nn.optim import clip_grad_norm
from rl_platform.nn.transformer import TransformerConfig, TransformerEncoder

__all__ = [
    "ActorCritic", "CategoricalHead", "GaussianHead", "GaussianHeadConfig", "build_actor_critic", "CNNConfig",
    "CNNEncoder", "MLPConfig", "MLPEncoder", "TransformerConfig", "TransformerEncoder", "build_encoder", "QHead",
    "DuelingQHead", "build_head", "build_q_network", "clip_grad_norm",
]
