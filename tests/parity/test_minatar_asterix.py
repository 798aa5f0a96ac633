"""rlp/MinAtar-Asterix-v0/v1 against `minatar` 1.0.15's Asterix, transition for transition.

The reference draws from a replay of our random stream (tests/parity/minatar_replay.py), so sticky
actions, spawn sides, kinds and rows all match and episodes are compared whole, across autoresets.
Random play rarely lives past the first difficulty ramp (step 102) or fills all 8 rows, so the
reference is also set to random states of every reachable kind (late ramps, full rows, spawns and moves
due now) and both are stepped from there, comparing full states.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rl_platform.envs.minatar import asterix as game
from rl_platform.envs.minatar.common import LAST_ACTION, action_set
from tests.parity.minatar_replay import (
    ReplayRandom,
    assert_env_checker_passes_without_warnings,
    assert_spaces_match_reference,
    favouring,
    play_from_states,
    play_lockstep,
)

IDS = ["rlp/MinAtar-Asterix-v1", "rlp/MinAtar-Asterix-v0"]
KWARGS = [{}, {"sticky_action_prob": 0.0}, {"difficulty_ramping": False}, {"sticky_action_prob": 0.5}]
# Gymnasium warns that a -v0 id is outdated when a -v1 exists (it does the same for MinAtar/*-v0).
pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date:DeprecationWarning")


def to_reference(state: np.ndarray, ref) -> None:
    """Write our state into the reference `minatar.environments.asterix.Env`."""
    ref.player_x, ref.player_y = int(state[game.PLAYER_X]), int(state[game.PLAYER_Y])
    ref.spawn_speed, ref.spawn_timer = int(state[game.SPAWN_SPEED]), int(state[game.SPAWN_TIMER])
    ref.move_speed, ref.move_timer = int(state[game.MOVE_SPEED]), int(state[game.MOVE_TIMER])
    ref.ramp_timer, ref.ramp_index = int(state[game.RAMP_TIMER]), int(state[game.RAMP_INDEX])
    ref.terminal = bool(state[game.TERMINAL])
    ref.entities = [None] * game.NUM_SLOTS
    for slot in range(game.NUM_SLOTS):
        base = game.ENTITIES + slot * game.SLOT_SIZE
        if state[base + game.PRESENT]:
            ref.entities[slot] = [int(state[base + game.COLUMN]), slot + 1, bool(state[base + game.MOVING_RIGHT]),
                                  bool(state[base + game.IS_GOLD])]


def from_reference(ref, last_action: int) -> np.ndarray:
    """The reference's state in our layout."""
    state = np.zeros(game.STATE_SIZE)
    state[LAST_ACTION] = last_action
    state[game.PLAYER_X], state[game.PLAYER_Y] = ref.player_x, ref.player_y
    state[game.SPAWN_SPEED], state[game.SPAWN_TIMER] = ref.spawn_speed, ref.spawn_timer
    state[game.MOVE_SPEED], state[game.MOVE_TIMER] = ref.move_speed, ref.move_timer
    state[game.RAMP_TIMER], state[game.RAMP_INDEX] = ref.ramp_timer, ref.ramp_index
    state[game.TERMINAL] = ref.terminal
    for slot, entity in enumerate(ref.entities):
        if entity is not None:
            column, row, moving_right, is_gold = entity
            assert row == slot + 1
            base = game.ENTITIES + slot * game.SLOT_SIZE
            state[base:base + game.SLOT_SIZE] = [1.0, column, moving_right, is_gold]
    return state


def random_states(count: int, rng: np.random.Generator) -> np.ndarray:
    """States anywhere in the game: any speeds and ramp progress, rows empty to full, timers due."""
    states = np.zeros((count, game.STATE_SIZE))
    for state in states:
        state[LAST_ACTION] = rng.integers(6)
        state[game.PLAYER_X], state[game.PLAYER_Y] = rng.integers(0, 10), rng.integers(1, 9)
        state[game.SPAWN_SPEED] = spawn_speed = rng.integers(1, game.INIT_SPAWN_SPEED + 1)
        state[game.MOVE_SPEED] = move_speed = rng.integers(1, game.INIT_MOVE_SPEED + 1)
        state[game.SPAWN_TIMER] = rng.choice([0, rng.integers(0, spawn_speed + 1)])  # a spawn due now, often
        state[game.MOVE_TIMER] = rng.choice([0, rng.integers(0, move_speed + 1)])
        state[game.RAMP_TIMER] = rng.choice([-1, 0, rng.integers(-1, game.RAMP_INTERVAL + 1)])
        state[game.RAMP_INDEX] = rng.integers(0, 12)
        occupancy = rng.choice([0.0, 0.5, 1.0])  # no entity, some, every row taken
        for slot in range(game.NUM_SLOTS):
            if rng.random() < occupancy:
                base = game.ENTITIES + slot * game.SLOT_SIZE
                state[base:base + game.SLOT_SIZE] = [1.0, rng.integers(0, 10), rng.integers(2), rng.random() < 0.4]
    return states


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("env_kwargs", KWARGS, ids=lambda kwargs: ",".join(f"{k}={v}" for k, v in kwargs.items())
                         or "defaults")
