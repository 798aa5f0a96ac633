"""DQN agent; importing this module registers it as 'dqn'."""

from rl_platform.agents.dqn.dqn import DQNAgent, DQNConfig, make_agent, train
from rl_platform.registry import AGENTS, AgentSpec

AGENTS.register("dqn", AgentSpec(
    name="dqn", config_cls=DQNConfig, train=train, make_agent=make_agent,
    description="DQN: double, dueling, n-step, prioritized replay; discrete actions",
))

__all__ = ["DQNAgent", "DQNConfig", "make_agent", "train"]
