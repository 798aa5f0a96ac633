"""Shared machinery of the toy-text envs: an exact tabular model, packed into `params`, and sampled in Numba.

Every toy-text env is a finite MDP given, as in Gymnasium, by a transition table: for each state `s`
and action `a`, a short list of outcomes `(probability, next_state, reward, terminated)`, plus an
initial-state distribution. :class:`rl_platform.mdp.TransitionModel` holds it as dense arrays padded
to `K` outcomes (padding has probability 0 and is never drawn).

Sampling is exactly Gymnasium's `categorical_sample`: draw `u` uniform on [0, 1), accumulate the
probabilities in order and take the first outcome whose running sum exceeds `u` (outcome 0 when
rounding leaves the total at or below `u`, as `np.argmax` of an all-False array does).

`params` layout (float64), read by the kernels; header slots are fixed indices:

| Index | Content |
|-------|---------|
| 0 `NUM_STATES`, 1 `NUM_ACTIONS`, 2 `MAX_OUTCOMES` (K) | table sizes |
| 3 `NUM_INITIAL` (m) | number of initial states with non-zero probability |
| 4 `INITIAL` | offset of the initial distribution: m probabilities, then m states |
| 5 `TABLE` | offset of the table: probabilities, next states, rewards, terminated (each S*A*K, row-major) |
| 6, 7 `EXTRA` | env-specific scalars (Taxi: fickle passenger flag and probability) |

The generic `reset_one`/`step_one`/`observe_one` here serve every env whose whole state is the
observed state index (FrozenLake, CliffWalking): state = [s]. They are shared, so all maps and
variants use the same compiled kernels.
"""

from __future__ import annotations

import numba
import numpy as np

from rl_platform.envs.rng import next_uniform
from rl_platform.mdp import TransitionModel

NUM_STATES, NUM_ACTIONS, MAX_OUTCOMES, NUM_INITIAL, INITIAL, TABLE, EXTRA = 0, 1, 2, 3, 4, 5, 6
HEADER_SIZE = 8

# Stands in for "no time limit" (Gymnasium registers CliffWalking without one): never reached.
NO_TIME_LIMIT = int(np.iinfo(np.int64).max)


def pack_params(model: TransitionModel, extra: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """The model as the flat float64 `params` array the kernels read (layout in the module docstring)."""
    support = np.flatnonzero(model.initial > 0)  # zero-probability entries never change the draw
    table = [model.probs, model.next_state, model.reward, model.terminated]
    header = np.zeros(HEADER_SIZE)
    header[[NUM_STATES, NUM_ACTIONS, MAX_OUTCOMES]] = model.probs.shape
    header[NUM_INITIAL] = len(support)
    header[INITIAL] = HEADER_SIZE
    header[TABLE] = HEADER_SIZE + 2 * len(support)
    header[EXTRA:EXTRA + 2] = extra
    return np.concatenate([header, model.initial[support], support.astype(np.float64),
                           *[np.asarray(block, dtype=np.float64).ravel() for block in table]])


@numba.njit(inline="always")
def categorical_index(params, start, count, rng):
    """Like Gymnasium's `categorical_sample`: the first k whose running sum of
    `params[start:start + count]` exceeds a uniform draw (0 if none does)."""
    u = next_uniform(rng)
    total = 0.0
    for k in range(count):
        total += params[start + k]
        if total > u:
            return k
    return 0


@numba.njit(inline="always")
def sample_initial(params, rng):
    """An initial state index drawn from the packed initial distribution."""
    count = int(params[NUM_INITIAL])
    start = int(params[INITIAL])
    return int(params[start + count + categorical_index(params, start, count, rng)])


@numba.njit(inline="always")
def sample_outcome(s, action, params, rng):
    """One outcome of `action` in state `s`: (next_state, reward, terminated)."""
    k_max = int(params[MAX_OUTCOMES])
    size = int(params[NUM_STATES]) * int(params[NUM_ACTIONS]) * k_max
    base = int(params[TABLE]) + (s * int(params[NUM_ACTIONS]) + action) * k_max
    index = base + categorical_index(params, base, k_max, rng)
    return int(params[index + size]), params[index + 2 * size], params[index + 3 * size] != 0.0


def reset_one(state, params, rng):
    state[0] = sample_initial(params, rng)


def step_one(state, action, params, rng):
    s_next, reward, terminated = sample_outcome(int(state[0]), action, params, rng)
    state[0] = s_next
    return reward, terminated


def observe_one(state, params, obs):
    obs[0] = int(state[0])
