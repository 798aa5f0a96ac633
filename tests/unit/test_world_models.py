"""World models: each model's loss on a hand-built batch against hand-computed values, imagined steps, and both
models learning CartPole's dynamics from random-policy transitions."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform.errors import ConfigError
from rl_platform.registry import WORLD_MODELS
from rl_platform.world_models import Transition
from rl_platform.world_models.ensemble import EnsembleConfig, EnsembleWorldModel
from rl_platform.world_models.mlp import MLPModelConfig, MLPWorldModel

OBS = gym.spaces.Box(-10.0, 10.0, (2,), dtype=np.float32)
ACTIONS = gym.spaces.Discrete(2)


def hand_batch() -> Transition:
    return Transition(obs=torch.tensor([[1.0, 2.0], [3.0, 4.0]]), actions=torch.tensor([0, 1]),
                      rewards=torch.tensor([1.0, 2.0]), next_obs=torch.tensor([[1.5, 2.5], [3.0, 4.0]]),
                      terminations=torch.tensor([False, True]))


def test_mlp_loss_by_hand():
    """One linear layer with zero weights: every row predicts delta (0.5, -0.5), reward 2, termination logit 0."""
    model = MLPWorldModel(OBS, ACTIONS, MLPModelConfig(hidden_sizes=[]))  # normalisers left at identity
    with torch.no_grad():
        model.net[0].weight.zero_()
        model.net[0].bias.copy_(torch.tensor([0.5, -0.5, 2.0, 0.0]))
    loss, figures = model.loss(hand_batch())
    # deltas (0.5, 0.5) and (0, 0): squared errors (0, 1) and (0.25, 0.25); rewards 1 and 2: (1, 0)
    assert figures["next_obs"] == pytest.approx(1.5 / 4)
    assert figures["reward"] == pytest.approx(0.5)
    assert figures["termination"] == pytest.approx(math.log(2))
    assert loss.item() == pytest.approx(0.375 + 0.5 + math.log(2))
    step = model.sample(hand_batch().obs, hand_batch().actions)
    torch.testing.assert_close(step.next_obs, torch.tensor([[1.5, 1.5], [3.5, 3.5]]))
    torch.testing.assert_close(step.rewards, torch.tensor([2.0, 2.0]))
    assert not step.terminations.any() and not step.uncertainty.any()


def test_normalizer_statistics_scale_inputs_and_targets():
    model = MLPWorldModel(OBS, ACTIONS, MLPModelConfig(hidden_sizes=[]))
    model.fit_normalizer(hand_batch())
    torch.testing.assert_close(model.norm.obs.mean, torch.tensor([2.0, 3.0]))
    torch.testing.assert_close(model.norm.obs.std, torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(model.norm.delta.mean, torch.tensor([0.25, 0.25]))
    torch.testing.assert_close(model.norm.target(hand_batch()), torch.tensor([[1.0, 1.0], [-1.0, -1.0]]))
    assert set(model.state_dict()) >= {"norm.obs.mean", "norm.obs.std", "norm.delta.mean", "norm.delta.std"}


def two_member_ensemble() -> EnsembleWorldModel:
    """Zero weights; member 0 predicts mean 0 with log-variance 0, member 1 mean 1 with log-variance ln 4, both
    termination logit 0; log-variance bounds far away (+-30), so the bounded log-variance is the raw one."""
    model = EnsembleWorldModel(OBS, ACTIONS, EnsembleConfig(members=2, hidden_sizes=[]))
    layer = model.net[0]
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()
        layer.bias[1, 0, :3] = 1.0
        layer.bias[1, 0, 3:6] = math.log(4.0)
        model.max_logvar.fill_(30.0)
        model.min_logvar.fill_(-30.0)
    return model


def test_ensemble_loss_by_hand():
    model = two_member_ensemble()
    assert model.cfg.beta == 0.5
    loss, figures = model.loss(hand_batch())
    targets = np.array([[0.5, 0.5, 1.0], [0.0, 0.0, 2.0]])  # (delta, reward) per row
    member0 = (targets**2).mean()  # log-variance 0: beta-NLL weight 1
    member1 = 2.0 * (((targets - 1.0) ** 2) / 4.0 + math.log(4.0)).mean()  # variance 4: weight 4^0.5
    assert figures["nll"] == pytest.approx((member0 + member1) / 2, rel=1e-5)
    assert figures["termination"] == pytest.approx(math.log(2))
    bounds = 0.01 * (30.0 * 3 + 30.0 * 3)
    assert loss.item() == pytest.approx((member0 + member1) / 2 + bounds + math.log(2), rel=1e-5)


def test_ensemble_samples_the_mixture_and_reports_disagreement():
    model = two_member_ensemble()
    n = 40_000
    obs = torch.tensor([[1.0, 2.0]]).repeat(n, 1)
    step = model.sample(obs, torch.zeros(n, dtype=torch.long), torch.Generator().manual_seed(0))
    delta = (step.next_obs - obs).numpy()
    # half the rows from N(0, 1), half from N(1, 4): mean 0.5, variance 0.5 * 1 + 0.5 * 4 + 0.25 = 2.75
    assert delta.mean() == pytest.approx(0.5, abs=0.03)
    assert delta.var() == pytest.approx(2.75, rel=0.03)
    assert step.rewards.mean().item() == pytest.approx(0.5, abs=0.03)
    torch.testing.assert_close(step.uncertainty, torch.full((n,), 0.5))  # std of member means (0 and 1)


@pytest.mark.parametrize("name", ["mlp", "ensemble"])
def test_models_learn_cartpole_one_step_dynamics(name, one_torch_thread):
    """From 4000 random-policy CartPole transitions, 1500 Adam steps bring the one-step error of the point
    prediction on held-out transitions below a tenth of the error of predicting no change; a sampled step is
    close too (CartPole is deterministic: the ensemble's variance shrinks)."""
    envs = gym.make_vec("rlp/CartPole-v1", num_envs=16)
    rng = np.random.default_rng(0)
    obs, _ = envs.reset(seed=0)
    rows = []
    for _ in range(300):
        actions = rng.integers(0, 2, 16)
        next_obs, rewards, terminations, truncations, info = envs.step(actions)
        final = next_obs.copy()
        rows.append((obs.copy(), actions, rewards, final, terminations))
        obs = next_obs
    envs.close()
    # Next-step autoreset: a row after a done is the reset step (obs -> first obs): drop those.
    data = [np.concatenate(parts) for parts in zip(*rows, strict=True)]
    dones = np.concatenate([np.zeros(16, bool)] + [r[4] for r in rows[:-1]])
    keep = ~dones
    obs_t, act_t, rew_t, next_t, term_t = (torch.as_tensor(d[keep]) for d in data)
    train, test = slice(0, 4000), slice(4000, None)
    batch = Transition(obs_t[train], act_t[train], rew_t[train], next_t[train], term_t[train])
    torch.manual_seed(0)
    spec = WORLD_MODELS.get(name, "model")
    model = spec.build(envs.single_observation_space, envs.single_action_space, spec.config_cls())
    model.fit_normalizer(batch)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = np.random.default_rng(1)
    for _ in range(1500):
        index = torch.as_tensor(generator.integers(0, 4000, 128))
        loss, _ = model.loss(Transition(*(t[index] for t in batch)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    no_change = (obs_t[test] - next_t[test]).pow(2).mean().item()
    error = (model.point_prediction(obs_t[test], act_t[test]) - next_t[test]).pow(2).mean().item()
    sampled = model.sample(obs_t[test], act_t[test], torch.Generator().manual_seed(0)).next_obs
    sampled_error = (sampled - next_t[test]).pow(2).mean().item()
    assert error < 0.1 * no_change, (error, no_change)
    assert sampled_error < 0.5 * no_change, (sampled_error, no_change)


def test_models_refuse_spaces_they_cannot_model():
    with pytest.raises(ConfigError, match="takes 1-D float Box observations"):
        EnsembleWorldModel(gym.spaces.Discrete(4), ACTIONS, EnsembleConfig())
    with pytest.raises(ConfigError, match="takes 1-D float Box or Discrete observations"):
        MLPWorldModel(gym.spaces.Box(0, 1, (2, 3)), ACTIONS, MLPModelConfig())
    with pytest.raises(ConfigError, match="Discrete or Box actions"):
        EnsembleWorldModel(OBS, gym.spaces.MultiBinary(3), EnsembleConfig())
