"""MountainCar-v0 (Moore, 1990), the same dynamics as Gymnasium's reference.

| Action | Meaning |              | Observation (float32) | Range |
|--------|---------|--------------|-----------------------|-------|
| 0      | accelerate left  |     | car position          | [-1.2, 0.6] |
| 1      | don't accelerate |     | car velocity          | [-0.07, 0.07] |
| 2      | accelerate right |     |                       |             |

velocity += (action - 1) * 0.001 - 0.0025 * cos(3 * position), clipped to [-0.07, 0.07]; position +=
velocity, clipped to [-1.2, 0.6], and hitting the left wall stops the car. Reward -1 every step.
Terminates when position >= 0.5 and velocity >= goal_velocity (default 0); truncates at 200 steps.
Reset: position uniform in [-0.6, -0.4], velocity 0. State float64, as in the reference.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from rl_platform.envs.kernel import NumbaEnvDef, clip
from rl_platform.envs.rng import next_uniform

MIN_POSITION, MAX_POSITION, MAX_SPEED, GOAL_POSITION, GOAL_VELOCITY, FORCE, GRAVITY = range(7)


def reset_one(state, params, rng):
    state[0] = -0.6 + 0.2 * next_uniform(rng)
    state[1] = 0.0


def step_one(state, action, params, rng):
    position, velocity = state[0], state[1]
    velocity += (action - 1) * params[FORCE] + math.cos(3 * position) * (-params[GRAVITY])
    velocity = clip(velocity, -params[MAX_SPEED], params[MAX_SPEED])
    position += velocity
    position = clip(position, params[MIN_POSITION], params[MAX_POSITION])
    if position == params[MIN_POSITION] and velocity < 0:
        velocity = 0.0
    state[0], state[1] = position, velocity
    return -1.0, position >= params[GOAL_POSITION] and velocity >= params[GOAL_VELOCITY]


def observe_one(state, params, obs):
    obs[0] = state[0]
    obs[1] = state[1]


def mountain_car(goal_velocity: float = 0.0) -> NumbaEnvDef:
    """MountainCar-v0; `goal_velocity` as in `gymnasium.make("MountainCar-v0", goal_velocity=...)`."""
    params = np.array([-1.2, 0.6, 0.07, 0.5, goal_velocity, 0.001, 0.0025])
    return NumbaEnvDef(
        name="MountainCar-v0", state_size=2,
        observation_space=gym.spaces.Box(np.array([-1.2, -0.07], dtype=np.float32),
                                         np.array([0.6, 0.07], dtype=np.float32), dtype=np.float32),
        action_space=gym.spaces.Discrete(3),
        max_episode_steps=200, reset_one=reset_one, step_one=step_one, observe_one=observe_one,
        params=params,
    )


MOUNTAIN_CAR = mountain_car()
