"""Stepping a Gymnasium vector env into clean transitions, whatever its autoreset mode.

Agents get, for every vector step, `next_obs` that is the true last observation of an episode that
ended (so truncated episodes bootstrap correctly), a `valid` mask that drops the reset steps of
next-step autoreset, and the returns and lengths of the episodes that finished.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode


@dataclass
class Transitions:
    """One vector step. Entries where `valid` is False are auto-reset steps, not transitions."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    valid: np.ndarray
    episode_returns: np.ndarray  # returns of the episodes that ended on this step
    episode_lengths: np.ndarray


def autoreset_mode(envs: gym.vector.VectorEnv) -> AutoresetMode:
    mode = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    return AutoresetMode(mode) if not isinstance(mode, AutoresetMode) else mode


class VectorStepper:
    """Holds the current observation of a vector env and steps it, tracking episode statistics."""

    def __init__(self, envs: gym.vector.VectorEnv, seed: int | None) -> None:
        self.envs = envs
        self.mode = autoreset_mode(envs)
        self.num_envs = envs.num_envs
        self.obs, _ = envs.reset(seed=seed)
        self.resetting = np.zeros(self.num_envs, dtype=bool)  # next-step mode: reset on this step
        self.running_returns = np.zeros(self.num_envs, dtype=np.float64)
        self.running_lengths = np.zeros(self.num_envs, dtype=np.int64)

    def step(self, actions: np.ndarray) -> Transitions:
        obs = self.obs
        next_obs, rewards, terminations, truncations, infos = self.envs.step(actions)
        rewards = np.asarray(rewards, dtype=np.float32)
        terminations = np.asarray(terminations, dtype=bool)
        truncations = np.asarray(truncations, dtype=bool)
        dones = terminations | truncations
        valid = ~self.resetting
        stored_next_obs = next_obs
        if self.mode == AutoresetMode.SAME_STEP and dones.any():
            stored_next_obs = np.array(next_obs, copy=True)
            for i in np.flatnonzero(dones):
                stored_next_obs[i] = infos["final_obs"][i]
        self.running_returns += np.where(valid, rewards, 0.0)
        self.running_lengths += valid
        ended = dones & valid
        episode_returns = self.running_returns[ended].copy()
        episode_lengths = self.running_lengths[ended].copy()
        self.running_returns[dones] = 0.0
        self.running_lengths[dones] = 0
        if self.mode == AutoresetMode.NEXT_STEP:
            self.resetting = dones
        elif self.mode == AutoresetMode.DISABLED and dones.any():
            next_obs, _ = self.envs.reset(options={"reset_mask": dones})
        self.obs = next_obs
        return Transitions(obs, actions, rewards, stored_next_obs, terminations, truncations, valid,
                           episode_returns, episode_lengths)
