"""CartPole-v1 (Barto, Sutton & Anderson, 1983), the same dynamics as Gymnasium's reference.

| Action | Meaning |            | Observation (float32) | Range |
|--------|---------|------------|-----------------------|-------|
| 0      | push left  |         | cart position         | [-4.8, 4.8] |
| 1      | push right |         | cart velocity         | (-inf, inf) |
|        |            |         | pole angle (rad)      | [-0.418, 0.418] |
|        |            |         | pole angular velocity | (-inf, inf) |

Reward 1 every step (also the terminating one). Terminates when |x| > 2.4 or |theta| > 12 degrees;
truncates at 500 steps. Reset: each state variable uniform in [-0.05, 0.05]. Euler integration.

CartPoleNoVel-v1 is the same env observed without the velocities: (cart position, pole angle).
One frame no longer tells where the pole is going, so a policy needs a memory (see `env.history`).
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from rl_platform.envs.kernel import NumbaEnvDef
from rl_platform.envs.rng import next_uniform

GRAVITY, MASS_CART, MASS_POLE, HALF_LENGTH, FORCE_MAG, TAU = 0, 1, 2, 3, 4, 5
THETA_LIMIT, X_LIMIT = 6, 7

PARAMS = np.array([9.8, 1.0, 0.1, 0.5, 10.0, 0.02, 12 * 2 * math.pi / 360, 2.4])


def reset_one(state, params, rng):
    for k in range(4):
        state[k] = -0.05 + 0.1 * next_uniform(rng)


def step_one(state, action, params, rng):
    x, x_dot, theta, theta_dot = state[0], state[1], state[2], state[3]
    total_mass = params[MASS_POLE] + params[MASS_CART]
    polemass_length = params[MASS_POLE] * params[HALF_LENGTH]
    force = params[FORCE_MAG] if action == 1 else -params[FORCE_MAG]
    costheta = math.cos(theta)
    sintheta = math.sin(theta)
    temp = (force + polemass_length * theta_dot * theta_dot * sintheta) / total_mass
    thetaacc = (params[GRAVITY] * sintheta - costheta * temp) / (
        params[HALF_LENGTH] * (4.0 / 3.0 - params[MASS_POLE] * costheta * costheta / total_mass))
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    tau = params[TAU]
    state[0] = x + tau * x_dot
    state[1] = x_dot + tau * xacc
    state[2] = theta + tau * theta_dot
    state[3] = theta_dot + tau * thetaacc
    terminated = (state[0] < -params[X_LIMIT] or state[0] > params[X_LIMIT]
                  or state[2] < -params[THETA_LIMIT] or state[2] > params[THETA_LIMIT])
    return 1.0, terminated


def observe_one(state, params, obs):
    for k in range(4):
        obs[k] = state[k]


_high = np.array([PARAMS[X_LIMIT] * 2, np.inf, PARAMS[THETA_LIMIT] * 2, np.inf], dtype=np.float32)  # as the reference

CARTPOLE = NumbaEnvDef(
    name="CartPole-v1", state_size=4,
    observation_space=gym.spaces.Box(-_high, _high, dtype=np.float32),
    action_space=gym.spaces.Discrete(2),
    max_episode_steps=500, reset_one=reset_one, step_one=step_one, observe_one=observe_one,
    params=PARAMS,
)


def observe_positions_one(state, params, obs):
    obs[0] = state[0]
    obs[1] = state[2]


CARTPOLE_NO_VEL = NumbaEnvDef(
    name="CartPoleNoVel-v1", state_size=4,
    observation_space=gym.spaces.Box(-_high[[0, 2]], _high[[0, 2]], dtype=np.float32),
    action_space=gym.spaces.Discrete(2),
    max_episode_steps=500, reset_one=reset_one, step_one=step_one, observe_one=observe_positions_one,
    params=PARAMS,
)
