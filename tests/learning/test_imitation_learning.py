"""Imitation learning tests, each from 10 expert episodes, scored normalised, (score - random) / (expert - random),
on 100 fresh episodes (`rlp eval`). The expert is the session's DQN (tests/learning/conftest.py), its 10 greedy
episodes collected here in rlp/CartPole-v1 and in the fixed-horizon rlp/CartPoleFixed-v0.

* SQIL (configs/sqil_cartpole.yaml) on CartPole >= 0.9. Measured 2026-12-01 (seeds 0-9, one expert): every run
  stopped on a confirmed 475 within 4k-18k env steps; 100 fresh episodes gave 480.8-500 (normalised >= 0.96).
* GAIL (configs/gail_cartpole_fixed.yaml) on CartPoleFixed >= 0.9, and the leak test: the same GAIL imitating a
  degenerate expert (always action 0, 8.8 steps upright per episode) stays low. Measured 2026-12-01: seeds 0-9 all
  at 500 from 120k env steps on (first >= 453 at 40k-100k); the degenerate expert's GAIL, seeds 0-2, 300k steps:
  final 8.40, 8.40, 8.05, best 13.5 (normalised < 0). Here the real one stops on a confirmed 475 and the
  degenerate one runs 150k steps, by when every real-expert seed had passed 453.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform import experiment
from rl_platform.collect import collect
from tests.conftest import CONFIGS

EXPERT = "cartpole/dqn-expert-v0"
FIXED_EXPERT, ZERO_EXPERT = "cartpolefixed/dqn-expert-v0", "cartpolefixed/always-left-v0"
NORMALISED_TARGET, LEAK_CEILING = 0.9, 0.3


def always_left(obs: np.ndarray) -> np.ndarray:
    """The degenerate expert: push left (action 0) in every state."""
    return np.zeros(len(obs), dtype=np.int64)


def random_policy_return(env_id: str, episodes: int = 100) -> float:
    """The uniform random policy's mean return over `episodes` seeded episodes."""
    env, rng, total = gym.make(env_id), np.random.default_rng(0), 0.0
    for episode in range(episodes):
        env.reset(seed=episode)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            total += float(reward)
            done = terminated or truncated
    return total / episodes


@pytest.fixture(scope="module")
def expert_data(tmp_path_factory, cartpole_expert):
    """10 greedy episodes of the session's CartPole expert as `cartpole/dqn-expert-v0`; yields the work dir and the
    expert's mean return."""
    root = tmp_path_factory.mktemp("imitation")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINARI_DATASETS_PATH", str(root / "datasets"))
        summary = collect(EXPERT, run_dir=str(cartpole_expert), episodes=10, seed=1)
        assert summary["episodes"] == 10
        fixed = collect(FIXED_EXPERT, run_dir=str(cartpole_expert), env_id="rlp/CartPoleFixed-v0", episodes=10,
                        seed=1)
        zero = collect(ZERO_EXPERT, policy=f"{__name__}:always_left", env_id="rlp/CartPoleFixed-v0", episodes=10,
                       seed=1)
        assert fixed["mean_return"] >= 475 and zero["mean_return"] < 15, (fixed, zero)
        yield root, summary["mean_return"], fixed["mean_return"]


def test_sqil_reaches_ninety_percent_of_the_expert_on_cartpole(expert_data):
    root, expert_return, _ = expert_data
    random_return = random_policy_return("rlp/CartPole-v1")
    cfg = experiment.load_experiment(CONFIGS / "sqil_cartpole.yaml", ["seed=0"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINARI_DATASETS_PATH", str(root / "datasets"))
        metrics = experiment.train(cfg, root / "sqil", quiet=True)
    report = experiment.evaluate_run(root / "sqil", episodes=100)
    normalised = (report["mean_return"] - random_return) / (expert_return - random_return)
    assert metrics["reached_stop_return"], metrics
    assert normalised >= NORMALISED_TARGET, (report, random_return, expert_return)


def train_in(root, config: str, name: str, overrides: list[str]) -> dict:
    cfg = experiment.load_experiment(CONFIGS / config, overrides)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINARI_DATASETS_PATH", str(root / "datasets"))
        return experiment.train(cfg, root / name, quiet=True)


def test_gail_imitates_the_expert_on_cartpole_fixed_but_not_by_the_episode_length_of_a_degenerate_one(expert_data):
    root, _, expert_return = expert_data
    random_return = random_policy_return("rlp/CartPoleFixed-v0")
    normalise = lambda score: (score - random_return) / (expert_return - random_return)  # noqa: E731
    metrics = train_in(root, "gail_cartpole_fixed.yaml", "gail", ["seed=0", "train.stop_return=475"])
    report = experiment.evaluate_run(root / "gail", episodes=100)
    assert metrics["reached_stop_return"], metrics
    assert normalise(report["mean_return"]) >= NORMALISED_TARGET, (report, random_return, expert_return)
    leak = train_in(root, "gail_cartpole_fixed.yaml", "gail-leak",
                    ["seed=0", f"agent.expert={ZERO_EXPERT}", "train.total_steps=150000"])
    assert normalise(leak["best"]["mean_return"]) < LEAK_CEILING, (leak, random_return)
