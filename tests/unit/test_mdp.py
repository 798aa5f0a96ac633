"""Value iteration and exact policy evaluation against a hand-solved MDP and against Gymnasium's models."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rl_platform import mdp
from rl_platform.envs.toy_text import transition_model

# Two states. In s0: action 0 ends the episode with reward 1; action 1 moves to s1 with probability
# 0.8 (else stays), reward 0. In s1: action 0 goes back to s0 (reward 0); action 1 ends the episode
# with reward 10.
OUTCOMES = [
    [[(1.0, 0, 1.0, True)], [(0.8, 1, 0.0, False), (0.2, 0, 0.0, False)]],
    [[(1.0, 0, 0.0, False)], [(1.0, 1, 10.0, True)]],
]
MODEL = mdp.model_from_outcomes(OUTCOMES, np.array([1.0, 0.0]))


def test_value_iteration_matches_hand_solution():
    gamma = 0.9
    solution = mdp.value_iteration(MODEL, gamma)
    # V(s1) = 10; V(s0) = max(1, 0.8 * 0.9 * 10 + 0.2 * 0.9 * V(s0)) -> V(s0) = 7.2 / 0.82.
    v0 = 7.2 / 0.82
    np.testing.assert_allclose(solution.values, [v0, 10.0], rtol=1e-10)
    np.testing.assert_allclose(solution.q_values, [[1.0, v0], [0.9 * v0, 10.0]], rtol=1e-10)
    np.testing.assert_array_equal(solution.policy, [1, 1])
    # With a short horizon of discounting, quitting at once is better: 1 > 0.8 * 0.1 * 10 / (1 - 0.02).
    np.testing.assert_array_equal(mdp.value_iteration(MODEL, 0.1).policy, [0, 1])


def test_exact_evaluation_under_a_time_limit():
    go = np.array([1, 1])
    # Within 2 steps: reach s1 at step 1 (0.8) then collect 10 -> 8. Within 3: also 0.2 * 0.8 * 10 more.
    assert mdp.evaluate_policy(MODEL, go, horizon=1) == pytest.approx(0.0)
    assert mdp.evaluate_policy(MODEL, go, horizon=2) == pytest.approx(8.0)
    assert mdp.evaluate_policy(MODEL, go, horizon=3) == pytest.approx(8.0 + 1.6)
    assert mdp.evaluate_policy(MODEL, go, horizon=None) == pytest.approx(10.0)
    assert mdp.evaluate_policy(MODEL, np.array([0, 1]), horizon=1) == pytest.approx(1.0)
    # With one step left in s0, quitting (1) beats going (0); with more, going wins. Only a
    # time-dependent policy gets both: 0.8 * 10 + 0.2 * (0.8 * 10 + 0.2 * 1) = 9.64 within 3 steps,
    # above the best stationary policy's 9.6.
    assert mdp.finite_horizon_optimum(MODEL, 1) == pytest.approx(1.0)
    assert mdp.finite_horizon_optimum(MODEL, 3) == pytest.approx(9.64)
    best = mdp.best_stationary_policy(MODEL, horizon=3)
    assert best.expected_return == pytest.approx(9.6)
    np.testing.assert_array_equal(best.policy, [1, 1])
    # Within one step only the myopic policy (gamma 0.1: quit) scores; it is found if that discount is tried.
    assert mdp.best_stationary_policy(MODEL, horizon=1).expected_return == pytest.approx(0.0)
    best = mdp.best_stationary_policy(MODEL, horizon=1, gammas=(0.1, 0.9))
    assert (best.expected_return, best.gamma) == (pytest.approx(1.0), 0.1)


@pytest.mark.parametrize("env_id", ["FrozenLake-v1", "FrozenLake8x8-v1", "Taxi-v4", "CliffWalking-v1"])
def test_model_read_from_gymnasium_equals_ours(env_id):
    theirs = mdp.model_from_gymnasium(gym.make(env_id))
    ours = transition_model(env_id)
    for field in ("probs", "next_state", "reward", "terminated", "initial"):
        np.testing.assert_array_equal(getattr(theirs, field), getattr(ours, field), err_msg=field)
    assert mdp.model_from_gymnasium(gym.make("CartPole-v1")) is None


def test_frozen_lake_reference_values():
    """Published figures: the optimal policy of slippery 4x4 FrozenLake succeeds with probability
    0.8235 without a time limit (gamma -> 1); FrozenLake8x8's best stationary policy under the
    200-step limit is near 0.89 (issue 4), below the time-dependent optimum."""
    small = transition_model("FrozenLake-v1")
    solution = mdp.value_iteration(small, 0.9999, tol=1e-14)
    assert mdp.evaluate_policy(small, solution.policy, horizon=None) == pytest.approx(0.8235, abs=1e-3)
    large = transition_model("FrozenLake8x8-v1")
    best = mdp.best_stationary_policy(large, 200)
    assert 0.88 < best.expected_return < mdp.finite_horizon_optimum(large, 200)
    assert best.expected_return == pytest.approx(mdp.evaluate_policy(large, best.policy, 200))
