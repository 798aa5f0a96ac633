"""Linear probes (`rlp probe`): the closed-form ridge and the logistic regression against known answers, and the
probes on a synthetic dataset whose rewards and actions are (or are not) linear in the observation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from rl_platform.datasets import Transitions
from rl_platform.probe import format_probe, logistic_accuracy, probe_encoders, ridge_r2

OBS = gym.spaces.Box(-10.0, 10.0, shape=(3,), dtype=np.float32)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_ridge_recovers_an_exact_linear_map_and_scores_a_constant_guess_zero():
    rng = np.random.default_rng(0)
    x, test_x = rng.normal(size=(200, 3)), rng.normal(size=(100, 3))
    weights = np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]])
    assert ridge_r2(x, x @ weights + 1.0, test_x, test_x @ weights + 1.0) == pytest.approx(1.0, abs=1e-3)
    # a target unrelated to x: the fit is about its training mean, which explains nothing of the test split
    noise, test_noise = rng.normal(size=200), rng.normal(size=100)
    assert abs(ridge_r2(x, noise, test_x, test_noise)) < 0.1


def test_logistic_regression_separates_separable_classes_and_is_deterministic():
    rng = np.random.default_rng(1)
    x, test_x = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    # three bands of x0 + x1, each next to the other two: multinomial logistic regression can cut them apart
    labels = lambda points: (points.sum(axis=1) > -0.5).astype(int) + (points.sum(axis=1) > 0.5)  # noqa: E731
    first = logistic_accuracy(x, labels(x), test_x, labels(test_x), 3)
    assert first > 0.95
    assert logistic_accuracy(x, labels(x), test_x, labels(test_x), 3) == first


class Features(nn.Module):
    """A fixed encoder: the observation itself, or a random linear mix of it squashed by tanh."""

    def __init__(self, mix: np.ndarray | None = None) -> None:
        super().__init__()
        self.mix = None if mix is None else torch.as_tensor(mix, dtype=torch.float32)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs if self.mix is None else torch.tanh(obs @ self.mix)


def synthetic(seed: int, reward_from_obs: bool) -> Transitions:
    """60 episodes of 20 steps of uniform observations; the action is obs[1] > 0, and the reward obs[0] > 0
    (or, with `reward_from_obs` False, a coin flip that no encoder can predict)."""
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1.0, 1.0, size=(1200, 3)).astype(np.float32)
    rewards = (obs[:, 0] > 0) if reward_from_obs else rng.random(1200) < 0.5
    ids = np.repeat(np.arange(60), 20)
    starts = np.zeros(1200, dtype=bool)
    starts[::20] = True
    return Transitions("synthetic", OBS, gym.spaces.Discrete(2), obs, (obs[:, 1] > 0).astype(np.int64),
                       rewards.astype(np.float32), np.roll(obs, -1, axis=0), np.zeros(1200, bool),
                       np.zeros(1200, bool), ids, starts, {})


def test_probes_are_near_perfect_where_reward_and_action_are_linear_in_the_features():
    mix = np.random.default_rng(2).normal(size=(3, 8))
    result = probe_encoders({"pretrained": Features(), "random": Features(mix)}, synthetic(0, reward_from_obs=True),
                            seed=0)
    assert result["test_episodes"] == 15 and result["train_episodes"] == 45 and result["features"] == 3
    reward, action = result["probes"]["reward"], result["probes"]["action"]
    assert reward["metric"] == action["metric"] == "accuracy" and reward["classes"] == 2
    assert reward["pretrained"] > 0.98 and action["pretrained"] > 0.98
    assert 0.4 < reward["majority"] < 0.6  # balanced classes: the floor is a coin flip
    assert "reward" in format_probe({"checkpoint": "ckpt", **result})


def test_a_reward_no_encoder_can_predict_scores_at_chance():
    result = probe_encoders({"pretrained": Features(), "random": Features()}, synthetic(1, reward_from_obs=False),
                            seed=0)
    reward = result["probes"]["reward"]
    assert abs(reward["pretrained"] - 0.5) < 0.07 and result["probes"]["action"]["pretrained"] > 0.98


def test_many_valued_rewards_and_box_actions_are_scored_by_r2():
    data = synthetic(2, reward_from_obs=True)
    data.rewards = (2.0 * data.obs[:, 0] - data.obs[:, 2]).astype(np.float32)  # continuous, linear in obs
    data.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    data.actions = data.obs[:, 1:2] ** 3  # nonlinear: a linear fit explains most, not all
    probes = probe_encoders({"pretrained": Features(), "random": Features()}, data, seed=0)["probes"]
    assert probes["reward"]["metric"] == "r2" and probes["reward"]["pretrained"] == pytest.approx(1.0, abs=1e-3)
    assert probes["action"]["metric"] == "r2" and 0.6 < probes["action"]["pretrained"] < 0.95
