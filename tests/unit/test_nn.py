"""Encoders, heads and the gradient clip against hand-computed values and torch's reference."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_platform.buffers import ReplayBuffer
from rl_platform.config import ModelConfig
from rl_platform.errors import ConfigError
from rl_platform.nn import DuelingQHead, build_encoder, build_q_network, clip_grad_norm


def test_clip_grad_norm_matches_torch_reference():
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(5, 3)) for _ in range(3)]
    for p in params:
        p.grad = torch.randn_like(p) * 4
    ours = [p.grad.clone() for p in params]
    reference_norm = torch.nn.utils.clip_grad_norm_(params, 2.0)
    our_norm = clip_grad_norm(ours, 2.0)
    assert float(our_norm) == pytest.approx(float(reference_norm))
    for mine, reference in zip(ours, (p.grad for p in params), strict=True):
        torch.testing.assert_close(mine, reference)


def test_clip_grad_norm_leaves_small_gradients_alone():
    grads = [torch.tensor([3.0, 4.0])]  # norm 5
    assert float(clip_grad_norm(grads, 10.0)) == pytest.approx(5.0)
    torch.testing.assert_close(grads[0], torch.tensor([3.0, 4.0]))
    clip_grad_norm(grads, 1.0)
    torch.testing.assert_close(grads[0], torch.tensor([0.6, 0.8]), atol=1e-6, rtol=0)


def test_mlp_encoder_flattens_box_and_one_hot_encodes_discrete():
    cfg = ModelConfig(encoder={"name": "mlp", "hidden_sizes": [16, 8]})
    box = build_encoder(gym.spaces.Box(-1, 1, shape=(2, 3)), cfg)
    assert box.out_dim == 8 and box(torch.zeros(5, 2, 3)).shape == (5, 8)
    discrete = build_encoder(gym.spaces.Discrete(4), cfg)
    assert discrete.layers[0].in_features == 4
    assert discrete(torch.tensor([0, 3])).shape == (2, 8)


def test_mlp_encoder_rejects_unsupported_space_naming_the_key():
    with pytest.raises(ConfigError, match="model.encoder"):
        build_encoder(gym.spaces.Dict({"a": gym.spaces.Discrete(2)}), ModelConfig())


def test_dueling_head_is_value_plus_centred_advantage():
    head = DuelingQHead(in_dim=1, num_actions=3)
    with torch.no_grad():
        head.value.weight.fill_(2.0)
        head.value.bias.fill_(1.0)  # V = 2x + 1
        head.advantage.weight.copy_(torch.tensor([[1.0], [0.0], [-4.0]]))
        head.advantage.bias.zero_()  # A = (x, 0, -4x), mean -x
    q = head(torch.tensor([[1.0]]))
    # V = 3, A - mean A = (1 + 1, 0 + 1, -4 + 1) = (2, 1, -3)
    torch.testing.assert_close(q, torch.tensor([[5.0, 4.0, 0.0]]))


def test_q_network_outputs_one_value_per_action():
    net = build_q_network(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(3), ModelConfig(), dueling=True)
    assert net(torch.zeros(7, 4)).shape == (7, 3)


def test_uniform_sample_batches_are_consecutive_slices_of_one_draw():
    buffer = ReplayBuffer(16, 2, (1,), np.float32)
    for t in range(8):
        obs = np.array([[t], [100 + t]], dtype=np.float32)
        buffer.add(obs, np.zeros(2, np.int64), np.ones(2, np.float32), obs + 1,
                   np.zeros(2, bool), np.zeros(2, bool), np.ones(2, bool))
    batches = list(buffer.sample_batches(4, 3, np.random.default_rng(0)))
    one_draw = buffer.sample(12, np.random.default_rng(0))
    assert [len(b.actions) for b in batches] == [4, 4, 4]
    np.testing.assert_array_equal(np.concatenate([b.indices for b in batches]), one_draw.indices)
    np.testing.assert_array_equal(np.concatenate([b.obs for b in batches]), one_draw.obs)
