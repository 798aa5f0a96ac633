"""The NumPy actor computes the same policy as the torch model, follows its updates and samples correctly."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_platform.config import ModelConfig
from rl_platform.nn import build_actor_critic
from rl_platform.nn.numpy_actor import NumpyCategoricalActor

OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)


def make_model(activation: str = "tanh", actions: gym.Space | None = None, encoder: str = "mlp",
               observation_space: gym.Space = OBS_SPACE) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(encoder={"name": encoder, "hidden_sizes": [16, 8], "activation": activation})
    return build_actor_critic(observation_space, actions or gym.spaces.Discrete(3, start=-1), cfg)


def normalized(logits: np.ndarray) -> np.ndarray:
    """Logits shifted so that each row's maximum is 0 (torch's Categorical normalises its logits)."""
    return logits - logits.max(axis=-1, keepdims=True)


def torch_logits(model: torch.nn.Module, obs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return normalized(model.policy(torch.as_tensor(obs)).logits.numpy())


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_logits_and_greedy_actions_match_torch(activation):
    model = make_model(activation)
    for layer in model.modules():  # non-trivial weights (the policy head starts near zero)
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.normal_(layer.weight)
    actor = NumpyCategoricalActor.of(model)
    obs = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    np.testing.assert_allclose(normalized(actor.logits(obs)), torch_logits(model, obs), atol=1e-5)
    with torch.no_grad():
        np.testing.assert_array_equal(actor.greedy(obs), model.greedy(torch.as_tensor(obs)).numpy() - 1)


def test_follows_in_place_updates_and_moved_storage():
    model = make_model()
    actor = NumpyCategoricalActor.of(model)
    obs = np.ones((2, 4), dtype=np.float32)
    actor.logits(obs)
    with torch.no_grad():
        model.policy_head.logits.bias.copy_(torch.tensor([0.0, 5.0, -5.0]))  # in place, like an optimizer step
    np.testing.assert_array_equal(actor.greedy(obs), [0, 0])  # action index 1 of Discrete(3, start=-1)
    model.share_memory()  # moves every parameter to new storage
    with torch.no_grad():
        model.policy_head.logits.bias.copy_(torch.tensor([9.0, 0.0, -5.0]))
    np.testing.assert_array_equal(actor.greedy(obs), [-1, -1])
    np.testing.assert_allclose(normalized(actor.logits(obs)), torch_logits(model, obs), atol=1e-5)


def test_follows_a_bias_given_new_storage_alone():
    model = make_model()
    actor = NumpyCategoricalActor.of(model)
    obs = np.ones((2, 4), dtype=np.float32)
    np.testing.assert_array_equal(actor.greedy(obs), [1, 1])
    model.policy_head.logits.bias.data = torch.tensor([50.0, 0.0, 0.0])  # the weights keep their storage
    np.testing.assert_array_equal(actor.greedy(obs), [-1, -1])


def test_sampling_frequencies_follow_softmax():
    model = make_model()
    with torch.no_grad():  # zero the network; the bias alone sets the probabilities to softmax(0, log 2, log 5)
        for p in model.parameters():
            p.zero_()
        model.policy_head.logits.bias.copy_(torch.log(torch.tensor([1.0, 2.0, 5.0])))
    actor = NumpyCategoricalActor.of(model)
    draws = actor.sample(np.zeros((80_000, 4), dtype=np.float32), np.random.default_rng(1))
    counts = np.bincount(draws, minlength=3)
    expected = 80_000 * np.array([1.0, 2.0, 5.0]) / 8.0  # 10000, 20000, 50000
    chi2 = float((((counts - expected) ** 2) / expected).sum())
    assert chi2 < 13.8, (counts, chi2)  # 99.9% quantile of chi-square with 2 degrees of freedom
    assert draws.min() == 0 and draws.max() == 2 and draws.dtype == np.int64


def test_a_certain_action_is_always_drawn():
    model = make_model()
    with torch.no_grad():
        model.policy_head.logits.bias.copy_(torch.tensor([-1e4, 1e4, -1e4]))
    draws = NumpyCategoricalActor.of(model).sample(np.zeros((1000, 4), np.float32), np.random.default_rng(0))
    assert (draws == 1).all()


@pytest.mark.parametrize("kind", ["gaussian", "one-hot", "gelu", "image"])
def test_other_models_have_no_numpy_actor(kind):
    if kind == "gaussian":
        model = make_model(actions=gym.spaces.Box(-1.0, 1.0, (2,), np.float32))
    elif kind == "one-hot":
        model = make_model(observation_space=gym.spaces.Discrete(5))
    elif kind == "gelu":
        model = make_model("gelu")
    else:  # uint8 pixels are scaled inside the encoder
        model = make_model(observation_space=gym.spaces.Box(0, 255, (3, 4, 4), np.uint8))
    assert NumpyCategoricalActor.of(model) is None
