"""Every DQN option combination trains, checkpoints and evaluates (a few hundred steps each)."""

from __future__ import annotations

import pytest

from rl_platform import experiment
from rl_platform.checkpoint import load_checkpoint

VARIANTS = {
    "vanilla": ["agent.double=false"],
    "double_dueling": ["agent.dueling=true"],
    "nstep_prioritized": ["agent.n_step=3", "agent.prioritized=true"],
    "polyak_mse_noclip": ["agent.tau=0.01", "agent.target_update_interval=1", "agent.loss=mse",
                          "agent.max_grad_norm=0"],
    "all": ["agent.dueling=true", "agent.n_step=5", "agent.prioritized=true", "agent.tau=0.5"],
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_dqn_variant_trains_checkpoints_and_evaluates(tmp_path, name):
    overrides = ["train.total_steps=800", "train.eval_every=400", "train.eval_episodes=2",
                 "agent.learning_starts=200", "agent.buffer_size=500", *VARIANTS[name]]
    cfg = experiment.load_experiment("dqn_cartpole", overrides)
    metrics = experiment.train(cfg, tmp_path / "run", quiet=True)
    assert metrics["global_step"] == 800
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert checkpoint["agent"]["num_updates"] > 0
    replay = load_checkpoint(tmp_path / "run" / "checkpoints" / "replay.pt")
    assert replay["obs"].shape == (500 // 8 + 1, 8, 4)  # rows rounded up to whole vector steps
    assert ("tree" in replay) == cfg.agent.prioritized
    assert experiment.evaluate_run(tmp_path / "run", episodes=2)["episodes"] == 2


def test_dqn_rejects_continuous_actions_naming_the_problem(tmp_path):
    from rl_platform.errors import EnvError

    cfg = experiment.load_experiment("dqn_cartpole", ["env.id=Pendulum-v1", "env.num_envs=2"])
    with pytest.raises(EnvError, match="Discrete action space"):
        experiment.train(cfg, tmp_path / "run", quiet=True)
