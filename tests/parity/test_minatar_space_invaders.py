"""rlp/MinAtar-SpaceInvaders-v0/v1 against `minatar` 1.0.15's SpaceInvaders, transition for transition.

The game draws no random numbers; sticky actions do, and the reference replays our draws
(tests/parity/minatar_replay.py), so episodes are compared whole, across autoresets. Random play
seldom clears a wave or brings the aliens down to the cannon, so the reference is also set to random
states of every kind (any alien pattern anywhere, bullets in flight, every timer due, the last move
intervals) and both are stepped from there, comparing full states.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rl_platform.envs.minatar import space_invaders as game
from rl_platform.envs.minatar.common import LAST_ACTION, action_set
from rl_platform.envs.single import NumbaEnv
from tests.parity.minatar_replay import (
    assert_env_checker_passes_without_warnings,
    assert_spaces_match_reference,
    favouring,
    play_from_states,
    play_lockstep,
)

IDS = ["rlp/MinAtar-SpaceInvaders-v1", "rlp/MinAtar-SpaceInvaders-v0"]
KWARGS = [{}, {"sticky_action_prob": 0.0}, {"difficulty_ramping": False}, {"sticky_action_prob": 0.5}]
FIRE_V1 = 3  # minimal action set n, l, r, f
MAP = (game.GRID, game.GRID)
# Gymnasium warns that a -v0 id is outdated when a -v1 exists (it does the same for MinAtar/*-v0).
pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date:DeprecationWarning")


def to_reference(state: np.ndarray, ref) -> None:
    """Write our state into the reference `minatar.environments.space_invaders.Env`."""
    ref.pos = int(state[game.CANNON_X])
    ref.alien_dir = int(state[game.ALIEN_DIR])
    ref.enemy_move_interval = int(state[game.MOVE_INTERVAL])
    ref.alien_move_timer = int(state[game.ALIEN_MOVE_TIMER])
    ref.alien_shot_timer = int(state[game.ALIEN_SHOT_TIMER])
    ref.shot_timer = int(state[game.SHOT_TIMER])
    ref.ramp_index = int(state[game.RAMP_INDEX])
    ref.terminal = bool(state[game.TERMINAL])
    ref.alien_map = state[game.ALIENS:game.FRIENDLY_BULLETS].reshape(MAP).copy()
    ref.f_bullet_map = state[game.FRIENDLY_BULLETS:game.ENEMY_BULLETS].reshape(MAP).copy()
    ref.e_bullet_map = state[game.ENEMY_BULLETS:game.STATE_SIZE].reshape(MAP).copy()


def from_reference(ref, last_action: int) -> np.ndarray:
    """The reference's state in our layout."""
    state = np.zeros(game.STATE_SIZE)
    state[LAST_ACTION] = last_action
    state[game.CANNON_X], state[game.ALIEN_DIR] = ref.pos, ref.alien_dir
    state[game.MOVE_INTERVAL], state[game.ALIEN_MOVE_TIMER] = ref.enemy_move_interval, ref.alien_move_timer
    state[game.ALIEN_SHOT_TIMER], state[game.SHOT_TIMER] = ref.alien_shot_timer, ref.shot_timer
    state[game.RAMP_INDEX], state[game.TERMINAL] = ref.ramp_index, ref.terminal
    state[game.ALIENS:game.FRIENDLY_BULLETS] = ref.alien_map.ravel()
    state[game.FRIENDLY_BULLETS:game.ENEMY_BULLETS] = ref.f_bullet_map.ravel()
    state[game.ENEMY_BULLETS:game.STATE_SIZE] = ref.e_bullet_map.ravel()
    return state


def random_states(count: int, rng: np.random.Generator) -> np.ndarray:
    """States anywhere in the game: a full or thinned 4x6 block (or a few stragglers) at any height and
    column, bullets of both sides in flight, timers due now, any move interval."""
    states = np.zeros((count, game.STATE_SIZE))
    for state in states:
        state[LAST_ACTION] = rng.integers(6)
        state[game.CANNON_X] = rng.integers(10)
        state[game.ALIEN_DIR] = rng.choice([-1, 1])
        state[game.MOVE_INTERVAL] = interval = rng.integers(game.MIN_MOVE_INTERVAL, game.ENEMY_MOVE_INTERVAL + 1)
        state[game.ALIEN_MOVE_TIMER] = rng.choice([0, rng.integers(0, interval + 1)])
        state[game.ALIEN_SHOT_TIMER] = rng.choice([0, rng.integers(0, game.ENEMY_SHOT_INTERVAL + 1)])
        state[game.SHOT_TIMER] = rng.choice([0, rng.integers(0, game.SHOT_COOL_DOWN + 1)])
        state[game.RAMP_INDEX] = game.ENEMY_MOVE_INTERVAL - interval
        aliens = np.zeros(MAP)
        top, left = rng.integers(0, 7), rng.integers(0, 5)
        aliens[top:top + 4, left:left + 6] = rng.random((4, 6)) < rng.choice([1.0, 0.6, 0.1])
        if not aliens.any():  # the game always has an alien at the start of a step
            aliens[top, left] = 1.0
        friendly = rng.random(MAP) < rng.choice([0.0, 0.05, 0.2])
        enemy = rng.random(MAP) < rng.choice([0.0, 0.05, 0.2])
        state[game.ALIENS:] = np.concatenate([aliens.ravel(), friendly.ravel(), enemy.ravel()])
    return states


def single_env(**env_kwargs) -> NumbaEnv:
    env = gym.make("rlp/MinAtar-SpaceInvaders-v1", sticky_action_prob=0.0, **env_kwargs).unwrapped
    env.reset(seed=0)
    return env


