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

import math
from collections.abc import Mapping
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl_platform.errors import ConfigError, TrainingFailed
from rl_platform.nn import clip_grad_norm


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
    uncertainty (B,) about it (ensemble disagreement; zeros for a model without a measure). Observations keep the
    env's representation: (B, D) floats for vector states, (B,) int64 states (the space's `start` included) for
    Discrete ones, (B, *frame_shape) in the space's dtype for frames."""

    next_obs: torch.Tensor
    rewards: torch.Tensor
    terminations: torch.Tensor
    uncertainty: torch.Tensor


def check_finite(loss: float, figures: Mapping[str, float], what: str) -> None:
    """Raise TrainingFailed naming the non-finite figures of `what`'s loss (before it reaches any weights)."""
    if math.isfinite(loss):
        return
    bad = [name for name, value in figures.items() if not math.isfinite(value)] or ["loss"]
    raise TrainingFailed(f"{what}: the {', '.join(bad)} loss is {loss}; the weights before this step are kept. "
                         "Lower the learning rate, or check the data for inf/NaN values.")


class WorldModel(nn.Module):
    """(observation, action) -> (next observation, reward, termination). Subclasses implement `loss` and
    `sample`; `fit_normalizer` is called once on training data before the first update.

    Training goes through :meth:`update` with one optimizer per group of :meth:`optimizer_groups` (the learner's
    named optimizers): a single `world_model` group minimising `loss` by default; a model with its own training
    step (a GAN: `generator` and `discriminator`) overrides both."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().__init__()
        self.observation_space, self.action_space = observation_space, action_space

    def fit_normalizer(self, data: Transition) -> None:
        """Set input/target statistics from real transitions (no-op for models that need none)."""

    def loss(self, data: Transition) -> tuple[torch.Tensor, dict[str, float]]:
        """(the loss to minimise, named figures to log) on one batch."""
        raise NotImplementedError

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        """The parameters of each named optimizer."""
        return {"world_model": [p for p in self.parameters() if p.requires_grad]}

    def update(self, data: Transition, optimizers: Mapping[str, torch.optim.Optimizer], max_grad_norm: float = 0.0,
               what: str = "world model") -> dict[str, float]:
        """One training step on `data` with the optimizers of :meth:`optimizer_groups` (same names); returns the
        figures of `loss` and the total under "loss". A non-finite loss raises TrainingFailed (naming it, with
        `what` as the prefix) before any weight changes."""
        loss, figures = self.loss(data)
        value = loss.item()
        check_finite(value, figures, what)
        optimizer = optimizers["world_model"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm > 0:
            clip_grad_norm([p.grad for p in self.parameters() if p.grad is not None], max_grad_norm)
        optimizer.step()
        return {"loss": value, **figures}

    def sample(self, obs: torch.Tensor, actions: torch.Tensor, generator: torch.Generator | None = None) -> Imagined:
        """One imagined step from `obs` under `actions` (without gradients)."""
        raise NotImplementedError

    def point_prediction(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The model's single best guess of the next observation (an ensemble: its members' mean), without
        gradients: what one-step errors are measured on."""
        raise NotImplementedError


class VectorSpaces(NamedTuple):
    """What a model on flat observations needs to know of its spaces: 1-D float Box observations or, for the
    models that take them (`discrete_obs`), Discrete ones: integer states, one-hot encoded for a network."""

    obs_dim: int  # the Box's size, or n for Discrete observations (the one-hot width)
    action_dim: int  # input width: n for Discrete (one-hot), the flat size for Box
    discrete: bool  # Discrete actions
    action_start: int  # a Discrete space's `start`
    discrete_obs: bool = False  # Discrete observations
    obs_start: int = 0  # a Discrete observation space's `start`

    def action_input(self, actions: torch.Tensor) -> torch.Tensor:
        """One-hot (Discrete) or flat float (Box) actions, (B, action_dim)."""
        if self.discrete:
            return nn.functional.one_hot(actions.long().reshape(-1) - self.action_start, self.action_dim).float()
        return actions.reshape(actions.shape[0], -1).float()

    def obs_index(self, obs: torch.Tensor) -> torch.Tensor:
        """Discrete observations as class indices 0..n-1, (B,)."""
        return obs.long().reshape(-1) - self.obs_start

    def obs_one_hot(self, obs: torch.Tensor) -> torch.Tensor:
        """Discrete observations one-hot, (B, obs_dim)."""
        return nn.functional.one_hot(self.obs_index(obs), self.obs_dim).float()


def vector_spaces(observation_space: gym.Space, action_space: gym.Space, name: str,
                  discrete_obs: bool = False) -> VectorSpaces:
    """The :class:`VectorSpaces` of a model on 1-D float observations (and Discrete ones if `discrete_obs`), or a
    ConfigError naming the model."""
    if discrete_obs and isinstance(observation_space, gym.spaces.Discrete):
        obs_dim, obs_start = int(observation_space.n), int(observation_space.start)
    elif isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 1 \
            and np.issubdtype(observation_space.dtype, np.floating):
        obs_dim, obs_start = int(observation_space.shape[0]), 0
    else:
        takes = "1-D float Box or Discrete" if discrete_obs else "1-D float Box"
        raise ConfigError("model", f"the '{name}' world model takes {takes} observations, this env has "
                          f"{observation_space}; the 'frame' model takes MinAtar frames, Dyna-Q discrete states.")
    observations = (isinstance(observation_space, gym.spaces.Discrete), obs_start)
    if isinstance(action_space, gym.spaces.Discrete):
        return VectorSpaces(obs_dim, int(action_space.n), True, int(action_space.start), *observations)
    if isinstance(action_space, gym.spaces.Box):
        return VectorSpaces(obs_dim, int(np.prod(action_space.shape)), False, 0, *observations)
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
