"""Actor-critic networks: a policy head (categorical or Gaussian) and a value head on encoder features.

The policy samples a *raw* action; `env_actions` maps it into the env's action space (identity
for Discrete; clipping or tanh squashing into the Box bounds for continuous actions). Learners
keep the raw action, whose log-probability is exact; for tanh squashing the Jacobian term of the
log-probability does not depend on the parameters, so the policy gradient needs no correction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from rl_platform.components import Component, NoOptions
from rl_platform.config import ModelConfig
from rl_platform.errors import ConfigError, EnvError
from rl_platform.nn.encoders import build_encoder
from rl_platform.nn.heads import build_head
from rl_platform.options import option
from rl_platform.registry import HEADS, ComponentSpec


class CategoricalHead(nn.Module):
    """pi(a | s) = softmax(W f(s) + b) over a Discrete action space."""

    def __init__(self, in_dim: int, action_space: gym.spaces.Discrete) -> None:
        super().__init__()
        self.logits = nn.Linear(in_dim, int(action_space.n))
        self.start = int(action_space.start)

    def forward(self, features: torch.Tensor) -> Distribution:
        return Categorical(logits=self.logits(features), validate_args=False)

    def greedy(self, features: torch.Tensor) -> torch.Tensor:
        return self.logits(features).argmax(dim=-1)

    def env_actions(self, raw: torch.Tensor) -> np.ndarray:
        return raw.numpy() + self.start


class GaussianHead(nn.Module):
    """pi(u | s) = N(mu(s), sigma^2), sigma a learned vector or a function of s; u clipped or tanh-squashed."""

    def __init__(self, in_dim: int, action_space: gym.spaces.Box, log_std_init: float = 0.0,
                 state_dependent_std: bool = False, squash: str = "clip", squash_key: str = "agent.squash") -> None:
        super().__init__()
        dim = int(np.prod(action_space.shape))
        self.shape = action_space.shape
        self.mean = nn.Linear(in_dim, dim)
        self.log_std_init = float(log_std_init)
        if state_dependent_std:
            self.log_std_layer: nn.Linear | None = nn.Linear(in_dim, dim)
            nn.init.zeros_(self.log_std_layer.weight)
            nn.init.constant_(self.log_std_layer.bias, log_std_init)
        else:
            self.log_std_layer = None
            self.log_std = nn.Parameter(torch.full((dim,), float(log_std_init)))
        low = np.asarray(action_space.low, dtype=np.float32).reshape(-1)
        high = np.asarray(action_space.high, dtype=np.float32).reshape(-1)
        if squash == "tanh" and not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ConfigError(squash_key, f"'tanh' needs finite action bounds; this env's are {action_space}.")
        self.squash = squash
        self.low, self.high = low, high

    def forward(self, features: torch.Tensor) -> Distribution:
        mean = self.mean(features)
        log_std = self.log_std_layer(features) if self.log_std_layer is not None else self.log_std.expand_as(mean)
        std = log_std.clamp(-20.0, 2.0).exp()
        return Independent(Normal(mean, std, validate_args=False), 1, validate_args=False)

    def greedy(self, features: torch.Tensor) -> torch.Tensor:
        return self.mean(features)

    def env_actions(self, raw: torch.Tensor) -> np.ndarray:
        u = raw.numpy()
        if self.squash == "tanh":
            actions = self.low + (np.tanh(u) + 1.0) * 0.5 * (self.high - self.low)
        else:
            actions = np.clip(u, self.low, self.high)
        return actions.reshape(-1, *self.shape).astype(np.float32)


@dataclass
class GaussianHeadConfig:
    """Options of the `gaussian` policy head (by default A3C fills them from agent.log_std_init,
    agent.state_dependent_std and agent.squash)."""

    log_std_init: float = option(0.0, "initial log standard deviation")
    state_dependent_std: bool = option(False, "log-std is a function of the state, not a learned vector")
    squash: str = option("clip", "map the Gaussian sample into the action bounds by 'clip' or 'tanh'",
                         choices=("clip", "tanh"))


def build_categorical_head(in_dim: int, action_space: gym.Space, cfg: NoOptions) -> CategoricalHead:
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ConfigError("model.head", f"'categorical' needs a Discrete action space; this env's is {action_space}.")
    return CategoricalHead(in_dim, action_space)


def build_gaussian_head(in_dim: int, action_space: gym.Space, cfg: GaussianHeadConfig,
                        squash_key: str = "model.head.squash") -> GaussianHead:
    if not isinstance(action_space, gym.spaces.Box):
        raise ConfigError("model.head", f"'gaussian' needs a Box action space; this env's is {action_space}.")
    return GaussianHead(in_dim, action_space, cfg.log_std_init, cfg.state_dependent_std, cfg.squash, squash_key)


HEADS.register("categorical", ComponentSpec(
    name="categorical", config_cls=NoOptions, build=build_categorical_head,
    description="policy: softmax over a Discrete action space"))
HEADS.register("gaussian", ComponentSpec(
    name="gaussian", config_cls=GaussianHeadConfig, build=build_gaussian_head,
    description="policy: Gaussian over a Box action space, clipped or tanh-squashed into its bounds"))


class ActorCritic(nn.Module):
    """policy_head(actor_encoder(obs)) and value_head(critic_encoder(obs)); the encoders may be one module."""

    def __init__(self, actor_encoder: nn.Module, policy_head: nn.Module, critic_encoder: nn.Module | None,
                 value_head: nn.Linear) -> None:
        super().__init__()
        self.actor_encoder = actor_encoder
        self.policy_head = policy_head
        self.critic_encoder = critic_encoder  # None: the critic shares the actor's encoder
        self.value_head = value_head

    def forward(self, obs: torch.Tensor) -> tuple[Distribution, torch.Tensor]:
        features = self.actor_encoder(obs)
        critic_features = features if self.critic_encoder is None else self.critic_encoder(obs)
        return self.policy_head(features), self.value_head(critic_features).squeeze(-1)

    def policy(self, obs: torch.Tensor) -> Distribution:
        return self.policy_head(self.actor_encoder(obs))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        encoder = self.actor_encoder if self.critic_encoder is None else self.critic_encoder
        return self.value_head(encoder(obs)).squeeze(-1)

    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.policy_head.greedy(self.actor_encoder(obs))

    def env_actions(self, raw: torch.Tensor) -> np.ndarray:
        return self.policy_head.env_actions(raw)


def _orthogonal_init(module: nn.Module, gain: float) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, gain)
            nn.init.zeros_(layer.bias)


def build_actor_critic(observation_space: gym.Space, action_space: gym.Space, cfg: ModelConfig,
                       shared_encoder: bool = False, log_std_init: float = 0.0,
                       state_dependent_std: bool = False, squash: str = "clip") -> ActorCritic:
    """Encoder(s) from `cfg.encoder`; the policy head `cfg.head`, by default categorical or Gaussian (with
    `log_std_init`, `state_dependent_std`, `squash`) by action space; orthogonal initialisation (gain sqrt(2)
    hidden, 0.01 policy, 1 value) as in the A2C/PPO baselines."""
    actor_encoder = build_encoder(observation_space, cfg)
    critic_encoder = None if shared_encoder else build_encoder(observation_space, cfg)
    if cfg.head is not None:
        policy_head = build_head(cfg.head, actor_encoder.out_dim, action_space)
    elif isinstance(action_space, gym.spaces.Discrete):
        policy_head = build_head(Component("categorical", NoOptions()), actor_encoder.out_dim, action_space)
    elif isinstance(action_space, gym.spaces.Box):
        options = GaussianHeadConfig(log_std_init, state_dependent_std, squash)
        policy_head = build_gaussian_head(actor_encoder.out_dim, action_space, options, squash_key="agent.squash")
    else:
        raise EnvError(f"actor-critic agents take Discrete or Box action spaces; this env has {action_space}.")
    value_head = nn.Linear(actor_encoder.out_dim, 1)
    for encoder in (actor_encoder, critic_encoder):
        if encoder is not None:
            _orthogonal_init(encoder, math.sqrt(2))
    _orthogonal_init(policy_head, 0.01)
    _orthogonal_init(value_head, 1.0)
    if isinstance(policy_head, GaussianHead) and policy_head.log_std_layer is not None:
        nn.init.zeros_(policy_head.log_std_layer.weight)
        nn.init.constant_(policy_head.log_std_layer.bias, policy_head.log_std_init)
    return ActorCritic(actor_encoder, policy_head, critic_encoder, value_head)
