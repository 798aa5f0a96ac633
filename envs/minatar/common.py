"""What every MinAtar game shares: sticky actions, action sets, the param/state layout, observation helpers and
the factory that turns a game into registered `rlp/MinAtar-<Game>-v0` / `-v1` env definitions.

Layout. `params[:COMMON_PARAMS]` holds the sticky-action probability, the difficulty-ramping flag and the
action set (agent action -> MinAtar action 0..5); a game's own params follow. `state[LAST_ACTION]` is the
previous MinAtar action (for sticky actions); a game's own state starts at `COMMON_STATE`. Our reset sets
it to NOOP, where `minatar.Environment.reset` keeps it from the previous episode: so an episode depends on
its seed and actions only (the two differ at most on an episode's first step, when the action sticks).

Random draws. Each random call of the reference (`numpy.random.RandomState`) is one or more uniforms of
the env's own stream (:func:`~rl_platform.envs.rng.next_uniform`), in the reference's order:
`rand() < p` is `u < p`; `rand(n)` is n uniforms; `randint(low, high)` is `low + floor(u * (high - low))`
(one uniform per value, so `randint(low, high, n)` is n uniforms). A parity test can therefore drive the
reference with a fake `random` that replays our uniforms (tests/parity/minatar_replay.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import gymnasium as gym
import numba
import numpy as np

from rl_platform.envs.kernel import NumbaEnvDef, clip  # noqa: F401  (clip: for the games)
from rl_platform.envs.rng import next_uniform

# MinAtar's six actions, in the order of the reference's `action_map` ['n', 'l', 'u', 'r', 'd', 'f'].
NOOP, LEFT, UP, RIGHT, DOWN, FIRE = range(6)
ACTION_NAMES = "nlurdf"

# params layout
STICKY_ACTION_PROB, DIFFICULTY_RAMPING, ACTION_SET = 0, 1, 2  # ACTION_SET: up to 6 entries
COMMON_PARAMS = ACTION_SET + 6  # a game's first own param
# state layout
LAST_ACTION = 0
COMMON_STATE = 1  # a game's first own state variable

GRID = 10  # every MinAtar game is played on a 10x10 grid
DEFAULT_STICKY_ACTION_PROB = 0.1  # minatar.Environment's default
SAFETY_MAX_EPISODE_STEPS = 100_000  # MinAtar has no time limit; this truncation only guards against endless episodes


@numba.njit(inline="always")
def sticky_action(state, action, params, rng):
    """The MinAtar action (0..5) played for agent action `action`, as `minatar.Environment.act`.

    Always draws one uniform (the reference draws it every step, even with probability 0 or after the
    episode ended); with probability `params[STICKY_ACTION_PROB]` the previous MinAtar action is repeated.
    """
    chosen = params[ACTION_SET + action]
    if next_uniform(rng) < params[STICKY_ACTION_PROB]:
        chosen = state[LAST_ACTION]
    state[LAST_ACTION] = chosen
    return int(chosen)


@numba.njit(inline="always")
def random_int(low, high, rng):
    """`RandomState.randint(low, high)` as one uniform: `low + floor(u * (high - low))`."""
    return low + int(math.floor(next_uniform(rng) * (high - low)))


@numba.njit(inline="always")
def clear_observation(obs):
    """Set every cell of a (channels, 10, 10) observation to False."""
    for c in range(obs.shape[0]):
        for y in range(obs.shape[1]):
            for x in range(obs.shape[2]):
                obs[c, y, x] = False


@numba.njit(inline="always")
def write_map(state, base, obs, channel):
    """`obs[channel, y, x] = cell != 0` for every cell of the 10x10 map `state[base + y * 10 + x]` (0/1 cells).

    Written as `cell > 0 or cell < 0` (the same for every number but NaN): Numba/LLVM compiles the `!=`
    form of this short loop ~3x slower, and this loop is most of an observation's cost.
    """
    for y in range(GRID):
        for x in range(GRID):
            cell = state[base + y * GRID + x]
            obs[channel, y, x] = cell > 0.0 or cell < 0.0


@dataclass(frozen=True)
class MinAtarGame:
    """One MinAtar game as Numba functions, plus what the reference says about it."""

    name: str  # "Breakout": registered as rlp/MinAtar-Breakout-v0 / -v1
    channels: tuple[str, ...]  # observation channels, in the order of the reference's `channels` dict
    minimal_actions: str  # the reference's `minimal_action_set()` as action letters, e.g. "nlr"
    state_size: int  # including the COMMON_STATE entries
    reset_one: Callable
    step_one: Callable
    observe_one: Callable
    game_params: tuple[float, ...] = ()  # params[COMMON_PARAMS:]


def action_set(game: MinAtarGame, use_minimal_action_set: bool) -> list[int]:
    """Agent action -> MinAtar action, as `minatar.gym.BaseEnv.action_set`."""
    if use_minimal_action_set:
        return [ACTION_NAMES.index(letter) for letter in game.minimal_actions]
    return list(range(len(ACTION_NAMES)))


def make_env_def(game: MinAtarGame, use_minimal_action_set: bool = True,
                 sticky_action_prob: float = DEFAULT_STICKY_ACTION_PROB,
                 difficulty_ramping: bool = True) -> NumbaEnvDef:
    """The env definition of `game`; the keyword arguments are those of `minatar.gym.BaseEnv`.

    Args:
        game: the game's functions and reference facts.
        use_minimal_action_set: the game's minimal action set (v1 ids) instead of all 6 actions (v0 ids).
        sticky_action_prob: probability of repeating the previous action instead of the chosen one.
        difficulty_ramping: whether the game speeds up over an episode (games that ramp only).
    """
    if not 0.0 <= sticky_action_prob <= 1.0:
        raise ValueError(f"sticky_action_prob must lie in [0, 1], got {sticky_action_prob}")
    actions = action_set(game, use_minimal_action_set)
    params = np.zeros(COMMON_PARAMS + len(game.game_params))
    params[STICKY_ACTION_PROB] = sticky_action_prob
    params[DIFFICULTY_RAMPING] = float(bool(difficulty_ramping))
    params[ACTION_SET:ACTION_SET + len(actions)] = actions
    params[COMMON_PARAMS:] = game.game_params
    version = "v1" if use_minimal_action_set else "v0"
    return NumbaEnvDef(
        name=f"MinAtar-{game.name}-{version}", state_size=game.state_size,
        observation_space=gym.spaces.Box(0.0, 1.0, shape=(len(game.channels), GRID, GRID), dtype=bool),
        action_space=gym.spaces.Discrete(len(actions)),
        max_episode_steps=SAFETY_MAX_EPISODE_STEPS,
        reset_one=game.reset_one, step_one=game.step_one, observe_one=game.observe_one,
        params=params,
    )


def versions(game: MinAtarGame) -> list[tuple[Callable[..., NumbaEnvDef], int]]:
    """`(factory(**env kwargs), max_episode_steps)` for the game's v0 (6 actions) and v1 (minimal) ids."""
    return [(partial(make_env_def, game, use_minimal_action_set=minimal), SAFETY_MAX_EPISODE_STEPS)
            for minimal in (False, True)]

