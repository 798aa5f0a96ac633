"""Every registered encoder trains with every agent for a few hundred steps, is saved, and loads for evaluation.

`model.encoder: <name>` and its options are all an agent needs: the same config keys work for DQN
and A3C (A2C mode here, to keep it fast), and `env.history` works without either agent knowing.
"""

from __future__ import annotations

import math

import pytest

from rl_platform import experiment
from rl_platform.checkpoint import load_checkpoint
from rl_platform.config import apply_overrides
from rl_platform.registry import ENCODERS

# encoder case -> (the encoder it runs, overrides: an env that suits it and small encoder options)
CASES = {
    "mlp": ("mlp", ["env.id=rlp/CartPole-v1", "model.encoder.hidden_sizes=[16]"]),
    "cnn": ("cnn", ["env.id=rlp/MinAtar-Breakout-v1", "model.encoder.features_dim=32"]),
    # the old flat keys still work (configs and run directories written before the nested form)
    "cnn-history": ("cnn", ["env.id=rlp/MinAtar-Breakout-v1", "env.history=2", "model.cnn_channels=[8]",
                            "model.cnn_kernels=[3]", "model.cnn_strides=[2]", "model.features_dim=32"]),
    "transformer": ("transformer", ["env.id=rlp/CartPoleNoVel-v1", "env.history=4", "model.encoder.width=16",
                                    "model.encoder.heads=2", "model.encoder.ff_width=32"]),
    "transformer-patches": ("transformer", ["env.id=rlp/MinAtar-Breakout-v1", "model.encoder.patch_size=5",
                                            "model.encoder.causal=false", "model.encoder.width=16",
                                            "model.encoder.heads=2", "model.encoder.ff_width=32"]),
}
AGENTS = {
    "dqn": ["agent=dqn", "agent.learning_starts=100", "agent.batch_size=16", "agent.buffer_size=1000"],
    "a3c": ["agent=a3c", "agent.mode=sync", "agent.n_steps=5"],
}
SHORT = ["env.num_envs=4", "train.total_steps=400", "train.eval_every=0", "train.eval_episodes=2",
         "train.checkpoint_every=0", "train.stop_return=null"]


def test_every_registered_encoder_has_a_case():
    assert {encoder for encoder, _ in CASES.values()} == set(ENCODERS.names())


@pytest.mark.parametrize("agent", list(AGENTS))
@pytest.mark.parametrize("case", list(CASES))
def test_encoder_trains_saves_and_loads(tmp_path, case, agent):
    encoder, overrides = CASES[case]
    cfg = experiment.config_from_dict(apply_overrides(
        {}, [*AGENTS[agent], f"model.encoder={encoder}", *overrides, *SHORT]))
    metrics = experiment.train(cfg, tmp_path / "run", quiet=True)
    assert metrics["global_step"] >= 400 and math.isfinite(metrics["mean_return"])
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert checkpoint["global_step"] == metrics["global_step"]
    assert experiment.resume_config(tmp_path / "run").model == cfg.model  # encoder options saved with the run
    report = experiment.evaluate_run(tmp_path / "run", episodes=2)  # a fresh agent loads the checkpoint strictly
    assert report["episodes"] == 2 and math.isfinite(report["mean_return"])
