"""Tabular Q as a user runs it: `rlp train` / `rlp eval --json` with the gap to optimal, the TensorBoard
tags every agent writes, and an interrupted run that resumes to exactly the uninterrupted result."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest

from rl_platform import experiment
from rl_platform.agents.tabular_q import tabular_q
from rl_platform.checkpoint import load_checkpoint
from rl_platform.run import TrainingInterrupted
from tests.cli.test_train_cli import load_events
from tests.conftest import CONFIGS


def test_train_and_eval_report_the_gap_to_optimal(run_rlp, tmp_path):
    result = run_rlp("train", "tabular_q_cliffwalking", "--run-dir", "run", "--quiet")
    assert result.returncode == 0, result.stderr
    result = run_rlp("eval", "run", "--episodes", "10", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mean_return"] == -13.0 and report["episodes"] == 10
    assert report["exact_return"] == report["optimal_return"] == -13.0 and report["gap_to_optimal"] == 0.0
    tags = set(load_events(tmp_path / "run").Tags()["scalars"])
    assert tags >= {"charts/episodic_return", "charts/episodic_length", "charts/sps", "eval/mean_return",
                    "losses/td_error", "charts/epsilon", "charts/learning_rate", "eval/exact_return",
                    "eval/gap_to_optimal"}


def test_continuous_observations_without_discretization_is_a_config_error(run_rlp):
    result = run_rlp("train", "tabular_q_taxi", "env.id=rlp/CartPole-v1", "--quiet")
    assert result.returncode == 2
    assert "agent.discretization" in result.stderr and "Traceback" not in result.stderr
    result = run_rlp("train", "tabular_q_taxi", "env.id=rlp/CartPole-v1", "agent.discretization=bins", "--quiet")
    assert result.returncode == 2
    assert "agent.obs_low" in result.stderr and "unbounded" in result.stderr


@pytest.mark.parametrize(("rule", "planning_steps"), [("q_learning", 0), ("sarsa", 0), ("q_learning", 3)])
def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, rule, planning_steps):
    """Also for Dyna-Q (planning_steps 3): its count model is checkpointed and continues exactly."""
    overrides = [f"agent.rule={rule}", f"agent.planning_steps={planning_steps}", "train.total_steps=3000000",
                 "train.eval_every=0",
                 "train.checkpoint_every=0", "train.eval_episodes=10"]
    cfg = experiment.load_experiment(CONFIGS / "tabular_q_frozenlake8x8.yaml", overrides)
    experiment.train(cfg, tmp_path / "whole", quiet=True)

    original_run = tabular_q.FusedLoop.run
    calls = 0

    def run_then_ctrl_c(self, step, env_steps):
        nonlocal calls
        calls += 1
        if calls == 5:  # Ctrl-C in the middle of training: the Run checkpoints and stops
            signal.raise_signal(signal.SIGINT)
        return original_run(self, step, env_steps)

    monkeypatch.setattr(tabular_q.FusedLoop, "run", run_then_ctrl_c)
    with pytest.raises(TrainingInterrupted):
        experiment.train(cfg, tmp_path / "split", quiet=True)
    stopped_at = load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")["global_step"]
    assert 0 < stopped_at < 3_000_000
    monkeypatch.setattr(tabular_q.FusedLoop, "run", original_run)
    experiment.train(experiment.resume_config(tmp_path / "split"), tmp_path / "split", quiet=True, resume=True)

    whole = load_checkpoint(tmp_path / "whole" / "checkpoints" / "latest.pt")
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")
    assert whole["global_step"] == split["global_step"] == 3_000_000
    np.testing.assert_array_equal(whole["agent"]["q"], split["agent"]["q"])
    for name, array in whole["agent"]["model"].items():
        np.testing.assert_array_equal(array, split["agent"]["model"][name], err_msg=name)
    assert (whole["agent"]["model"]["totals"].sum() == 3_000_000) == (planning_steps > 0)
    np.testing.assert_array_equal(whole["loop"]["env"]["states"], split["loop"]["env"]["states"])
