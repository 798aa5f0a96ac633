"""Agents that start from data: behaviour cloning from 20 expert episodes solves CartPole, and DQN fine-tuned from
that clone solves it too (configs/bc_cartpole.yaml, configs/dqn_from_bc_cartpole.yaml).

The expert is a DQN run trained here (configs/dqn_cartpole.yaml, stopped on a confirmed 475) and its 20 greedy
episodes are collected with `rl_platform.collect` into a Minari dataset in a temporary MINARI_DATASETS_PATH.
Each result is checked on the run's best evaluation (BC: confirmed on 100 episodes) or final one (DQN) and again on
100 fresh episodes of other seeds (5% margin), as `rlp eval` does. Measured on 2026-12-01 with experts of seeds
0-19 (a clone of each): 20/20 clones held 475 on fresh episodes (worst 481.3, cloning the weakest expert, 488.5);
with experts 0-11, 12/12 DQN fine-tunes from them confirmed 475 (worst fresh 488.8).
"""

from __future__ import annotations

import pytest

from rl_platform import experiment
from rl_platform.collect import collect
from tests.conftest import CONFIGS

DATASET = "cartpole/dqn-expert-v0"
SOLVED = 475.0


@pytest.fixture(scope="module")
def expert_dataset(tmp_path_factory, cartpole_expert):
    """20 greedy episodes of a DQN trained to a confirmed 475 (the session's `cartpole_expert`), as a Minari
    dataset; yields the work directory."""
    root = tmp_path_factory.mktemp("pretraining")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINARI_DATASETS_PATH", str(root / "datasets"))
        summary = collect(DATASET, run_dir=str(cartpole_expert), episodes=20, seed=1)
        assert summary["episodes"] == 20
        yield root


def assert_solved(metrics: dict, run_dir) -> None:
    assert metrics["mean_return"] >= SOLVED, metrics
    report = experiment.evaluate_run(run_dir, episodes=100)
    assert report["mean_return"] >= SOLVED * 0.95, report


@pytest.fixture(scope="module")
def bc_run(expert_dataset):
    cfg = experiment.load_experiment(CONFIGS / "bc_cartpole.yaml", [f"pretrain.dataset={DATASET}"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINARI_DATASETS_PATH", str(expert_dataset / "datasets"))
        metrics = experiment.pretrain(cfg, expert_dataset / "bc", quiet=True)
    return metrics, expert_dataset / "bc"


def test_behaviour_cloning_from_20_expert_episodes_solves_cartpole(bc_run):
    metrics, run_dir = bc_run
    assert metrics["pretrain"]["train_episodes"] + metrics["pretrain"]["val_episodes"] == 20
    assert_solved(metrics["best"], run_dir)


def test_dqn_fine_tuned_from_behaviour_cloning_solves_cartpole(bc_run, tmp_path):
    _, bc_dir = bc_run
    cfg = experiment.load_experiment(CONFIGS / "dqn_from_bc_cartpole.yaml", [f"model.init_from={bc_dir}"])
    metrics = experiment.train(cfg, tmp_path / "dqn", quiet=True)
    assert metrics["reached_stop_return"], metrics
    assert_solved(metrics, tmp_path / "dqn")
