"""DQN agent; importing this module registers it as 'dqn'."""

import torch
from torch.distributions import Categorical

from rl_platform.agents.dqn.dqn import DQNAgent, DQNConfig, make_agent, train
from rl_platform.objectives import AgentNetwork
from rl_platform.registry import AGENTS, AgentSpec


def pretrain_network(agent: DQNAgent) -> AgentNetwork:
    """What `rlp pretrain` trains: the online Q-network (its encoder; for `bc` its Q-values as the logits of a
    softmax policy, so the greedy action argmax Q is the cloned one); the target network follows it on save."""
    q_network = agent.q_network

    def policy(obs: torch.Tensor) -> Categorical:
        return Categorical(logits=q_network(obs), validate_args=False)

    return AgentNetwork(model=q_network, encoder=q_network.encoder, policy=policy,
                        raw_actions=lambda actions: actions.long(), sync=agent.sync_target)


AGENTS.register("dqn", AgentSpec(
    name="dqn", config_cls=DQNConfig, train=train, make_agent=make_agent, pretrain_network=pretrain_network,
    description="DQN: double, dueling, n-step, prioritized replay; discrete actions",
))

__all__ = ["DQNAgent", "DQNConfig", "make_agent", "pretrain_network", "train"]
