"""Heads: encoder features in, what an agent needs out (here: Q-values, plain or dueling)."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from rl_platform.config import ModelConfig
from rl_platform.nn.encoders import build_encoder
from rl_platform.registry import HEADS


class QHead(nn.Module):
    """Q(s, a) = W f(s) + b."""

    def __init__(self, in_dim: int, num_actions: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, num_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)


class DuelingQHead(nn.Module):
    """Q(s, a) = V(s) + A(s, a) - mean_a A(s, a) (Wang et al., 2016)."""

    def __init__(self, in_dim: int, num_actions: int) -> None:
        super().__init__()
        self.value = nn.Linear(in_dim, 1)
        self.advantage = nn.Linear(in_dim, num_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        advantage = self.advantage(features)
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)


HEADS.register("q", QHead)
HEADS.register("dueling_q", DuelingQHead)


class QNetwork(nn.Module):
    """model = head(encoder(obs)) producing one Q-value per discrete action."""

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(obs))


def build_q_network(observation_space: gym.Space, action_space: gym.spaces.Discrete,
                    cfg: ModelConfig, dueling: bool) -> QNetwork:
    encoder = build_encoder(observation_space, cfg)
    head = HEADS.get("dueling_q" if dueling else "q")(encoder.out_dim, int(action_space.n))
    return QNetwork(encoder, head)
