"""Each shipped tabular Q config reaches its threshold (fixed seeds, the config's own budget), checked
against the exact optimum where the env's model is known."""

from __future__ import annotations

import numpy as np
import pytest

from rl_platform import experiment
from rl_platform.envs.toy_text import transition_model
from rl_platform.mdp import best_stationary_policy
from tests.conftest import CONFIGS


def train(tmp_path, config: str, *overrides: str) -> dict:
    cfg = experiment.load_experiment(CONFIGS / config, list(overrides))
    return experiment.train(cfg, tmp_path / "run", quiet=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_frozenlake8x8_success_rate_is_near_the_best_stationary_policy(tmp_path, seed):
    best = best_stationary_policy(transition_model("FrozenLake8x8-v1"), horizon=200).expected_return
    assert 0.88 < best < 0.90  # slippery map, 200-step limit
    metrics = train(tmp_path, "tabular_q_frozenlake8x8.yaml", f"seed={seed}")
    assert metrics["optimal_return"] == pytest.approx(best)
    assert metrics["gap_to_optimal"] <= 0.03, metrics  # exact success probability of the greedy policy
    report = experiment.evaluate_run(tmp_path / "run", episodes=4000)  # sampled, fresh seeds
    assert report["episodes"] == 4000
    assert report["mean_return"] >= best - 0.03, report


def test_taxi_mean_return_is_within_half_a_point_of_optimal(tmp_path):
    metrics = train(tmp_path, "tabular_q_taxi.yaml")
    assert metrics["optimal_return"] == pytest.approx(7.93)
    assert metrics["gap_to_optimal"] <= 0.5, metrics
    report = experiment.evaluate_run(tmp_path / "run", episodes=2000)
    assert report["mean_return"] >= metrics["optimal_return"] - 0.5, report


def test_cliffwalking_greedy_return_is_minus_13(tmp_path):
    metrics = train(tmp_path, "tabular_q_cliffwalking.yaml")
    assert metrics["exact_return"] == -13.0
    report = experiment.evaluate_run(tmp_path / "run", episodes=20)
    assert report["mean_return"] == -13.0 and report["std_return"] == 0.0


def test_mountaincar_with_tile_coding(tmp_path):
    metrics = train(tmp_path, "tabular_q_mountaincar.yaml")
    assert metrics["mean_return"] >= -140, metrics
    report = experiment.evaluate_run(tmp_path / "run", episodes=100)
    assert report["mean_return"] >= -140, report


def test_python_loop_learns_a_users_env_and_reports_its_gap_to_optimal(tmp_path):
    """A user's env (not Numba) with Gymnasium-style `P`: the Python loop learns it to the exact optimum."""
    metrics = train(tmp_path, "tabular_q_taxi.yaml", "env.id=tests.user_envs:ChainEnv", "env.num_envs=4",
                    "train.total_steps=20000", "train.eval_every=0", "train.eval_episodes=200",
                    "agent.gamma=0.9")
    # Moving right succeeds with probability 0.8 and the goal is 5 cells away: the optimal policy
    # always moves right and reaches it surely (no time limit), return 1.
    assert metrics["optimal_return"] == pytest.approx(1.0)
    assert metrics["exact_return"] == pytest.approx(1.0)
    assert metrics["mean_return"] == 1.0
    assert np.isfinite(metrics["gap_to_optimal"])


@pytest.mark.parametrize("rule", ["double_q", "sarsa", "expected_sarsa"])
def test_every_rule_solves_taxi(tmp_path, rule):
    metrics = train(tmp_path, "tabular_q_taxi.yaml", f"agent.rule={rule}", "train.eval_every=0")
    assert metrics["gap_to_optimal"] <= 0.5, metrics
    assert metrics["mean_return"] >= metrics["optimal_return"] - 1.0, metrics  # 1000 sampled episodes


def test_cartpole_with_uniform_bins(tmp_path):
    """Seeds 0, 1, 2 reached 469, 499 and 500 over 100 greedy episodes when this test was written."""
    metrics = train(tmp_path, "tabular_q_cartpole.yaml")
    assert metrics["mean_return"] >= 400, metrics
