"""Parity of rlp/MinAtar-Breakout-v0/v1 with Breakout of `minatar` 1.0.15, transition for transition.

The reference draws the same uniforms as ours (tests/parity/minatar_replay.py), so whole runs of many
episodes are compared step by step, sticky actions and resets included; wide start states (sparse or
empty brick maps, the ball anywhere, a pending strike) reach the branches random play rarely does.
Hand-computed scenarios pin down the rules themselves. (The CUDA kernels: tests/unit/test_cuda_sim.py.)
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rl_platform.envs.minatar.breakout import (
    BALL_DIR,
    BALL_X,
    BALL_Y,
    BREAKOUT,
    BRICKS,
    LAST_X,
    LAST_Y,
    PADDLE_X,
    STATE_SIZE,
    STRIKE,
    TERMINAL,
)
from rl_platform.envs.minatar.common import LAST_ACTION, NOOP, action_set
from tests.parity.minatar_replay import (
    assert_env_checker_passes_without_warnings,
    assert_spaces_match_reference,
    play_from_states,
    play_lockstep,
)

V1, V0 = "rlp/MinAtar-Breakout-v1", "rlp/MinAtar-Breakout-v0"
pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date:DeprecationWarning")  # v0 next to v1


def to_reference(state: np.ndarray, game) -> None:
    game.ball_x, game.ball_y, game.ball_dir = int(state[BALL_X]), int(state[BALL_Y]), int(state[BALL_DIR])
    game.pos, game.last_x, game.last_y = int(state[PADDLE_X]), int(state[LAST_X]), int(state[LAST_Y])
    game.strike, game.terminal = bool(state[STRIKE]), bool(state[TERMINAL])
    game.brick_map = state[BRICKS:].reshape(10, 10).copy()


def from_reference(game, last_action: int) -> np.ndarray:
    state = np.zeros(STATE_SIZE)
    state[LAST_ACTION] = last_action
    state[[BALL_X, BALL_Y, BALL_DIR, PADDLE_X, LAST_X, LAST_Y, STRIKE, TERMINAL]] = [
        game.ball_x, game.ball_y, game.ball_dir, game.pos, game.last_x, game.last_y, game.strike, game.terminal]
    state[BRICKS:] = np.asarray(game.brick_map, dtype=np.float64).ravel()
    return state


def wide_states(count: int, rng: np.random.Generator) -> np.ndarray:
    """States random play seldom reaches: few or no bricks left, bricks anywhere above the paddle row,
    the ball anywhere above it in any direction, a strike pending, any previous action."""
    states = np.zeros((count, STATE_SIZE))
    states[:, LAST_ACTION] = rng.integers(0, 6, count)
    states[:, BALL_X], states[:, BALL_Y] = rng.integers(0, 10, count), rng.integers(0, 9, count)
    states[:, BALL_DIR], states[:, PADDLE_X] = rng.integers(0, 4, count), rng.integers(0, 10, count)
    states[:, LAST_X], states[:, LAST_Y] = rng.integers(0, 10, count), rng.integers(0, 9, count)
    states[:, STRIKE] = rng.random(count) < 0.3
    density = rng.choice([0.0, 0.02, 0.1, 0.4], count)[:, None]
    bricks = (rng.random((count, 10, 10)) < density[:, :, None]).astype(float)
    bricks[:, 9] = 0.0
    states[:, BRICKS:] = bricks.reshape(count, 100)
    return states


def test_spaces_channels_and_action_sets_match_the_reference():
    assert_spaces_match_reference(BREAKOUT, V1, V0)
    assert gym.make(V1).observation_space.shape == (4, 10, 10)
    assert action_set(BREAKOUT, True) == [0, 1, 3]  # no-op, left, right


@pytest.mark.parametrize(("env_id", "env_kwargs"), [
    (V1, {}), (V0, {}), (V1, {"sticky_action_prob": 0.0}), (V1, {"sticky_action_prob": 0.5}),
    (V1, {"difficulty_ramping": False}),
], ids=["v1", "v0", "v1-no-sticky", "v1-sticky-0.5", "v1-no-ramping"])
def test_random_play_matches_the_reference_step_by_step(env_id, env_kwargs):
    stats = play_lockstep(env_id, env_kwargs, num_envs=8, steps=500, seed=3)
    # Random play loses the ball within ~10 steps: hundreds of episodes, each reset compared too.
    assert stats.episodes >= 200, stats
    assert stats.total_reward >= 50, stats
    assert stats.draws == stats.steps + stats.episodes + 8  # one sticky draw per step, one per reset


def test_play_from_wide_states_matches_the_reference():
    states = wide_states(400, np.random.default_rng(0))
    stats = play_from_states(V1, {}, states, steps=40, seed=1, to_reference=to_reference,
                             from_reference=from_reference)
    assert stats.episodes >= 300 and stats.total_reward >= 100, stats


def _one_state(ball_x, ball_y, ball_dir, paddle_x, bricks=(), strike=False) -> np.ndarray:
    state = np.zeros(STATE_SIZE)
    state[[BALL_X, BALL_Y, BALL_DIR, PADDLE_X, LAST_X, LAST_Y, STRIKE]] = [
        ball_x, ball_y, ball_dir, paddle_x, ball_x, ball_y, strike]
    for x, y in bricks:
        state[BRICKS + 10 * y + x] = 1.0
    return state


def _play_noops(state: np.ndarray, steps: int) -> tuple[np.ndarray, list[float], list[bool]]:
    """`steps` NOOPs without sticky actions from `state` on our env (checked against the reference too):
    the state after them, the rewards and the terminations."""
    play_from_states(V1, {"sticky_action_prob": 0.0}, state[None], steps=steps, seed=0, to_reference=to_reference,
                     from_reference=from_reference, policy=lambda rng, n, k: np.zeros(k, dtype=np.int64))
    env = gym.make(V1, sticky_action_prob=0.0).unwrapped
    env.set_state({"states": state})
    results = [env.step(NOOP) for _ in range(steps)]
    return env.state.copy(), [r[1] for r in results], [r[2] for r in results]


def test_ball_breaks_a_brick_and_bounces_back():
    # Moving up-left (0) from column 5, row 5 into the brick at column 4, row 4.
    state, rewards, terminated = _play_noops(_one_state(5, 5, 0, paddle_x=4, bricks=[(4, 4)]), 1)
    assert rewards == [1.0] and terminated == [False]
    assert state[BRICKS + 44] == 0.0  # broken
    assert (state[BALL_X], state[BALL_Y], state[BALL_DIR], state[STRIKE]) == (4, 5, 3, 1)  # stays in row 5, down-left


def test_second_brick_in_a_row_is_not_broken():
    state, rewards, _ = _play_noops(_one_state(5, 5, 0, paddle_x=4, bricks=[(4, 4)], strike=True), 1)
    assert rewards == [0.0] and state[BRICKS + 44] == 1.0
    assert (state[BALL_X], state[BALL_Y], state[BALL_DIR], state[STRIKE]) == (4, 4, 0, 1)  # the ball enters the brick


def test_paddle_edge_sends_the_ball_back_and_bricks_refill_when_cleared():
    # No bricks left; down-right (2) from column 4, row 7; paddle at column 6: the ball reaches row 8
    # at column 5, then would land on the paddle at column 6: it turns up-left (2 ^ 2 = 0) in row 8.
    state, rewards, terminated = _play_noops(_one_state(4, 7, 2, paddle_x=6), 2)
    assert rewards == [0.0, 0.0] and terminated == [False, False]
    assert (state[BALL_X], state[BALL_Y], state[BALL_DIR]) == (6, 8, 0)
    bricks = state[BRICKS:].reshape(10, 10)
    assert bricks[1:4].all() and bricks.sum() == 30


def test_missing_the_ball_terminates():
    state, rewards, terminated = _play_noops(_one_state(4, 7, 2, paddle_x=0, bricks=[(0, 1)]), 2)
    assert terminated == [False, True] and rewards == [0.0, 0.0]
    assert (state[BALL_X], state[BALL_Y]) == (6, 9)


def test_reset_matches_the_two_reference_starts():
    envs = gym.make_vec(V1, num_envs=64)
    obs, _ = envs.reset(seed=0)
    starts = {(int(np.argmax(o[1, 3])), int(np.argmax(o[2, 3]))) for o in obs}  # ball and trail columns, row 3
    assert starts == {(0, 0), (9, 9)}
    assert obs[:, 0, 9, 4].all() and obs[:, 3].sum() == 64 * 30 and obs[:, 3, 1:4].all()


def test_gymnasium_env_checker_passes_without_warnings():
    assert_env_checker_passes_without_warnings(V1)