def test_random_play_matches_reference_step_for_step(env_id: str, env_kwargs: dict):
    stats = play_lockstep(env_id, env_kwargs, num_envs=8, steps=300, seed=1)
    assert stats.episodes >= 20  # many autoresets compared (random play lasts ~75 steps)
    assert stats.total_reward >= 5  # gold was collected
    spawn_draws = stats.draws - stats.steps  # one sticky-action draw per step, 2 or 3 per spawn
    assert spawn_draws >= 2 * 200


def test_long_lived_play_matches_reference():
    """Mostly no-ops: some episodes live past the first difficulty ramp (step 102)."""
    stats = play_lockstep("rlp/MinAtar-Asterix-v1", {}, num_envs=4, steps=600, seed=2, policy=favouring(0, 0.6))
    assert stats.episodes >= 4


@pytest.mark.parametrize("env_kwargs", [{}, {"difficulty_ramping": False}], ids=["ramping", "no-ramping"])
def test_play_from_random_states_matches_reference(env_kwargs: dict):
    states = random_states(300, np.random.default_rng(3))
    stats = play_from_states("rlp/MinAtar-Asterix-v1", env_kwargs, states, steps=40, seed=4,
                             to_reference=to_reference, from_reference=from_reference)
    assert stats.episodes >= 150  # most starts end in contact with an enemy
    assert stats.total_reward >= 50


def test_difficulty_ramps_every_102_steps():
    """Hand-computed from the reference's rules: the ramp timer runs 100, 99, ..., -1, then ramps on the next
    step; each ramp lowers the spawn interval, every second ramp (odd ramp index) the move interval too."""
    env = gym.make("rlp/MinAtar-Asterix-v1", sticky_action_prob=0.0).unwrapped
    env.reset(seed=0)
    env.state[game.SPAWN_TIMER] = 10_000  # nothing spawns: the player survives any number of no-ops
    speeds = {}
    for t in range(1, 307):
        _, reward, terminated, _, _ = env.step(0)
        assert reward == 0.0 and not terminated
        speeds[t] = (env.state[game.SPAWN_SPEED], env.state[game.MOVE_SPEED], env.state[game.RAMP_INDEX])
    assert speeds[101] == (10, 5, 0) and speeds[102] == (9, 5, 1)
    assert speeds[203] == (9, 5, 1) and speeds[204] == (8, 4, 2)
    assert speeds[306] == (7, 4, 3)


def test_spawn_with_every_row_taken_draws_side_and_kind_only():
    env = gym.make("rlp/MinAtar-Asterix-v1", sticky_action_prob=0.0).unwrapped
    env.reset(seed=0)
    for slot in range(game.NUM_SLOTS):  # an enemy on every row, far from the player (column 5)
        base = game.ENTITIES + slot * game.SLOT_SIZE
        env.state[base:base + game.SLOT_SIZE] = [1.0, 0.0, 0.0, 0.0]
    env.state[game.SPAWN_TIMER] = 0.0
    env.state[game.MOVE_TIMER] = 3.0
    before = env.state.copy()
    rng_before = int(env.rng[0])
    env.step(0)
    replay = ReplayRandom(rng_before)
    for _ in range(3):  # sticky action, side, kind: no row draw
        replay.uniform()
    assert replay.state == int(env.rng[0])
    np.testing.assert_array_equal(env.state[game.ENTITIES:], before[game.ENTITIES:])
    assert env.state[game.SPAWN_TIMER] == env.state[game.SPAWN_SPEED] - 1


def test_spaces_channels_and_action_sets_match_the_reference():
    assert_spaces_match_reference(game.ASTERIX, *IDS)
    assert gym.make(IDS[0]).observation_space.shape == (4, 10, 10)
    assert action_set(game.ASTERIX, True) == [0, 1, 2, 3, 4]  # no-op, left, up, right, down


def test_gymnasium_env_checker_passes_without_warnings():
    assert_env_checker_passes_without_warnings(IDS[0])