def set_map(env: NumbaEnv, base: int, cells: list[tuple[int, int]]) -> None:
    env.state[base:base + game.GRID * game.GRID] = 0.0
    for row, column in cells:
        env.state[base + row * game.GRID + column] = 1.0


def map_cells(env: NumbaEnv, base: int) -> list[tuple[int, int]]:
    rows, columns = np.nonzero(env.state[base:base + game.GRID * game.GRID].reshape(MAP))
    return list(zip(rows.tolist(), columns.tolist(), strict=True))


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("env_kwargs", KWARGS, ids=lambda kwargs: ",".join(f"{k}={v}" for k, v in kwargs.items())
                         or "defaults")
def test_random_play_matches_reference_step_for_step(env_id: str, env_kwargs: dict):
    stats = play_lockstep(env_id, env_kwargs, num_envs=8, steps=300, seed=1)
    assert stats.episodes >= 15  # many autoresets compared
    assert stats.total_reward >= 50  # aliens were shot
    assert stats.draws == stats.steps  # one sticky-action draw per step, none by the game


def test_trigger_happy_play_matches_reference():
    """Firing half the time: more aliens shot, the block thinned and faster, longer episodes."""
    stats = play_lockstep("rlp/MinAtar-SpaceInvaders-v1", {}, num_envs=4, steps=600, seed=2,
                          policy=favouring(FIRE_V1, 0.5))
    assert stats.total_reward >= 100


@pytest.mark.parametrize("env_kwargs", [{}, {"difficulty_ramping": False}], ids=["ramping", "no-ramping"])
def test_play_from_random_states_matches_reference(env_kwargs: dict):
    states = random_states(300, np.random.default_rng(3))
    stats = play_from_states("rlp/MinAtar-SpaceInvaders-v1", env_kwargs, states, steps=40, seed=4,
                             to_reference=to_reference, from_reference=from_reference,
                             policy=favouring(FIRE_V1, 0.3))
    assert stats.episodes >= 150
    assert stats.total_reward >= 100


def test_nearest_column_fires_left_first_from_its_lowest_alien():
    env = single_env()
    env.state[game.CANNON_X] = 5.0
    set_map(env, game.ALIENS, [(0, 3), (2, 3), (1, 7), (4, 9)])  # columns 3 and 7 both 2 away
    set_map(env, game.ENEMY_BULLETS, [])
    env.state[game.ALIEN_SHOT_TIMER] = 0.0
    env.state[game.ALIEN_MOVE_TIMER] = 5.0
    env.step(0)
    assert map_cells(env, game.ENEMY_BULLETS) == [(2, 3)]
    assert env.state[game.ALIEN_SHOT_TIMER] == game.ENEMY_SHOT_INTERVAL - 1
    env.step(0)
    assert map_cells(env, game.ENEMY_BULLETS) == [(3, 3)]  # falls one row per step


def test_fire_cool_down_is_five_steps():
    env = single_env()
    env.state[game.CANNON_X] = 0.0  # no alien above: the bullets fly to the top
    rows_of_bullets = []
    for _ in range(6):
        env.step(FIRE_V1)
        rows_of_bullets.append([row for row, column in map_cells(env, game.FRIENDLY_BULLETS) if column == 0])
    # Fired from row 9, each bullet is 8 after its first step; the second shot comes on step 6.
    assert rows_of_bullets == [[8], [7], [6], [5], [4], [3, 8]]


@pytest.mark.parametrize(("ramping", "interval", "interval_after"), [(True, 12, 11), (True, 6, 6), (False, 12, 12)])
def test_clearing_a_wave_brings_a_new_one_and_ramps(ramping: bool, interval: int, interval_after: int):
    env = single_env(difficulty_ramping=ramping)
    set_map(env, game.ALIENS, [(0, 5)])
    set_map(env, game.FRIENDLY_BULLETS, [(1, 5)])  # hits the last alien this step
    env.state[game.MOVE_INTERVAL] = interval
    env.state[game.ALIEN_MOVE_TIMER] = 4.0
    env.state[game.ALIEN_DIR] = 1.0
    _, reward, terminated, _, _ = env.step(0)
    assert reward == 1.0 and not terminated
    assert map_cells(env, game.ALIENS) == [(row, column) for row in range(4) for column in range(2, 8)]
    assert env.state[game.MOVE_INTERVAL] == interval_after
    assert env.state[game.RAMP_INDEX] == interval - interval_after
    assert env.state[game.ALIEN_MOVE_TIMER] == 3.0 and env.state[game.ALIEN_DIR] == 1.0  # carried over


def test_aliens_turning_on_the_bottom_row_end_the_game():
    env = single_env()
    env.state[game.CANNON_X] = 0.0
    set_map(env, game.ALIENS, [(9, 9)])  # at the right edge, moving right, far from the cannon
    env.state[game.ALIEN_DIR] = 1.0
    env.state[game.ALIEN_MOVE_TIMER] = 0.0
    _, reward, terminated, _, _ = env.step(0)
    assert terminated and reward == 0.0
    assert map_cells(env, game.ALIENS) == [(0, 9)]  # np.roll wraps the bottom row to the top
    assert env.state[game.ALIEN_DIR] == -1.0


def test_spaces_channels_and_action_sets_match_the_reference():
    assert_spaces_match_reference(game.SPACE_INVADERS, *IDS)
    assert gym.make(IDS[0]).observation_space.shape == (6, 10, 10)
    assert action_set(game.SPACE_INVADERS, True) == [0, 1, 3, 5]  # no-op, left, right, fire


def test_gymnasium_env_checker_passes_without_warnings():
    assert_env_checker_passes_without_warnings(IDS[0])
