"""Observation history: a vector-env wrapper that gives agents each env's last K observations.

The wrapped env's observations become `(K, *obs_shape)`, oldest first. A new episode's history
starts filled with its first observation, and the true final observation of an ended episode (the
one agents bootstrap a truncation from) is stacked with that episode's own history, whatever the
env's autoreset mode; so agents need not know the wrapper is there.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from rl_platform.errors import ConfigError
from rl_platform.rollout import autoreset_mode


def history_space(space: gym.spaces.Box, length: int) -> gym.spaces.Box:
    """The Box of `length` stacked observations of `space` (its bounds repeated along a new first axis)."""
    low = np.broadcast_to(space.low, (length, *space.shape))
    high = np.broadcast_to(space.high, (length, *space.shape))
    return gym.spaces.Box(low, high, dtype=space.dtype)


class ObservationHistory(gym.vector.VectorWrapper):
    """Stacks the last `length` observations of every env of a vector env (a Box observation space).

    Every call returns new arrays, so an observation an agent holds is never overwritten by a later step.
    `info["final_obs"]` of a same-step autoreset env becomes an array `(num_envs, length, *obs_shape)`
    whose rows flagged in `info["_final_obs"]` hold the ended episodes' last histories.
    """

    def __init__(self, envs: gym.vector.VectorEnv, length: int) -> None:
        super().__init__(envs)
        space = envs.single_observation_space
        if not isinstance(space, gym.spaces.Box):
            raise ConfigError("env.history", f"stacking observations needs a Box observation space; "
                              f"this env's is {space}.")
        self.length = length
        self.single_observation_space = history_space(space, length)
        self.observation_space = batch_space(self.single_observation_space, envs.num_envs)
        self.mode = autoreset_mode(envs)
        self.history = np.zeros((envs.num_envs, length, *space.shape), dtype=space.dtype)
        # Next-step autoreset: envs whose coming step returns a new episode's first observation.
        self.starting = np.zeros(envs.num_envs, dtype=bool)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset (all envs, or those in `options["reset_mask"]`); a reset env's history is its first observation."""
        mask = np.ones(self.num_envs, dtype=bool)
        if options and "reset_mask" in options:  # read first: SyncVectorEnv.reset pops it
            mask = np.array(options["reset_mask"], dtype=bool)
        obs, info = self.env.reset(seed=seed, options=options)
        self.history = self.history.copy()
        self.history[mask] = np.asarray(obs, dtype=self.history.dtype)[mask, None]
        self.starting[mask] = False
        return self.history, info

    def step(self, actions: Any) -> tuple[np.ndarray, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminations, truncations, info = self.env.step(actions)
        obs = np.asarray(obs, dtype=self.history.dtype)
        history = np.concatenate([self.history[:, 1:], obs[:, None]], axis=1)
        if self.mode == AutoresetMode.NEXT_STEP:
            history[self.starting] = obs[self.starting, None]
            self.starting = np.asarray(terminations) | np.asarray(truncations)
        elif self.mode == AutoresetMode.SAME_STEP and "_final_obs" in info:
            ended = np.flatnonzero(info["_final_obs"])
            final_histories = history.copy()
            for i in ended:  # `obs` already shows the next episode; the ended one's last frame is in info
                final_histories[i, -1] = info["final_obs"][i]
                history[i] = obs[i]
            info = {**info, "final_obs": final_histories}
        self.history = history
        return history, rewards, terminations, truncations, info
