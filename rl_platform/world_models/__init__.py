"""Learned world models: (observation, action) -> (next observation, reward, termination).

Built-ins register themselves on import (entry points `rl_platform.world_models` in pyproject.toml): `mlp`
(deterministic) and `ensemble` (K Gaussian members). Tabular Dyna-Q keeps its own count model
(`rl_platform/agents/tabular_q/dyna.py`): a table over discrete states, not a network.
"""

from rl_platform.world_models.base import Imagined, Transition, WorldModel

__all__ = ["Imagined", "Transition", "WorldModel"]
