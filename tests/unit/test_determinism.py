"""The same config and seed give identical results on CPU; another seed gives different ones."""

from __future__ import annotations

import torch

from rl_platform import experiment
from rl_platform.checkpoint import load_checkpoint

OVERRIDES = ["train.total_steps=2000", "train.eval_every=1000", "train.eval_episodes=3",
             "agent.learning_starts=500"]


def train_once(tmp_path, name: str, seed: int) -> tuple[dict, dict]:
    cfg = experiment.load_experiment("dqn_cartpole", [*OVERRIDES, f"seed={seed}"])
    metrics = experiment.train(cfg, tmp_path / name, quiet=True)
    return metrics, load_checkpoint(tmp_path / name / "checkpoints" / "latest.pt")["agent"]


def test_same_seed_gives_identical_weights_and_returns(tmp_path):
    metrics_a, agent_a = train_once(tmp_path, "a", seed=3)
    metrics_b, agent_b = train_once(tmp_path, "b", seed=3)
    assert metrics_a == metrics_b
    assert agent_a["num_updates"] == agent_b["num_updates"] > 0
    for key, tensor in agent_a["q_network"].items():
        assert torch.equal(tensor, agent_b["q_network"][key]), key


def test_different_seed_gives_different_weights(tmp_path):
    _, agent_a = train_once(tmp_path, "a", seed=3)
    _, agent_b = train_once(tmp_path, "b", seed=4)
    assert any(not torch.equal(t, agent_b["q_network"][k]) for k, t in agent_a["q_network"].items())
