"""Each shipped A3C config reaches its return threshold (CPU, the config's own budget).

Async runs (worker processes updating one model without locks) are not bit-reproducible, so these
tests use the configs' full budgets, which leave a wide margin over the steps a run usually needs.
The threshold is checked on the greedy evaluation that ended training and again by a fresh
evaluation of the saved checkpoint on other seeds, as `rlp eval` does.
"""

from __future__ import annotations

import pytest

from rl_platform import experiment
from tests.conftest import CONFIGS


def train_and_check(tmp_path, config: str, threshold: float, *overrides: str) -> dict:
    cfg = experiment.load_experiment(CONFIGS / config, list(overrides))
    metrics = experiment.train(cfg, tmp_path / "run", quiet=True)
    assert metrics["mean_return"] >= threshold, metrics
    report = experiment.evaluate_run(tmp_path / "run", episodes=20)
    assert report["mean_return"] >= threshold - abs(threshold) * 0.05, report
    return metrics


@pytest.mark.parametrize("seed", [0, 1])
def test_a3c_async_two_workers_solves_cartpole(tmp_path, seed):
    train_and_check(tmp_path, "a3c_cartpole.yaml", 475, f"seed={seed}")


def test_a2c_sync_solves_cartpole(tmp_path):
    train_and_check(tmp_path, "a3c_cartpole.yaml", 475, "agent.mode=sync")


def test_a3c_solves_acrobot(tmp_path):
    train_and_check(tmp_path, "a3c_acrobot.yaml", -100)


def test_a3c_solves_inverted_pendulum(tmp_path):
    train_and_check(tmp_path, "a3c_inverted_pendulum.yaml", 950)


def test_a3c_pendulum_reaches_goal(tmp_path):
    train_and_check(tmp_path, "a3c_pendulum.yaml", -250)
