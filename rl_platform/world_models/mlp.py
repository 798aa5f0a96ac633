"""`mlp`: a deterministic world model for vector and discrete observations (importing this module registers it).

An MLP on [normalised observation, action] predicts the normalised state change (next_obs - obs, normalised by
its statistics on the training data), the reward and a termination logit; the loss is the mean squared error on
the first two and binary cross-entropy on the third. Deterministic: on a stochastic env it predicts the mean
next state, which is what the `ensemble` and `gan` models are for.

Discrete observations (FrozenLake, Taxi) enter one-hot and the MLP predicts next-state logits, trained by
cross-entropy (reward and termination as above); a step is the most likely next state (argmax), as an integer
state like the env's own observations: next_obs is (B,) int64. So on a stochastic env the model is a point mass
on the likeliest outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import torch
from torch import nn

from rl_platform.nn.layers import check_widths, mlp
from rl_platform.options import option
from rl_platform.registry import WORLD_MODELS, ComponentSpec
from rl_platform.world_models.base import Imagined, Normalizer, Transition, WorldModel, vector_spaces


@dataclass
class MLPModelConfig:
    """Options of the `mlp` world model."""

    hidden_sizes: list[int] = option([200, 200], "hidden layers of the MLP")
    reward_weight: float = option(1.0, "weight of the reward loss (mean squared error)", ge=0)
    termination_weight: float = option(1.0, "weight of the termination loss (binary cross-entropy)", ge=0)

    def __post_init__(self) -> None:
        check_widths(self.hidden_sizes)


class DeltaTargets(nn.Module):
    """The normalisers of a vector model: inputs (observations) and targets (state changes)."""

    def __init__(self, obs_dim: int) -> None:
        super().__init__()
        self.obs = Normalizer(obs_dim)
        self.delta = Normalizer(obs_dim)

    def fit(self, data: Transition) -> None:
        self.obs.fit(data.obs)
        self.delta.fit(data.next_obs.float() - data.obs.float())

    def target(self, data: Transition) -> torch.Tensor:
        """The normalised state change the model should predict."""
        return self.delta(data.next_obs.float() - data.obs.float())

    def next_obs(self, obs: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return obs.float() + self.delta.inverse(delta)


class VectorWorldModel(WorldModel):
    """What the models on vector observations share: their spaces, their normalisers (fitted on training data)
    and their network input [normalised observation, action]. With `discrete_obs`, Discrete observations are
    taken too: they enter one-hot and have no normalisers (`norm` is None)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, name: str,
                 discrete_obs: bool = False) -> None:
        super().__init__(observation_space, action_space)
        self.spaces = vector_spaces(observation_space, action_space, name, discrete_obs)
        self.norm = None if self.spaces.discrete_obs else DeltaTargets(self.spaces.obs_dim)
        self.input_dim = self.spaces.obs_dim + self.spaces.action_dim

    def fit_normalizer(self, data: Transition) -> None:
        if self.norm is not None:
            self.norm.fit(data)

    def obs_input(self, obs: torch.Tensor) -> torch.Tensor:
        """The normalised (Box) or one-hot (Discrete) observation, (B, obs_dim)."""
        return self.spaces.obs_one_hot(obs) if self.norm is None else self.norm.obs(obs.float())

    def inputs(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """[normalised or one-hot observation, one-hot or flat action], (B, input_dim)."""
        return torch.cat([self.obs_input(obs), self.spaces.action_input(actions)], dim=-1)


class MLPWorldModel(VectorWorldModel):
    """mlp([obs, action]) -> (normalised delta or next-state logits, reward, termination logit)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, cfg: MLPModelConfig) -> None:
        super().__init__(observation_space, action_space, "mlp", discrete_obs=True)
        self.cfg = cfg
        self.net = mlp(self.input_dim, cfg.hidden_sizes, self.spaces.obs_dim + 2)

    def predict(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(normalised delta, or next-state logits for Discrete observations (B, D), reward (B,), termination
        logit (B,))."""
        out = self.net(self.inputs(obs, actions))
        return out[:, :-2], out[:, -2], out[:, -1]

    def next_obs(self, obs: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """The predicted next observation: obs plus the state change, or the most likely next state (int64)."""
        if self.norm is None:
            return delta.argmax(-1) + self.spaces.obs_start
        return self.norm.next_obs(obs, delta)

    def loss(self, data: Transition) -> tuple[torch.Tensor, dict[str, float]]:
        delta, reward, termination = self.predict(data.obs, data.actions)
        if self.norm is None:  # Discrete observations: cross-entropy of the next-state logits
            delta_loss = nn.functional.cross_entropy(delta, self.spaces.obs_index(data.next_obs))
        else:
            delta_loss = (delta - self.norm.target(data)).pow(2).mean()
        reward_loss = (reward - data.rewards.float()).pow(2).mean()
        termination_loss = nn.functional.binary_cross_entropy_with_logits(termination, data.terminations.float())
        total = delta_loss + self.cfg.reward_weight * reward_loss + self.cfg.termination_weight * termination_loss
        return total, {"next_obs": float(delta_loss.detach()), "reward": float(reward_loss.detach()),
                       "termination": float(termination_loss.detach())}

    @torch.no_grad()
    def sample(self, obs: torch.Tensor, actions: torch.Tensor, generator: torch.Generator | None = None) -> Imagined:
        delta, reward, termination = self.predict(obs, actions)
        return Imagined(self.next_obs(obs, delta), reward, termination > 0, torch.zeros_like(reward))

    @torch.no_grad()
    def point_prediction(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.next_obs(obs, self.predict(obs, actions)[0])


WORLD_MODELS.register("mlp", ComponentSpec(
    "mlp", MLPModelConfig, MLPWorldModel,
    "deterministic MLP: state change (or most likely next state), reward and termination from [observation, "
    "action] (vector or discrete observations)"))
