"""Fixtures shared by the learning tests: one CartPole expert, trained once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from rl_platform import experiment
from tests.conftest import CONFIGS


@pytest.fixture(scope="session")
def cartpole_expert(tmp_path_factory) -> Path:
    """The run directory of a DQN trained to a confirmed 475 on rlp/CartPole-v1 (configs/dqn_cartpole.yaml,
    seed 0): the expert whose greedy episodes the imitation and pretraining tests collect."""
    run_dir = tmp_path_factory.mktemp("cartpole-expert") / "run"
    cfg = experiment.load_experiment(CONFIGS / "dqn_cartpole.yaml", ["seed=0"])
    metrics = experiment.train(cfg, run_dir, quiet=True)
    assert metrics["reached_stop_return"], metrics
    return run_dir
