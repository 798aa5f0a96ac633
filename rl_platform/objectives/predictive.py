"""Objectives that train the encoder by predicting from its features (importing this module registers them):

* `dynamics`: a forward model on [features, action] predicts the next observation, the reward and the
  termination;
* `inverse`: the action from the features of an observation and of the next one;
* `reconstruction`: an autoencoder, the observation back from its features.

Observations are predicted with per-cell binary cross-entropy for bool frames (MinAtar), mean squared error
otherwise (:class:`rl_platform.objectives.base.ObservationLoss`). The decoders are small MLPs of the objective
(saved in the checkpoint's `"objective"` entry); only the encoder goes on to the agent.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import torch
from torch import nn

from rl_platform.nn.layers import check_widths, mlp
from rl_platform.objectives.base import (
    ActionInput,
    AgentNetwork,
    Batch,
    Objective,
    ObservationLoss,
)
from rl_platform.options import option
from rl_platform.registry import OBJECTIVES, ComponentSpec


@dataclass
class DynamicsConfig:
    """Options of the `dynamics` objective."""

    hidden_sizes: list[int] = option([256], "hidden layers of the forward model ([]: one linear layer)")
    observation_weight: float = option(1.0, "weight of the next-observation loss", ge=0)
    reward_weight: float = option(1.0, "weight of the reward loss (mean squared error)", ge=0)
    termination_weight: float = option(1.0, "weight of the termination loss (binary cross-entropy)", ge=0)

    def __post_init__(self) -> None:
        check_widths(self.hidden_sizes)


class Dynamics(Objective):
    """forward_model([enc(s), action]) -> (next observation, reward, termination logit)."""

    def __init__(self, network: AgentNetwork, observation_space: gym.Space, action_space: gym.Space,
                 cfg: DynamicsConfig) -> None:
        super().__init__(network)
        self.cfg = cfg
        self.observation_loss = ObservationLoss(observation_space, "pretrain.objective")
        self.action_input = ActionInput(action_space, "pretrain.objective")
        in_dim = network.encoder.out_dim + self.action_input.dim
        self.forward_model = mlp(in_dim, cfg.hidden_sizes, self.observation_loss.out_dim + 2)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        features = self.network.encoder(batch.obs)
        out = self.forward_model(torch.cat([features, self.action_input(batch.actions)], dim=1))
        size = self.observation_loss.out_dim
        observation_loss = self.observation_loss(out[:, :size], batch.next_obs)
        reward_loss = (out[:, size] - batch.rewards.float()).pow(2).mean()
        termination_loss = nn.functional.binary_cross_entropy_with_logits(out[:, size + 1],
                                                                          batch.terminations.float())
        cfg = self.cfg
        loss = (cfg.observation_weight * observation_loss + cfg.reward_weight * reward_loss
                + cfg.termination_weight * termination_loss)
        return loss, {"observation_loss": observation_loss.item(), "reward_loss": reward_loss.item(),
                      "termination_loss": termination_loss.item()}


@dataclass
class InverseConfig:
    """Options of the `inverse` objective."""

    hidden_sizes: list[int] = option([256], "hidden layers of the inverse model ([]: one linear layer)")

    def __post_init__(self) -> None:
        check_widths(self.hidden_sizes)


class InverseDynamics(Objective):
    """inverse_model([enc(s), enc(s')]) -> the action: cross-entropy for Discrete actions, squared error for Box."""

    def __init__(self, network: AgentNetwork, observation_space: gym.Space, action_space: gym.Space,
                 cfg: InverseConfig) -> None:
        super().__init__(network)
        self.action_input = ActionInput(action_space, "pretrain.objective")
        self.inverse_model = mlp(2 * network.encoder.out_dim, cfg.hidden_sizes, self.action_input.dim)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        features = self.network.encoder(torch.cat([batch.obs, batch.next_obs]))
        current, following = features.chunk(2)
        out = self.inverse_model(torch.cat([current, following], dim=1))
        if not self.action_input.discrete:
            loss = (out - self.action_input(batch.actions)).pow(2).mean()
            return loss, {"inverse_loss": loss.item()}
        targets = self.action_input.indices(batch.actions)
        loss = nn.functional.cross_entropy(out, targets)
        return loss, {"inverse_loss": loss.item(), "accuracy": (out.argmax(dim=1) == targets).float().mean().item()}


@dataclass
class ReconstructionConfig:
    """Options of the `reconstruction` objective."""

    hidden_sizes: list[int] = option([256], "hidden layers of the decoder ([]: one linear layer)")

    def __post_init__(self) -> None:
        check_widths(self.hidden_sizes)


class Reconstruction(Objective):
    """decoder(enc(s)) -> s."""

    def __init__(self, network: AgentNetwork, observation_space: gym.Space, action_space: gym.Space,
                 cfg: ReconstructionConfig) -> None:
        super().__init__(network)
        self.observation_loss = ObservationLoss(observation_space, "pretrain.objective")
        self.decoder = mlp(network.encoder.out_dim, cfg.hidden_sizes, self.observation_loss.out_dim)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        loss = self.observation_loss(self.decoder(self.network.encoder(batch.obs)), batch.obs)
        return loss, {"reconstruction_loss": loss.item()}


OBJECTIVES.register("dynamics", ComponentSpec(
    name="dynamics", config_cls=DynamicsConfig, build=Dynamics,
    description="forward model on the encoder's features and the action: next observation, reward, termination"))
OBJECTIVES.register("inverse", ComponentSpec(
    name="inverse", config_cls=InverseConfig, build=InverseDynamics,
    description="inverse dynamics: the action from the features of an observation and the next one"))
OBJECTIVES.register("reconstruction", ComponentSpec(
    name="reconstruction", config_cls=ReconstructionConfig, build=Reconstruction,
    description="autoencoder: the observation back from the encoder's features"))
