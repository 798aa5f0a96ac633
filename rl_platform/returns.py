"""Bootstrapped returns over a rollout of a vector env, with Gymnasium's termination/truncation split.

Arrays are time-major, shape `(T, num_envs)`. A terminated step has no future value; a truncated
step bootstraps from the value of its true final observation (`final_values`), not from the
next row, which already belongs to a new episode.
"""

from __future__ import annotations

import numpy as np


def n_step_returns(rewards: np.ndarray, terminations: np.ndarray, truncations: np.ndarray,
                   final_values: np.ndarray, last_values: np.ndarray, gamma: float) -> np.ndarray:
    """R_t = r_t + gamma * G_{t+1}, where G_{t+1} is 0 if step t terminated, `final_values[t]` if it was
    truncated, R_{t+1} otherwise, and R_T = `last_values` (the value of the observation after the rollout).

    Each R_t sums rewards up to the end of the window or of its episode, whichever comes first,
    so the first step of a window of n steps gets the n-step return.
    """
    returns = np.empty(rewards.shape, dtype=np.float32)
    future = np.asarray(last_values, dtype=np.float32)
    for t in range(rewards.shape[0] - 1, -1, -1):
        future = np.where(truncations[t], final_values[t], future)
        future = np.where(terminations[t], 0.0, future)
        returns[t] = rewards[t] + gamma * future
        future = returns[t]
    return returns


def gae_advantages(rewards: np.ndarray, terminations: np.ndarray, truncations: np.ndarray, values: np.ndarray,
                   final_values: np.ndarray, last_values: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """Generalized advantage estimation (Schulman et al., 2016) with the same bootstrapping as
    :func:`n_step_returns`; with `lam` = 1 it equals `n_step_returns(...) - values`.

    A_t = delta_t + gamma * lam * A_{t+1} within an episode, delta_t = r_t + gamma * V(s_{t+1}) - V(s_t),
    where V(s_{t+1}) is 0 after a termination and the final observation's value after a truncation.
    """
    advantages = np.empty(rewards.shape, dtype=np.float32)
    next_advantage = np.zeros(rewards.shape[1], dtype=np.float32)
    next_values = np.asarray(last_values, dtype=np.float32)
    for t in range(rewards.shape[0] - 1, -1, -1):
        bootstrap = np.where(terminations[t], 0.0, np.where(truncations[t], final_values[t], next_values))
        delta = rewards[t] + gamma * bootstrap - values[t]
        episode_goes_on = ~(terminations[t] | truncations[t])
        advantages[t] = delta + gamma * lam * np.where(episode_goes_on, next_advantage, 0.0)
        next_advantage, next_values = advantages[t], values[t]
    return advantages
