"""Acrobot-v1 (Sutton, 1996; Sutton & Barto's "book" dynamics), the same dynamics as Gymnasium's reference.

| Action | Torque on the joint |     | Observation (float32) | Range |
|--------|---------------------|-----|-----------------------|-------|
| 0      | -1                  |     | cos(theta1), sin(theta1) | [-1, 1] |
| 1      | 0                   |     | cos(theta2), sin(theta2) | [-1, 1] |
| 2      | +1                  |     | dtheta1               | [-4 pi, 4 pi] |
|        |                     |     | dtheta2               | [-9 pi, 9 pi] |

State (float64): [theta1, theta2, dtheta1, dtheta2]; theta2 is relative to link 1. One step integrates
dt = 0.2 s with one fourth-order Runge-Kutta step (no torque noise), wraps both angles into [-pi, pi]
and clips the velocities. Reward -1 per step, 0 on the terminating step; terminates when the free end
is above the bar, -cos(theta1) - cos(theta1 + theta2) > 1; truncates at 500 steps. Reset: each state
variable uniform in [-0.1, 0.1], rounded to float32 as in the reference.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numba
import numpy as np

from rl_platform.envs.kernel import NumbaEnvDef, clip
from rl_platform.envs.rng import next_uniform

DT, LENGTH_1, MASS_1, MASS_2, COM_1, COM_2, MOI, MAX_VEL_1, MAX_VEL_2, GRAVITY = range(10)

PARAMS = np.array([0.2, 1.0, 1.0, 1.0, 0.5, 0.5, 1.0, 4 * math.pi, 9 * math.pi, 9.8])


@numba.njit(inline="always")
def derivatives(theta1, theta2, dtheta1, dtheta2, torque, params):
    """The reference's `_dsdt` ("book" equations), term for term."""
    m1, m2, l1 = params[MASS_1], params[MASS_2], params[LENGTH_1]
    lc1, lc2, moi, g = params[COM_1], params[COM_2], params[MOI], params[GRAVITY]
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * math.cos(theta2)) + moi + moi
    d2 = m2 * (lc2**2 + l1 * lc2 * math.cos(theta2)) + moi
    phi2 = m2 * lc2 * g * math.cos(theta1 + theta2 - math.pi / 2.0)
    phi1 = (-m2 * l1 * lc2 * dtheta2**2 * math.sin(theta2)
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * math.sin(theta2)
            + (m1 * lc1 + m2 * l1) * g * math.cos(theta1 - math.pi / 2) + phi2)
    ddtheta2 = ((torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * math.sin(theta2) - phi2)
                / (m2 * lc2**2 + moi - d2**2 / d1))
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return dtheta1, dtheta2, ddtheta1, ddtheta2


def reset_one(state, params, rng):
    for k in range(4):
        state[k] = np.float32(-0.1 + 0.2 * next_uniform(rng))


def step_one(state, action, params, rng):
    torque = float(action - 1)  # actions 0, 1, 2 -> torques -1, 0, +1
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    h = params[DT] / 2.0
    k1 = derivatives(s0, s1, s2, s3, torque, params)
    k2 = derivatives(s0 + h * k1[0], s1 + h * k1[1], s2 + h * k1[2], s3 + h * k1[3], torque, params)
    k3 = derivatives(s0 + h * k2[0], s1 + h * k2[1], s2 + h * k2[2], s3 + h * k2[3], torque, params)
    dt = params[DT]
    k4 = derivatives(s0 + dt * k3[0], s1 + dt * k3[1], s2 + dt * k3[2], s3 + dt * k3[3], torque, params)
    for k in range(4):
        state[k] += dt / 6.0 * (k1[k] + 2 * k2[k] + 2 * k3[k] + k4[k])
    for k in range(2):  # wrap the angles into [-pi, pi]
        while state[k] > math.pi:
            state[k] -= 2 * math.pi
        while state[k] < -math.pi:
            state[k] += 2 * math.pi
    state[2] = clip(state[2], -params[MAX_VEL_1], params[MAX_VEL_1])
    state[3] = clip(state[3], -params[MAX_VEL_2], params[MAX_VEL_2])
    terminated = -math.cos(state[0]) - math.cos(state[1] + state[0]) > 1.0
    return (0.0 if terminated else -1.0), terminated


def observe_one(state, params, obs):
    obs[0] = math.cos(state[0])
    obs[1] = math.sin(state[0])
    obs[2] = math.cos(state[1])
    obs[3] = math.sin(state[1])
    obs[4] = state[2]
    obs[5] = state[3]


_high = np.array([1.0, 1.0, 1.0, 1.0, PARAMS[MAX_VEL_1], PARAMS[MAX_VEL_2]], dtype=np.float32)

ACROBOT = NumbaEnvDef(
    name="Acrobot-v1", state_size=4,
    observation_space=gym.spaces.Box(-_high, _high, dtype=np.float32),
    action_space=gym.spaces.Discrete(3),
    max_episode_steps=500, reset_one=reset_one, step_one=step_one, observe_one=observe_one,
    params=PARAMS,
)
