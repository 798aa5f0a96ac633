"""CNN-DQN learns MinAtar Breakout (our Numba rlp/MinAtar-Breakout-v1) far beyond a random policy.

A uniformly random policy scores 0.39 +- 0.63 per episode (1000 episodes). configs/dqn_minatar_breakout.yaml
reaches 12.6-15.8 (100-episode greedy eval, seeds 0-4) with its full 300k-step budget; see
benchmarks/minatar_dqn_vs_sb3.py for that run side by side with Stable-Baselines3. This test trains the same
config (double DQN, 3-step returns, prioritized replay) for 120k env steps, with epsilon decaying over the same
first 75k steps as the full run (about 1.5 minutes on 2 cores). Measured at this budget, seeds 0-5: final
50-episode greedy eval 7.42-10.66, a fresh 100-episode eval of the checkpoint 7.42-8.90. The threshold 5 is 12x
the random policy's mean and stays more than 4 standard errors of a 50-episode mean (per-episode std about 3)
below the worst seed.
"""

from __future__ import annotations

from rl_platform import experiment
from tests.conftest import CONFIGS

RANDOM_POLICY_RETURN = 0.39
THRESHOLD = 5.0


def test_cnn_dqn_learns_minatar_breakout(tmp_path):
    overrides = ["seed=0", "train.total_steps=120000", "agent.exploration_fraction=0.625", "train.eval_every=0",
                 "train.eval_episodes=50", "train.device=cpu"]
    cfg = experiment.load_experiment(CONFIGS / "dqn_minatar_breakout.yaml", overrides)
    assert cfg.model.encoder.name == "cnn" and cfg.env.id == "rlp/MinAtar-Breakout-v1"
    # The reduced run keeps the full config's epsilon schedule in absolute steps.
    full = experiment.load_experiment(CONFIGS / "dqn_minatar_breakout.yaml")
    decay_steps = cfg.agent.exploration_fraction * cfg.train.total_steps
    assert decay_steps == full.agent.exploration_fraction * full.train.total_steps
    metrics = experiment.train(cfg, tmp_path / "run", quiet=True)
    assert metrics["mean_return"] >= THRESHOLD > 10 * RANDOM_POLICY_RETURN, metrics
    report = experiment.evaluate_run(tmp_path / "run", episodes=50)
    assert report["mean_return"] >= THRESHOLD, report
