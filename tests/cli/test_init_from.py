"""Pretrained weights in training: `model.init_from` loads a run's weights into DQN and A3C (sync and Hogwild),
`model.init_modules` picks parts, `model.freeze` keeps parameters bit-identical through training; a model
that does not fit the source is refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rl_platform import experiment
from rl_platform.checkpoint import load_checkpoint

DQN = ["train.eval_every=0", "train.eval_episodes=2", "train.checkpoint_every=0", "env.num_envs=4",
       "agent.learning_starts=64", "agent.train_freq=1"]
A3C = ["train.eval_every=0", "train.eval_episodes=2", "train.checkpoint_every=0", "train.stop_return=null"]


def train(run_dir: Path, config: str, *overrides: str, quiet: bool = True) -> dict:
    return experiment.train(experiment.load_experiment(config, list(overrides)), run_dir, quiet=quiet)


def model_state(run_dir: Path, checkpoint: str = "latest.pt") -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / checkpoint)["model"]


def under(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key: value for key, value in state.items() if key.startswith(prefix + ".")}


def assert_equal(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> None:
    assert left.keys() == right.keys() and left
    for key in left:
        assert torch.equal(left[key], right[key]), key


@pytest.fixture(scope="module")
def dqn_source(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("source") / "dqn"
    train(run_dir, "dqn_cartpole", *DQN, "train.total_steps=800")
    return run_dir


def test_dqn_loads_a_run_and_keeps_a_frozen_encoder_bit_identical(dqn_source, tmp_path):
    source = model_state(dqn_source, "best.pt")  # a run directory gives its best checkpoint
    train(tmp_path / "run", "dqn_cartpole", *DQN, "train.total_steps=800", f"model.init_from={dqn_source}",
          "model.freeze=[encoder]")
    trained = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert trained["agent"]["num_updates"] > 100
    assert_equal(under(trained["model"], "encoder"), under(source, "encoder"))
    target = trained["agent"]["target_network"]
    assert_equal(under(target, "encoder"), under(source, "encoder"))
    assert not torch.equal(trained["model"]["head.linear.weight"], source["head.linear.weight"])


def test_dqn_init_modules_loads_only_those(dqn_source, tmp_path):
    """No gradient step (learning_starts beyond the budget): what the run saves is what it started from."""
    source = model_state(dqn_source, "best.pt")
    train(tmp_path / "run", "dqn_cartpole", *DQN, "train.total_steps=40", "agent.learning_starts=1000",
          f"model.init_from={dqn_source / 'checkpoints' / 'best.pt'}", "model.init_modules=[encoder]")
    started = model_state(tmp_path / "run")
    assert_equal(under(started, "encoder"), under(source, "encoder"))
    assert not torch.equal(started["head.linear.weight"], source["head.linear.weight"])


def test_a_model_that_does_not_fit_the_source_is_refused(dqn_source, run_rlp):
    result = run_rlp("train", "dqn_cartpole", *DQN, "train.total_steps=40", f"model.init_from={dqn_source}",
                     "model.hidden_sizes=[32,32]")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "model.init_from" in result.stderr and "encoder.layers.0.weight" in result.stderr
    assert "(32, 4)" in result.stderr and "(64, 4)" in result.stderr


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a3c_keeps_frozen_parameters_bit_identical(tmp_path, mode):
    """Hogwild workers compute no gradients for frozen parameters; the shared optimizer leaves them alone."""
    extra = ["agent.num_workers=2", "agent.start_method=fork"] if mode == "async" else []
    train(tmp_path / "source", "a3c_cartpole", *A3C, f"agent.mode={mode}", *extra, "train.total_steps=4000")
    source = model_state(tmp_path / "source")
    train(tmp_path / "run", "a3c_cartpole", *A3C, f"agent.mode={mode}", *extra, "train.total_steps=8000",
          f"model.init_from={tmp_path / 'source'}", "model.freeze=[actor_encoder]")
    trained = model_state(tmp_path / "run")
    assert_equal(under(trained, "actor_encoder"), under(source, "actor_encoder"))
    assert not torch.equal(trained["policy_head.logits.weight"], source["policy_head.logits.weight"])
    assert not torch.equal(trained["value_head.weight"], source["value_head.weight"])
