"""Pretraining objectives: losses on a dataset that train an agent's network before (or instead of) RL.

Each is a registered component (`OBJECTIVES`, entry-point group `rl_platform.objectives`), chosen by
`pretrain.objective` and run by `rlp pretrain` (:mod:`rl_platform.pretrain`): `bc` (behaviour cloning into the
policy), `dynamics`, `inverse`, `contrastive` and `reconstruction` (self-supervised: they train the encoder), and
`world_model` (trains a registered world model of its own, not the agent's network).
A new objective is an options dataclass and a build function `(network, observation_space, action_space,
options) -> Objective` (see :mod:`rl_platform.objectives.base`), registered like the built-ins.
"""

from rl_platform.objectives.base import (
    AgentNetwork,
    Batch,
    BatchSource,
    Objective,
    build_objective,
)

__all__ = ["AgentNetwork", "Batch", "BatchSource", "Objective", "build_objective"]
