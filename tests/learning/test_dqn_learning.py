"""Each shipped DQN config reaches its return threshold (fixed seeds, CPU, the config's own budget).

The threshold is checked on the greedy evaluation (20 episodes) that ended training, and again by
a fresh `rlp eval`-style evaluation of the saved checkpoint on other seeds.
"""

from __future__ import annotations

import pytest

from rl_platform import experiment
from tests.conftest import CONFIGS


def train_and_check(tmp_path, config: str, seed: int, threshold: float) -> None:
    cfg = experiment.load_experiment(CONFIGS / config, [f"seed={seed}"])
    assert cfg.train.stop_return == threshold and cfg.train.eval_episodes == 20
    metrics = experiment.train(cfg, tmp_path / "run", quiet=True)
    assert metrics["mean_return"] >= threshold, metrics
    report = experiment.evaluate_run(tmp_path / "run", episodes=20)
    assert report["mean_return"] >= threshold - abs(threshold) * 0.05, report


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dqn_solves_cartpole(tmp_path, seed):
    train_and_check(tmp_path, "dqn_cartpole.yaml", seed, 475)


def test_dqn_solves_acrobot(tmp_path):
    train_and_check(tmp_path, "dqn_acrobot.yaml", 0, -100)


def test_dqn_solves_mountaincar(tmp_path):
    train_and_check(tmp_path, "dqn_mountaincar.yaml", 0, -120)
