"""`world_model`: train a registered world model (`pretrain.objective.model`: mlp, ensemble, or a plugin's) on a
dataset, offline; importing this module registers it.

The agent's network is left as it is: the world model is the objective's own module, saved in the checkpoint's
`"objective"` entry under `model.` (with its normalisation statistics, fitted on the training split before the
first step of a fresh run). Validation reports the model's own figures on the held-out episodes.

A model that minimises its `loss` (mlp, ensemble) trains with `rlp pretrain`'s one optimizer (`pretrain`); a
model with its own training step (it overrides `WorldModel.update`: the `gan`) trains through it, with one
optimizer per entry of its `optimizer_groups()` (`generator`, `discriminator`), each named so in the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import torch
from torch import nn

from rl_platform.components import Component, component_option
from rl_platform.objectives.base import AgentNetwork, Batch, Objective
from rl_platform.registry import OBJECTIVES, WORLD_MODELS, ComponentSpec
from rl_platform.world_models import Transition, WorldModel


@dataclass
class WorldModelObjectiveConfig:
    """Options of the `world_model` objective."""

    model: Component = component_option(WORLD_MODELS, "mlp", "the world model: a registered name (mlp, ensemble, gan, "
                                        "or a plugin's) or {name: <model>, <option>: ...}")


def as_transition(batch: Batch) -> Transition:
    return Transition(batch.obs, batch.actions, batch.rewards, batch.next_obs, batch.terminations)


class WorldModelObjective(Objective):
    """The world model's own loss on dataset transitions; the agent's network is not trained."""

    trains_policy = False
    trains_network = False

    def __init__(self, network: AgentNetwork, observation_space: gym.Space, action_space: gym.Space,
                 cfg: WorldModelObjectiveConfig) -> None:
        super().__init__(network)
        spec = WORLD_MODELS.get(cfg.model.name, "pretrain.objective.model")
        self.model: WorldModel = spec.build(observation_space, action_space, cfg.model.options)

    def setup(self, data: Batch) -> None:
        self.model.fit_normalizer(as_transition(data))

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        loss, figures = self.model.loss(as_transition(batch))
        return loss, {"world_model_loss": loss.item(), **figures}

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]] | None:
        return self.model.optimizer_groups() if type(self.model).update is not WorldModel.update else None

    def update(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer], what: str) -> dict[str, float]:
        figures = self.model.update(as_transition(batch), optimizers, what=what)
        return {"world_model_loss": figures["loss"], **figures}


OBJECTIVES.register("world_model", ComponentSpec(
    name="world_model", config_cls=WorldModelObjectiveConfig, build=WorldModelObjective,
    description="a world model (pretrain.objective.model) learned offline: next observation, reward and "
                "termination from (observation, action); the agent's network is not trained"))
