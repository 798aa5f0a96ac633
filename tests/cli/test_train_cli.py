"""`rlp train` / `rlp eval` as a user runs them: run directory, TensorBoard tags, eval JSON."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_platform.checkpoint import load_checkpoint

TINY = ["train.total_steps=3000", "train.eval_every=1000", "train.eval_episodes=3",
        "train.checkpoint_every=1000", "log.log_every=500", "agent.learning_starts=500"]
CONTRACT_SCALARS = {"charts/episodic_return", "charts/episodic_length", "charts/sps",
                    "eval/mean_return", "losses/td_loss"}


def load_events(run_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    return accumulator


def test_train_writes_the_contract_run_directory(run_rlp, tmp_path):
    result = run_rlp("train", "configs/dqn_cartpole.yaml", *TINY, "--run-dir", "run", "--quiet")
    assert result.returncode == 0, result.stderr
    # --quiet: no progress, only the final metrics (stdout) and where the run is (stderr)
    assert json.loads(result.stdout)["global_step"] == 3000
    assert result.stderr.count("\n") == 1 and result.stderr.strip().endswith("run directory run")
    run_dir = tmp_path / "run"
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["train"]["total_steps"] == 3000
    assert resolved["agent"]["name"] == "dqn" and "lr" in resolved["agent"]  # defaults filled in
    assert set(resolved) == {"seed", "agent", "env", "model", "train", "log"}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["global_step"] == 3000 and metrics["eval_episodes"] == 3
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert checkpoint["global_step"] == 3000
    best = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    assert best["global_step"] == metrics["best"]["global_step"] in (1000, 2000, 3000)
    assert set(json.loads((run_dir / "run.json").read_text())) == {"created", "overrides", "resumes"}

    events = load_events(run_dir)
    assert set(events.Tags()["scalars"]) >= CONTRACT_SCALARS
    assert [e.step for e in events.Scalars("eval/mean_return")] == [1000, 2000, 3000]
    assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")
    assert "config/text_summary" in events.Tags()["tensors"]


def test_default_run_directory_name_and_progress(run_rlp, tmp_path):
    result = run_rlp("train", "train.total_steps=1000", "train.eval_episodes=2", "log.dir=myruns",
                     "seed=7")
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "myruns").iterdir()
    env, agent, seed, timestamp = run_dir.name.split("__")
    assert (env, agent, seed) == ("rlp-CartPole-v1", "dqn", "7") and len(timestamp) == 15
    assert "done: 1,000 steps" in result.stderr  # progress goes to stderr
    assert json.loads(result.stdout)["global_step"] == 1000


def test_eval_prints_json_with_contract_keys(run_rlp, tmp_path):
    assert run_rlp("train", *TINY, "--run-dir", "run", "--quiet").returncode == 0
    result = run_rlp("eval", "run", "--episodes", "4", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["episodes"] == 4
    assert report["min_return"] <= report["mean_return"] <= report["max_return"]
    assert report["std_return"] >= 0


def test_eval_of_a_directory_without_a_run_is_a_user_error(run_rlp, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_rlp("eval", "empty", "--json")
    assert result.returncode == 2
    assert "not a run directory" in result.stderr and "Traceback" not in result.stderr


def test_two_agents_runs_share_one_logdir_layout(run_rlp, tmp_path):
    """Two runs under one log dir are sibling folders TensorBoard shows side by side."""
    for seed in (0, 1):
        assert run_rlp("train", *TINY, f"seed={seed}", "log.dir=runs", "--quiet").returncode == 0
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2
    for run_dir in runs:
        assert set(load_events(run_dir).Tags()["scalars"]) >= CONTRACT_SCALARS
