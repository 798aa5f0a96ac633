"""Heads: encoder features in, what an agent needs out (here: Q-values, plain or dueling).

Each head is a component (:class:`rl_platform.registry.ComponentSpec`) whose `build(in_dim, action_space,
config)` makes it; `model.head` picks one in place of the agent's default. The policy heads are in
:mod:`rl_platform.nn.actor_critic`.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from rl_platform.components import Component, NoOptions
from rl_platform.config import ModelConfig
from rl_platform.errors import ConfigError
from rl_platform.nn.encoders import build_encoder
from rl_platform.registry import HEADS, ComponentSpec


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


def discrete_actions(action_space: gym.Space, head: str) -> int:
    """The number of actions of a Discrete action space; a ConfigError naming `model.head` otherwise."""
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ConfigError("model.head", f"'{head}' needs a Discrete action space; this env's is {action_space}.")
    return int(action_space.n)


def build_q_head(in_dim: int, action_space: gym.Space, cfg: NoOptions) -> QHead:
    return QHead(in_dim, discrete_actions(action_space, "q"))


def build_dueling_q_head(in_dim: int, action_space: gym.Space, cfg: NoOptions) -> DuelingQHead:
    return DuelingQHead(in_dim, discrete_actions(action_space, "dueling_q"))


HEADS.register("q", ComponentSpec(name="q", config_cls=NoOptions, build=build_q_head,
                                  description="Q-values: one linear layer, one output per discrete action"))
HEADS.register("dueling_q", ComponentSpec(name="dueling_q", config_cls=NoOptions, build=build_dueling_q_head,
                                          description="Q-values as V(s) + A(s, a) - mean A (dueling DQN)"))


def build_head(head: Component, in_dim: int, action_space: gym.Space) -> nn.Module:
    """The head `head` (a registered head and its options) on features of width `in_dim`."""
    return HEADS.get(head.name, "model.head").build(in_dim, action_space, head.options)


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
    """`cfg.encoder` and `cfg.head`, by default `dueling_q` if `dueling` else `q`."""
    encoder = build_encoder(observation_space, cfg)
    head = cfg.head or Component("dueling_q" if dueling else "q", NoOptions())
    return QNetwork(encoder, build_head(head, encoder.out_dim, action_space))
