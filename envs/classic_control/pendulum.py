"""Pendulum-v1 (inverted pendulum swing-up), the same dynamics as Gymnasium's reference.

| Action (float32) | Range   |     | Observation (float32) | Range |
|------------------|---------|-----|-----------------------|-------|
| torque           | [-2, 2] |     | cos(theta)            | [-1, 1] |
|                  |         |     | sin(theta)            | [-1, 1] |
|                  |         |     | angular velocity      | [-8, 8] |

theta = 0 is upright. thdot += (3 g / (2 l) sin(theta) + 3 / (m l^2) u) dt, clipped to [-8, 8];
theta += thdot dt (dt = 0.05, m = l = 1, g = 10 by default, the `g` kwarg as in the reference).
Reward -(angle_normalize(theta)^2 + 0.1 thdot^2 + 0.001 u^2), computed before the step; never
terminates; truncates at 200 steps. Reset: theta uniform in [-pi, pi], thdot uniform in [-1, 1].
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from rl_platform.envs.kernel import NumbaEnvDef, clip
from rl_platform.envs.rng import next_uniform

GRAVITY, MASS, LENGTH, DT, MAX_SPEED, MAX_TORQUE = range(6)


def reset_one(state, params, rng):
    state[0] = -math.pi + 2 * math.pi * next_uniform(rng)
    state[1] = -1.0 + 2.0 * next_uniform(rng)


def step_one(state, action, params, rng):
    th, thdot = state[0], state[1]
    g, m, length, dt = params[GRAVITY], params[MASS], params[LENGTH], params[DT]
    u = clip(action[0], -params[MAX_TORQUE], params[MAX_TORQUE])
    normalized = ((th + math.pi) % (2 * math.pi)) - math.pi
    costs = normalized**2 + 0.1 * thdot**2 + 0.001 * (u**2)
    newthdot = thdot + (3 * g / (2 * length) * math.sin(th) + 3.0 / (m * length**2) * u) * dt
    newthdot = clip(newthdot, -params[MAX_SPEED], params[MAX_SPEED])
    state[0] = th + newthdot * dt
    state[1] = newthdot
    return -costs, False


def observe_one(state, params, obs):
    obs[0] = math.cos(state[0])
    obs[1] = math.sin(state[0])
    obs[2] = state[1]


def pendulum(g: float = 10.0) -> NumbaEnvDef:
    """Pendulum-v1; `g` (gravity) as in `gymnasium.make("Pendulum-v1", g=...)`."""
    high = np.array([1.0, 1.0, 8.0], dtype=np.float32)
    return NumbaEnvDef(
        name="Pendulum-v1", state_size=2,
        observation_space=gym.spaces.Box(-high, high, dtype=np.float32),
        action_space=gym.spaces.Box(-2.0, 2.0, shape=(1,), dtype=np.float32),
        max_episode_steps=200, reset_one=reset_one, step_one=step_one, observe_one=observe_one,
        params=np.array([g, 1.0, 1.0, 0.05, 8.0, 2.0]),
    )


PENDULUM = pendulum()
