"""Discriminators for adversarial imitation (GAIL, AIRL): registered components (`rlp list` shows their options)
that score a transition as the expert's or the agent's. Importing this module registers them.

* `sa`: D(s, a). * `sas`: D(s, a, s'). Both: the observation through a registered encoder (`encoder`, the same
  components as `model.encoder`; one encoder for s and s'), joined with the action (one-hot for Discrete, rescaled
  to [-1, 1] for bounded Box actions), then an MLP to one logit.
* `airl` (Fu et al., 2018): logit = f(s, a, s') - log pi(a|s), f = g(s) + gamma * (1 - terminated) * h(s') - h(s),
  with g the reward model (state-only by default, as the paper recommends for a reward that transfers) and h
  the shaping term; both MLPs on the encoded observation. `reward_model(obs, actions)` is g, what
  `env.reward_model` reuses.

A discriminator's score is the logit of D, the probability that a transition is the expert's. Its input is
first made one flat float vector (`inputs`), then scored (`score`): the gradient penalty differentiates `score`
with respect to that vector, between an expert and an agent transition. Options common to all: spectral norm on
every layer, and what the learner's losses need (the losses live in :mod:`rl_platform.nn.gan_losses`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_platform.components import Component, component_option
from rl_platform.config import ModelConfig
from rl_platform.errors import ConfigError
from rl_platform.nn.encoders import build_encoder
from rl_platform.nn.gan_losses import spectral_normalize
from rl_platform.nn.layers import check_widths, mlp
from rl_platform.options import option
from rl_platform.registry import DISCRIMINATORS, ENCODERS, ComponentSpec
from rl_platform.world_models.base import Normalizer

NORMALIZER_MIN_STD = 1e-2  # in the observation's units: a coordinate the expert holds constant stays finite


class DiscriminatorBatch(NamedTuple):
    """Transitions to score, as tensors: env actions (Discrete: int64 indices as the env takes them); `log_probs`
    is log pi(a|s) under the current policy (AIRL needs it; None for the others)."""

    obs: torch.Tensor
    actions: torch.Tensor
    next_obs: torch.Tensor
    terminations: torch.Tensor
    log_probs: torch.Tensor | None = None


@dataclass
class DiscriminatorConfig:
    """Options of the `sa` and `sas` discriminators."""

    encoder: Component = component_option(
        ENCODERS, "mlp", "the observation's encoder: a registered encoder name or {name: ..., <option>: ...}")
    hidden_sizes: list[int] = option([64, 64], "hidden layers of the MLP on [encoded observation(s), action]")
    spectral_norm: bool = option(False, "spectral norm on every linear and convolutional layer")

    def __post_init__(self) -> None:
        check_widths(self.hidden_sizes)


@dataclass
class AIRLDiscriminatorConfig:
    """Options of the `airl` discriminator."""

    encoder: Component = component_option(
        ENCODERS, "mlp", "the observation's encoder (shared by g and h): a registered encoder name or "
        "{name: ..., <option>: ...}")
    hidden_sizes: list[int] = option([64, 64], "hidden layers of g and of h")
    state_only: bool = option(True, "g is a function of the state alone, g(s) (a reward that transfers); false: "
                              "g(s, a)")
    gamma: float | None = option(None, "the discount in the shaping term gamma * h(s') - h(s); null: the "
                                 "agent's agent.gamma", ge=0, le=1)
    spectral_norm: bool = option(False, "spectral norm on every linear and convolutional layer")

    def __post_init__(self) -> None:
        check_widths(self.hidden_sizes)


class ActionFeatures(nn.Module):
    """Env actions as floats: one-hot (Discrete) or rescaled to [-1, 1] by the bounds (a bounded Box)."""

    def __init__(self, action_space: gym.Space) -> None:
        super().__init__()
        if isinstance(action_space, gym.spaces.Discrete):
            self.num_actions: int | None = int(action_space.n)
            self.start = int(action_space.start)
            self.dim = self.num_actions
            low = high = np.zeros(0, dtype=np.float32)
        elif isinstance(action_space, gym.spaces.Box):
            self.num_actions, self.start = None, 0
            self.dim = int(np.prod(action_space.shape))
            low = np.asarray(action_space.low, dtype=np.float32).reshape(-1)
            high = np.asarray(action_space.high, dtype=np.float32).reshape(-1)
            if not (np.isfinite(low).all() and np.isfinite(high).all()):
                low, high = np.full(self.dim, -1.0, np.float32), np.full(self.dim, 1.0, np.float32)
        else:
            raise ConfigError("agent.discriminator", f"takes Discrete or Box action spaces; this env has "
                              f"{action_space}.")
        self.register_buffer("low", torch.as_tensor(low))
        self.register_buffer("high", torch.as_tensor(high))

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        if self.num_actions is not None:
            return nn.functional.one_hot(actions.long().reshape(-1) - self.start, self.num_actions).float()
        flat = actions.float().reshape(actions.shape[0], -1)
        return 2.0 * (flat - self.low) / (self.high - self.low) - 1.0


def observation_encoder(observation_space: gym.Space, encoder: Component) -> nn.Module:
    """The registered encoder `encoder` for float observation vectors of `observation_space`'s shape. A Box
    space only: the gradient penalty interpolates between observations."""
    if not isinstance(observation_space, gym.spaces.Box):
        raise ConfigError("agent.discriminator", f"takes Box observations; this env's are {observation_space}.")
    return build_encoder(observation_space, ModelConfig(encoder=encoder))


class Discriminator(nn.Module):
    """Base: `inputs(batch)` is the flat float vector scored; `score(inputs, batch)` its logit (B,)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().__init__()
        self.spaces = (observation_space, action_space)
        self.obs_shape = tuple(observation_space.shape)
        self.obs_dim = int(np.prod(self.obs_shape))
        self.action_features = ActionFeatures(action_space)
        self.uses_log_probs = False
        # Float observations enter normalised by the expert data's statistics (`fit_normalizer`): without it a
        # state far from the expert's (CartPoleFixed's cart drifting off after the pole fell) lets D separate
        # everything at once by one coordinate's scale.
        self.obs_norm = Normalizer(self.obs_dim) if np.issubdtype(observation_space.dtype, np.floating) else None

    def fit_normalizer(self, expert_obs: torch.Tensor) -> None:
        """Fit the observation normaliser (float observations) to the expert's observations."""
        if self.obs_norm is not None:
            self.obs_norm.fit(expert_obs, min_std=NORMALIZER_MIN_STD)

    def flat_obs(self, obs: torch.Tensor) -> torch.Tensor:
        flat = obs.float().reshape(obs.shape[0], -1)
        return flat if self.obs_norm is None else self.obs_norm(flat)

    def inputs(self, batch: DiscriminatorBatch) -> torch.Tensor:
        return torch.cat([self.flat_obs(batch.obs), self.action_features(batch.actions),
                          self.flat_obs(batch.next_obs)], dim=-1)

    def split(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(obs, action features, next obs) of `inputs`, observations in their own shape."""
        obs, actions, next_obs = inputs.split([self.obs_dim, self.action_features.dim, self.obs_dim], dim=-1)
        return obs.reshape(-1, *self.obs_shape), actions, next_obs.reshape(-1, *self.obs_shape)

    def score(self, inputs: torch.Tensor, batch: DiscriminatorBatch) -> torch.Tensor:
        raise NotImplementedError

    def critic(self, inputs: torch.Tensor, batch: DiscriminatorBatch) -> torch.Tensor:
        """What the gradient penalty differentiates with respect to `inputs`: the score (AIRL: f, without the
        policy's log-probabilities, which are not a function of the inputs here)."""
        return self.score(inputs, batch)

    def forward(self, batch: DiscriminatorBatch) -> torch.Tensor:
        """The logits of D for `batch`, (B,)."""
        return self.score(self.inputs(batch), batch)


class TransitionDiscriminator(Discriminator):
    """`sa` / `sas`: MLP([enc(s), a]) or MLP([enc(s), a, enc(s')])."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, cfg: DiscriminatorConfig,
                 next_state: bool) -> None:
        super().__init__(observation_space, action_space)
        self.next_state = next_state
        self.encoder = observation_encoder(observation_space, cfg.encoder)
        width = self.encoder.out_dim * (2 if next_state else 1) + self.action_features.dim
        self.head = mlp(width, cfg.hidden_sizes, 1)
        if cfg.spectral_norm:
            spectral_normalize(self)

    def score(self, inputs: torch.Tensor, batch: DiscriminatorBatch) -> torch.Tensor:
        obs, actions, next_obs = self.split(inputs)
        parts = [self.encoder(obs), actions] + ([self.encoder(next_obs)] if self.next_state else [])
        return self.head(torch.cat(parts, dim=-1)).squeeze(-1)


class AIRLDiscriminator(Discriminator):
    """`airl`: logit = g + gamma * (1 - terminated) * h(s') - h(s) - log pi(a|s)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, cfg: AIRLDiscriminatorConfig) -> None:
        super().__init__(observation_space, action_space)
        self.cfg = cfg
        self.gamma = 0.99 if cfg.gamma is None else cfg.gamma  # the agent sets its own gamma where cfg.gamma is None
        self.uses_log_probs = True
        self.encoder = observation_encoder(observation_space, cfg.encoder)
        width = self.encoder.out_dim + (0 if cfg.state_only else self.action_features.dim)
        self.reward_net = mlp(width, cfg.hidden_sizes, 1)
        self.shaping_net = mlp(self.encoder.out_dim, cfg.hidden_sizes, 1)
        if cfg.spectral_norm:
            spectral_normalize(self)

    def reward_of(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        parts = [features] if self.cfg.state_only else [features, actions]
        return self.reward_net(torch.cat(parts, dim=-1)).squeeze(-1)

    def f(self, inputs: torch.Tensor, batch: DiscriminatorBatch) -> torch.Tensor:
        """f(s, a, s') = g + gamma * (1 - terminated) * h(s') - h(s): the shaped reward."""
        obs, actions, next_obs = self.split(inputs)
        features, next_features = self.encoder(obs), self.encoder(next_obs)
        continuing = 1.0 - batch.terminations.float()
        return self.reward_of(features, actions) + self.gamma * continuing \
            * self.shaping_net(next_features).squeeze(-1) - self.shaping_net(features).squeeze(-1)

    def score(self, inputs: torch.Tensor, batch: DiscriminatorBatch) -> torch.Tensor:
        if batch.log_probs is None:
            raise ValueError("the airl discriminator needs log pi(a|s) (DiscriminatorBatch.log_probs)")
        return self.f(inputs, batch) - batch.log_probs.float()

    def critic(self, inputs: torch.Tensor, batch: DiscriminatorBatch) -> torch.Tensor:
        return self.f(inputs, batch)

    def reward_model(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """g(s) (or g(s, a)): the recovered reward, (B,)."""
        features = self.encoder(self.flat_obs(obs).reshape(-1, *self.obs_shape))
        return self.reward_of(features, self.action_features(actions))


def build_sa(observation_space: gym.Space, action_space: gym.Space, cfg: DiscriminatorConfig) -> Discriminator:
    return TransitionDiscriminator(observation_space, action_space, cfg, next_state=False)


def build_sas(observation_space: gym.Space, action_space: gym.Space, cfg: DiscriminatorConfig) -> Discriminator:
    return TransitionDiscriminator(observation_space, action_space, cfg, next_state=True)


def build_discriminator(spec: Component, observation_space: gym.Space, action_space: gym.Space) -> Discriminator:
    """The registered discriminator `spec` for these spaces."""
    return DISCRIMINATORS.get(spec.name, "agent.discriminator").build(observation_space, action_space, spec.options)


DISCRIMINATORS.register("sa", ComponentSpec(
    name="sa", config_cls=DiscriminatorConfig, build=build_sa,
    description="GAIL's D(s, a): the encoded observation and the action into an MLP"))
DISCRIMINATORS.register("sas", ComponentSpec(
    name="sas", config_cls=DiscriminatorConfig, build=build_sas,
    description="D(s, a, s'): the encoded observation, the action and the encoded next observation into an MLP"))
DISCRIMINATORS.register("airl", ComponentSpec(
    name="airl", config_cls=AIRLDiscriminatorConfig, build=AIRLDiscriminator,
    description="AIRL: f(s,a,s') = g(s) + gamma h(s') - h(s) against log pi(a|s); g is the recovered reward"))
