"""Parity of rlp/MinAtar-Freeway-v0/v1 with Freeway of `minatar` 1.0.15, transition for transition.

The reference draws the same uniforms as ours (tests/parity/minatar_replay.py), so whole episodes
(2501 steps each, up to the game's own termination) are compared step by step, with sticky actions,
crossings and their car re-draws; wide start states (any chicken row and timers, cars anywhere at any
speed, the game clock about to run out) reach the rest. Hand-computed scenarios pin down the rules.
(The CUDA kernels: tests/unit/test_cuda_sim.py.)
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rl_platform.envs.minatar.common import LAST_ACTION, NOOP, action_set
from rl_platform.envs.minatar.freeway import (
    CAR_SPEED,
    CAR_TIMER,
    CAR_X,
    CARS,
    CHICKEN_Y,
    FREEWAY,
    MOVE_TIMER,
    NUM_CARS,
    STATE_SIZE,
    TERMINAL,
    TERMINATE_TIMER,
)
from tests.parity.minatar_replay import (
    assert_env_checker_passes_without_warnings,
    assert_spaces_match_reference,
    favouring,
    play_from_states,
    play_lockstep,
)

V1, V0 = "rlp/MinAtar-Freeway-v1", "rlp/MinAtar-Freeway-v0"
UP_V1, UP_V0 = 1, 2  # 'u' in the minimal action set "nud" and in "nlurdf"
pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date:DeprecationWarning")  # v0 next to v1


def car_fields(field: int) -> list[int]:
    return [CARS + 3 * i + field for i in range(NUM_CARS)]


def to_reference(state: np.ndarray, game) -> None:
    game.pos, game.move_timer = int(state[CHICKEN_Y]), int(state[MOVE_TIMER])
    game.terminate_timer, game.terminal = int(state[TERMINATE_TIMER]), bool(state[TERMINAL])
    game.cars = [[int(state[CARS + 3 * i + CAR_X]), i + 1, int(state[CARS + 3 * i + CAR_TIMER]),
                  int(state[CARS + 3 * i + CAR_SPEED])] for i in range(NUM_CARS)]


def from_reference(game, last_action: int) -> np.ndarray:
    state = np.zeros(STATE_SIZE)
    state[[LAST_ACTION, CHICKEN_Y, MOVE_TIMER, TERMINATE_TIMER, TERMINAL]] = [
        last_action, game.pos, game.move_timer, game.terminate_timer, game.terminal]
    assert [car[1] for car in game.cars] == list(range(1, NUM_CARS + 1))  # car i drives in row i + 1
    for field, column in [(CAR_X, 0), (CAR_TIMER, 2), (CAR_SPEED, 3)]:
        state[car_fields(field)] = [car[column] for car in game.cars]
    return state


def wide_states(count: int, rng: np.random.Generator) -> np.ndarray:
    """Any chicken row and move timer, cars anywhere with any speed and timer, and half of the games
    about to end (the reference's clock at 0..5)."""
    states = np.zeros((count, STATE_SIZE))
    states[:, LAST_ACTION] = rng.integers(0, 6, count)
    states[:, CHICKEN_Y], states[:, MOVE_TIMER] = rng.integers(0, 10, count), rng.integers(0, 4, count)
    states[:, TERMINATE_TIMER] = np.where(rng.random(count) < 0.5, rng.integers(0, 6, count),
                                          rng.integers(6, 2501, count))
    speeds = rng.integers(1, 6, (count, NUM_CARS)) * rng.choice([-1, 1], (count, NUM_CARS))
    states[:, car_fields(CAR_SPEED)] = speeds
    states[:, car_fields(CAR_TIMER)] = np.floor(rng.random((count, NUM_CARS)) * (np.abs(speeds) + 1))
    states[:, car_fields(CAR_X)] = rng.integers(0, 10, (count, NUM_CARS))
    return states


def test_spaces_channels_and_action_sets_match_the_reference():
    assert_spaces_match_reference(FREEWAY, V1, V0)
    assert gym.make(V1).observation_space.shape == (7, 10, 10)
    assert action_set(FREEWAY, True) == [0, 2, 4]  # no-op, up, down


@pytest.mark.parametrize(("env_id", "env_kwargs", "num_envs", "steps", "policy"), [
    (V1, {}, 2, 2600, favouring(UP_V1, 0.8)),  # whole episodes: past the 2501st step
    (V0, {}, 4, 400, favouring(UP_V0, 0.8)),
    (V1, {"sticky_action_prob": 0.0}, 4, 400, favouring(UP_V1, 0.8)),
    (V1, {"sticky_action_prob": 0.5, "difficulty_ramping": False}, 4, 400, favouring(UP_V1, 0.8)),
    (V1, {}, 4, 400, None),
], ids=["v1-episodes", "v0", "v1-no-sticky", "v1-sticky-0.5-no-ramping", "v1-uniform"])
def test_play_matches_the_reference_step_by_step(env_id, env_kwargs, num_envs, steps, policy):
    kwargs = {"policy": policy} if policy is not None else {}
    stats = play_lockstep(env_id, env_kwargs, num_envs=num_envs, steps=steps, seed=5, **kwargs)
    if steps > 2501:
        assert stats.episodes == num_envs, stats  # each ended by the game's clock, then reset and compared
    if policy is not None:
        assert stats.total_reward >= num_envs * steps / 200, stats  # crossings, each re-drawing the car speeds
    # one sticky draw per step, 16 per reset (the first ones too) and per crossing
    assert stats.draws == stats.steps + 16 * (stats.total_reward + stats.episodes + num_envs)


def test_play_from_wide_states_matches_the_reference():
    states = wide_states(300, np.random.default_rng(0))
    stats = play_from_states(V1, {}, states, steps=30, seed=2, to_reference=to_reference,
                             from_reference=from_reference, policy=favouring(UP_V1, 0.7))
    assert stats.episodes >= 100 and stats.total_reward >= 20, stats


def quiet_road(chicken_y: int, move_timer: int) -> np.ndarray:
    """Every car at column 9 at speed +5 and timer 5: each moves once in 6 steps, to column 0, far from
    the chicken's column 4."""
    state = np.zeros(STATE_SIZE)
    state[[CHICKEN_Y, MOVE_TIMER, TERMINATE_TIMER]] = [chicken_y, move_timer, 2500]
    state[car_fields(CAR_X)], state[car_fields(CAR_TIMER)], state[car_fields(CAR_SPEED)] = 9, 5, 5
    return state


def play(state: np.ndarray, actions: list[int]) -> tuple[list[np.ndarray], list[float], list[bool]]:
    """`actions` without sticky actions from `state` on our env (checked against the reference too):
    the state after each step, the rewards and the terminations."""
    replayed = iter(actions)
    play_from_states(V1, {"sticky_action_prob": 0.0}, state[None], steps=len(actions), seed=0,
                     to_reference=to_reference, from_reference=from_reference,
                     policy=lambda rng, n, k: np.full(k, next(replayed)))
    env = gym.make(V1, sticky_action_prob=0.0).unwrapped
    env.set_state({"states": state})
    states, rewards, terminations = [], [], []
    for action in actions:
        _, reward, terminated, _, _ = env.step(action)
        states.append(env.state.copy())
        rewards.append(reward)
        terminations.append(terminated)
    return states, rewards, terminations


def test_chicken_moves_at_most_every_third_step():
    states, rewards, _ = play(quiet_road(chicken_y=9, move_timer=3), [UP_V1] * 7)
    assert [s[CHICKEN_Y] for s in states] == [9, 9, 9, 8, 8, 8, 7]
    assert [s[MOVE_TIMER] for s in states] == [2, 1, 0, 2, 1, 0, 2]
    assert rewards == [0.0] * 7


def test_crossing_scores_and_redraws_car_speeds():
    start = quiet_road(chicken_y=1, move_timer=0)
    (state,), rewards, terminations = play(start, [UP_V1])
    assert rewards == [1.0] and terminations == [False]
    assert state[CHICKEN_Y] == 9
    speeds = state[car_fields(CAR_SPEED)]
    assert set(np.abs(speeds)) <= {1, 2, 3, 4, 5}
    np.testing.assert_array_equal(state[car_fields(CAR_TIMER)], np.abs(speeds) - 1)  # drawn, then counted down
    np.testing.assert_array_equal(state[car_fields(CAR_X)], 9)  # new speeds, same places


def test_car_driving_into_the_chicken_sends_it_back():
    start = quiet_road(chicken_y=3, move_timer=2)
    car = CARS + 3 * 2  # drives in row 3
    start[[car + CAR_X, car + CAR_TIMER, car + CAR_SPEED]] = [3, 0, 1]
    (state,), rewards, _ = play(start, [NOOP])
    assert state[car + CAR_X] == 4 and state[car + CAR_TIMER] == 1
    assert state[CHICKEN_Y] == 9 and rewards == [0.0]


def test_game_ends_after_2500_steps():
    start = quiet_road(chicken_y=9, move_timer=0)
    start[TERMINATE_TIMER] = 1
    states, _, terminations = play(start, [NOOP, NOOP, NOOP])
    assert terminations == [False, True, True]  # then the ended game stays put, as the reference
    assert [s[TERMINATE_TIMER] for s in states] == [0, -1, -1]
    envs = gym.make_vec(V1, num_envs=3)
    envs.reset(seed=0)
    lengths = [0] * 3
    for t in range(1, 2502):
        _, _, terminations, truncations, _ = envs.step(np.zeros(3, dtype=np.int64))
        for i in np.flatnonzero(terminations):
            lengths[i] = t
        assert not truncations.any()
    assert lengths == [2501] * 3


def test_reset_puts_every_car_in_column_zero_with_its_speed_trail():
    envs = gym.make_vec(V1, num_envs=32)
    obs, _ = envs.reset(seed=0)
    assert obs[:, 0, 9, 4].all() and obs[:, 0].sum() == 32  # the chicken, bottom row, column 4
    assert obs[:, 1, 1:9, 0].all() and obs[:, 1].sum() == 32 * 8  # the cars
    trails = obs[:, 2:].sum(axis=1)  # one trail per car, behind it: column 9 (driving right) or 1
    assert (trails[:, 1:9, 9] + trails[:, 1:9, 1] == 1).all() and trails.sum() == 32 * 8


def test_gymnasium_env_checker_passes_without_warnings():
    assert_env_checker_passes_without_warnings(V1)
