"""Fixed-horizon classic-control envs for imitation: every episode lasts the full time limit.

CartPoleFixed-v0 is seals' `FixedHorizonCartPole` (seals 0.2.1, `seals/classic_control.py`): CartPole-v1's
dynamics and reset (:mod:`~rl_platform.envs.classic_control.cartpole`), run past the fall.

| Action | Meaning    |         | Observation (float32) | Range |
|--------|------------|---------|-----------------------|-------|
| 0      | push left  |         | cart position         | +-float32 max |
| 1      | push right |         | cart velocity         | +-float32 max |
|        |            |         | pole angle (rad)      | [-pi, pi] |
|        |            |         | pole angular velocity | +-float32 max |

Never terminates; truncates at 500 steps, so the return is the number of steps spent "ok". Reward 1 while
the state is ok (|x| < 2.4 and |theta| < 12 degrees after the step), else 0; the state keeps evolving once
the pole is down and the cart off the track, so it may come back to ok (the pole swinging through upright).
As in seals, the pole angle is wrapped into [-pi, pi) after every step (CartPole-v1 lets it grow), which
is why its range is [-pi, pi]; the other bounds are widened to float32 max, since the cart leaves the
track. The wrap changes no dynamics (only sin and cos of the angle enter them).

PendulumFixed-v0 is Pendulum-v1 (:mod:`~rl_platform.envs.classic_control.pendulum`) under another name:
same dynamics, reward and 200-step truncation; it never terminated anyway. The name lets an imitation
config say that its env has a fixed horizon.

Why these exist: in an env that ends episodes early the episode length itself carries reward, so imitation
is judged (and, with a learned reward, trained) on termination as much as on behaviour. An agent that
copies an always-action-0 expert still "balances" CartPole-v1 for ~10 steps per episode, and a learned
reward that is positive (negative) everywhere teaches the agent to make episodes long (short) regardless
of what it imitates. With a fixed horizon, the return counts only the steps spent upright.
"""

from __future__ import annotations

import dataclasses
import math

import gymnasium as gym
import numpy as np

from rl_platform.envs.classic_control import cartpole
from rl_platform.envs.classic_control.cartpole import PARAMS, THETA_LIMIT, X_LIMIT
from rl_platform.envs.classic_control.pendulum import pendulum
from rl_platform.envs.kernel import NumbaEnvDef, compiled_one

# CartPole-v1's step as a Numba CPU function, so that our step can call it (and the CUDA backend swap it
# for its device twin).
_cartpole_step = compiled_one(cartpole.step_one)


def step_one(state, action, params, rng):
    _cartpole_step(state, action, params, rng)  # its termination flag is ignored: the episode goes on
    state[2] = ((state[2] + math.pi) % (2 * math.pi)) - math.pi
    upright = abs(state[0]) < params[X_LIMIT] and abs(state[2]) < params[THETA_LIMIT]
    return (1.0 if upright else 0.0), False


_F32_MAX = np.finfo(np.float32).max
_high = np.array([_F32_MAX, _F32_MAX, np.pi, _F32_MAX], dtype=np.float32)  # as seals

CARTPOLE_FIXED = NumbaEnvDef(
    name="CartPoleFixed-v0", state_size=4,
    observation_space=gym.spaces.Box(-_high, _high, dtype=np.float32),
    action_space=gym.spaces.Discrete(2),
    max_episode_steps=500, reset_one=cartpole.reset_one, step_one=step_one, observe_one=cartpole.observe_one,
    params=PARAMS,
)


def pendulum_fixed(g: float = 10.0) -> NumbaEnvDef:
    """Pendulum-v1 registered as PendulumFixed-v0; `g` (gravity) as in :func:`pendulum`."""
    return dataclasses.replace(pendulum(g), name="PendulumFixed-v0")
