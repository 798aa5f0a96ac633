"""MountainCarContinuous-v0 (Moore, 1990), the same dynamics as Gymnasium's reference.

| Action (float32) | Range   |     | Observation (float32) | Range |
|------------------|---------|-----|-----------------------|-------|
| force            | [-1, 1] |     | car position          | [-1.2, 0.6] |
|                  |         |     | car velocity          | [-0.07, 0.07] |

velocity += force * 0.0015 - 0.0025 * cos(3 * position), clipped to [-0.07, 0.07]; position +=
velocity, clipped to [-1.2, 0.6], and hitting the left wall stops the car. Reward -0.1 * force^2
per step, +100 on reaching the goal. Terminates when position >= 0.45 and velocity >= goal_velocity
(default 0); truncates at 999 steps. Reset: position uniform in [-0.6, -0.4], velocity 0.

The reference keeps its state in float32 after every step, and NumPy compares float32 values with
float32 thresholds, so this env rounds its state to float32 each step and stores float32 goals.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from rl_platform.envs.kernel import NumbaEnvDef, clip
from rl_platform.envs.rng import next_uniform

MIN_POSITION, MAX_POSITION, MAX_SPEED, GOAL_POSITION, GOAL_VELOCITY, POWER = range(6)


def reset_one(state, params, rng):
    state[0] = -0.6 + 0.2 * next_uniform(rng)
    state[1] = 0.0


def step_one(state, action, params, rng):
    position = state[0]
    force = clip(action[0], -1.0, 1.0)
    velocity = state[1] + (force * params[POWER] - 0.0025 * math.cos(3 * position))
    velocity = np.float32(clip(velocity, -params[MAX_SPEED], params[MAX_SPEED]))
    position = np.float32(position + velocity)
    position = clip(position, params[MIN_POSITION], params[MAX_POSITION])
    if position == params[MIN_POSITION] and velocity < 0:
        velocity = 0.0
    terminated = position >= params[GOAL_POSITION] and velocity >= params[GOAL_VELOCITY]
    state[0], state[1] = np.float32(position), velocity
    return (100.0 if terminated else 0.0) - action[0] * action[0] * 0.1, terminated


def observe_one(state, params, obs):
    obs[0] = state[0]
    obs[1] = state[1]


def continuous_mountain_car(goal_velocity: float = 0.0) -> NumbaEnvDef:
    """MountainCarContinuous-v0; `goal_velocity` as in the reference's `gymnasium.make` kwarg."""
    params = np.array([-1.2, 0.6, 0.07, np.float32(0.45), np.float32(goal_velocity), 0.0015])
    return NumbaEnvDef(
        name="MountainCarContinuous-v0", state_size=2,
        observation_space=gym.spaces.Box(np.array([-1.2, -0.07], dtype=np.float32),
                                         np.array([0.6, 0.07], dtype=np.float32), dtype=np.float32),
        action_space=gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32),
        max_episode_steps=999, reset_one=reset_one, step_one=step_one, observe_one=observe_one,
        params=params,
    )


CONTINUOUS_MOUNTAIN_CAR = continuous_mountain_car()
