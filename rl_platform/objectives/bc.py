"""`bc`: behaviour cloning into the agent's own policy output (importing this module registers it).

The loss is the negative log-likelihood of the dataset's actions under the agent's action distribution: for DQN
a softmax over its Q-values (cross-entropy with the Q-values as logits, so the greedy action, argmax Q, is the
cloned one); for A3C its categorical policy, or its Gaussian for Box actions, evaluated at the raw action the
agent would have sampled (`AgentNetwork.raw_actions` undoes a tanh squashing; clipping needs nothing, as the
dataset's actions lie within the bounds).
"""

from __future__ import annotations

import gymnasium as gym
import torch
from torch.distributions import Categorical

from rl_platform.components import NoOptions
from rl_platform.objectives.base import AgentNetwork, Batch, Objective
from rl_platform.registry import OBJECTIVES, ComponentSpec


class BehaviourCloning(Objective):
    """-log pi(a | s) of the dataset's actions; `accuracy`: how often the greedy action is the dataset's (discrete)."""

    trains_policy = True

    def __init__(self, network: AgentNetwork, observation_space: gym.Space, action_space: gym.Space,
                 cfg: NoOptions) -> None:
        super().__init__(network)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        dist = self.network.policy(batch.obs)
        raw = self.network.raw_actions(batch.actions)
        loss = -dist.log_prob(raw).mean()
        stats = {"bc_loss": loss.item()}
        if isinstance(dist, Categorical):
            stats["accuracy"] = (dist.logits.argmax(dim=-1) == raw).float().mean().item()
        return loss, stats


OBJECTIVES.register("bc", ComponentSpec(
    name="bc", config_cls=NoOptions, build=BehaviourCloning,
    description="behaviour cloning: log-likelihood of the dataset's actions under the agent's policy "
                "(DQN: softmax of its Q-values)"))
