"""What every learned world model shares: the interface agents and commands use, and the parts the vector-state
models are made of.

A world model predicts, for a batch of (observation, action), the next observation, the reward and whether the
step terminates. It is an `nn.Module` built from `(observation_space, action_space, options)` by its
`ComponentSpec` in `WORLD_MODELS`, and it carries its own normalisation statistics as buffers, so its
`state_dict` is all a checkpoint needs. It learns by minimising :meth:`WorldModel.loss` on real transitions
(from an agent's replay or a dataset) and is used through :meth:`WorldModel.sample`: one imagined step.
Truncation is not the model's business: time limits belong to whoever rolls the model out.
"""

from __future__ import annotations

from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_platform.errors import ConfigError


class Transition(NamedTuple):
    """A batch of real transitions as tensors: obs (B, D), actions (B,) or (B, A), rewards (B,), next_obs (B, D),
    terminations (B,) bool."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminations: torch.Tensor


class Imagined(NamedTuple):
    """One imagined step of a batch: next_obs (B, D), rewards (B,), terminations (B,) bool, and the model's
    uncertainty (B,) about it (ensemble disagreement; zeros for a model without a measure)."""

    next_obs: torch.Tensor
    rewards: torch.Tensor
    terminations: torch.Tensor
    uncertainty: torch.Tensor


class WorldModel(nn.Module):
    """(observation, action) -> (next observation, reward, termination). Subclasses implement `loss` and
    `sample`; `fit_normalizer` is called once on training data before the first update."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().__init__()
        self.observation_space, self.action_space = observation_space, action_space

    def fit_normalizer(self, data: Transition) -> None:
        """Set input/target statistics from real transitions (no-op for models that need none)."""

    def loss(self, data: Transition) -> tuple[torch.Tensor, dict[str, float]]:
        """(the loss to minimise, named figures to log) on one batch."""
        raise NotImplementedError

    def sample(self, obs: torch.Tensor, actions: torch.Tensor, generator: torch.Generator | None = None) -> Imagined:
        """One imagined step from `obs` under `actions` (without gradients)."""
        raise NotImplementedError

    def point_prediction(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The model's single best guess of the next observation (an ensemble: its members' mean), without
        gradients: what one-step errors are measured on."""
        raise NotImplementedError


class VectorSpaces(NamedTuple):
    """What a model on flat float observations needs to know of its spaces."""

    obs_dim: int
    action_dim: int  # input width: n for Discrete (one-hot), the flat size for Box
    discrete: bool
    action_start: int  # a Discrete space's `start`

    def action_input(self, actions: torch.Tensor) -> torch.Tensor:
        """One-hot (Discrete) or flat float (Box) actions, (B, action_dim)."""
        if self.discrete:
            return nn.functional.one_hot(actions.long().reshape(-1) - self.action_start, self.action_dim).float()
        return actions.reshape(actions.shape[0], -1).float()


def vector_spaces(observation_space: gym.Space, action_space: gym.Space, name: str) -> VectorSpaces:
    """The :class:`VectorSpaces` of a model on 1-D float observations, or a ConfigError naming the model."""
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1 \
            or not np.issubdtype(observation_space.dtype, np.floating):
        raise ConfigError("model", f"the '{name}' world model takes 1-D float Box observations, this env has "
                          f"{observation_space}; the 'frame' model takes MinAtar frames, Dyna-Q discrete states.")
    obs_dim = int(observation_space.shape[0])
    if isinstance(action_space, gym.spaces.Discrete):
        return VectorSpaces(obs_dim, int(action_space.n), True, int(action_space.start))
    if isinstance(action_space, gym.spaces.Box):
        return VectorSpaces(obs_dim, int(np.prod(action_space.shape)), False, 0)
    raise ConfigError("model", f"the '{name}' world model takes Discrete or Box actions, not {action_space}.")


class Normalizer(nn.Module):
    """Per-dimension mean and standard deviation (buffers, so they are checkpointed), fitted once from data."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: torch.Tensor, min_std: float = 1e-6) -> None:
        x = x.reshape(x.shape[0], -1).float()
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0, unbiased=False).clamp_min(min_std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean
