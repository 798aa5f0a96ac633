"""Learned world models: (observation, action) -> (next observation, reward, termination).

Built-ins register themselves on import (entry points `rl_platform.world_models` in pyproject.toml): `mlp`
(deterministic; vector states, and Discrete states as a categorical argmax), `ensemble` (K Gaussian members,
disagreement as uncertainty), `gan` (a conditional GAN that samples stochastic outcomes; generator and
discriminator are its two named optimizers) and `frame` (MinAtar frames, a Bernoulli per cell). They train offline
(`rlp pretrain`, objective `world_model`) or online next to DQN (`agent.model`, Dyna-DQN), are measured by
`rlp model-eval`, and serve as an env (`rlp/WorldModel-v0`). Tabular Dyna-Q keeps its own count model
(`rl_platform/agents/tabular_q/dyna.py`): a table over discrete states, not a network.
"""

from rl_platform.world_models.base import Imagined, Transition, WorldModel

__all__ = ["Imagined", "Transition", "WorldModel"]
