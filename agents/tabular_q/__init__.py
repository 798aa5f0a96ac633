"""Tabular Q-learning agent; importing this module registers it as 'tabular_q'."""

from rl_platform.agents.tabular_q.tabular_q import TabularQAgent, TabularQConfig, make_agent, report, train
from rl_platform.registry import AGENTS, AgentSpec

AGENTS.register("tabular_q", AgentSpec(
    name="tabular_q", config_cls=TabularQConfig, train=train, make_agent=make_agent, report=report,
    description="tabular Q-learning, double Q, SARSA, expected SARSA; discrete or discretized observations",
))

__all__ = ["TabularQAgent", "TabularQConfig", "make_agent", "report", "train"]
