"""`rlp train` / `rlp eval` with the A3C agent: run directory, TensorBoard tags from all workers, config errors."""

from __future__ import annotations

import json

from rl_platform.checkpoint import load_checkpoint
from rl_platform.experiment import load_experiment
from tests.cli.test_train_cli import load_events

A3C_SCALARS = {"charts/episodic_return", "charts/episodic_length", "charts/sps", "eval/mean_return",
               "losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/grad_norm",
               "charts/learning_rate"}
SHORT = ["train.stop_return=null", "train.eval_every=20000", "train.eval_episodes=3", "log.log_every=2000"]


def test_async_run_directory_tags_and_eval(run_rlp, tmp_path):
    result = run_rlp("train", "a3c_cartpole", "train.total_steps=40000", *SHORT, "--run-dir", "run")
    assert result.returncode == 0, result.stderr
    assert "a3c: 2 worker processes started" in result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["global_step"] >= 40_000
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert checkpoint["global_step"] == metrics["global_step"]
    events = load_events(tmp_path / "run")
    assert set(events.Tags()["scalars"]) >= A3C_SCALARS
    assert [e.step for e in events.Scalars("eval/mean_return")][0] >= 20_000
    lrs = [e.value for e in events.Scalars("charts/learning_rate")]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] < load_experiment("a3c_cartpole", []).agent.lr  # annealed
    evaluation = run_rlp("eval", "run", "--episodes", "4", "--json")
    assert evaluation.returncode == 0, evaluation.stderr
    assert json.loads(evaluation.stdout)["episodes"] == 4


def test_sync_mode_is_reproducible(run_rlp, tmp_path):
    for name in ("a", "b"):
        result = run_rlp("train", "a3c_cartpole", "agent.mode=sync", "train.total_steps=8000", *SHORT,
                         "--run-dir", name, "--quiet")
        assert result.returncode == 0, result.stderr
    runs = [load_checkpoint(tmp_path / name / "checkpoints" / "latest.pt")["agent"]["model"] for name in "ab"]
    for key in runs[0]:
        assert runs[0][key].equal(runs[1][key]), key


def test_continuous_actions_run_and_eval(run_rlp, tmp_path):
    result = run_rlp("train", "a3c_pendulum", "agent.mode=sync", "agent.squash=tanh", "agent.state_dependent_std=true",
                     "train.total_steps=4000", *SHORT, "--run-dir", "run", "--quiet")
    assert result.returncode == 0, result.stderr
    evaluation = run_rlp("eval", "run", "--episodes", "2", "--json")
    assert evaluation.returncode == 0, evaluation.stderr
    assert -2000 < json.loads(evaluation.stdout)["mean_return"] <= 0


def test_config_mistakes_are_named(run_rlp):
    result = run_rlp("train", "a3c_cartpole", "agent.backend=ray", "agent.mode=sync")
    assert result.returncode == 2
    assert "config key 'agent.backend'" in result.stderr and "agent.mode=async" in result.stderr
    result = run_rlp("train", "a3c_cartpole", "agent.start_method=threads")
    assert result.returncode == 2 and "agent.start_method" in result.stderr
    result = run_rlp("train", "a3c_cartpole", "agent.n_steps=0")
    assert result.returncode == 2 and "config key 'agent.n_steps'" in result.stderr
