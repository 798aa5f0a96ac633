"""Expert transitions for imitation (GAIL, AIRL, SQIL, BC warm starts): a dataset read once, checked against the
env's spaces, cut to its first N episodes if asked, and sampled uniformly."""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from rl_platform.datasets import Transitions
from rl_platform.errors import ConfigError, UserError


@dataclass
class ExpertData(Transitions):
    """The expert's transitions (a dataset's, maybe cut to its first episodes) and the episodes' own returns."""

    episode_returns: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def episodes(self) -> int:
        return len(self.episode_returns)

    def sample(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """`batch_size` row indices drawn uniformly with replacement."""
        return rng.integers(0, len(self), size=batch_size)


CUT_FIELDS = ("obs", "actions", "rewards", "next_obs", "terminations", "truncations", "episode_ids", "episode_starts")


def load_expert(name: str, observation_space: gym.Space, action_space: gym.Space, episodes: int | None = None,
                key: str = "agent.expert") -> ExpertData:
    """Dataset `name` (a Minari id or a dataset directory) as expert data for these spaces, its first `episodes`
    episodes (None: all). Any problem is a ConfigError naming `key`: a dataset that does not exist, of other
    spaces, with no episodes, or with fewer than `episodes`."""
    from rl_platform.datasets import load_transitions

    try:
        data = load_transitions(name, observation_space, action_space)
    except UserError as exc:
        raise ConfigError(key, str(exc)) from None
    starts = np.flatnonzero(data.episode_starts)  # episodes are contiguous, in dataset order
    available = len(starts)
    if available == 0:
        raise ConfigError(key, f"dataset '{name}' holds no episodes.")
    keep = available if episodes is None else episodes
    if keep > available:
        raise ConfigError(key, f"dataset '{name}' holds {available} episodes; {episodes} were asked for "
                          f"(agent.expert_episodes).")
    rows = len(data.rewards) if keep == available else int(starts[keep])
    returns = np.add.reduceat(data.rewards[:rows].astype(np.float64), starts[:keep])
    cut = {name: getattr(data, name)[:rows] for name in CUT_FIELDS}
    return ExpertData(data.name, data.observation_space, data.action_space, **cut, metadata=data.metadata,
                      episode_returns=returns)
