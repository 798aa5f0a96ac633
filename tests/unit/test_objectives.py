"""Pretraining objectives: each loss on a tiny hand-built batch with hand-set weights against the value worked out
by hand, the pairs the contrastive batches are made of, and a short check that each loss goes down on a toy
dataset it can learn."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from rl_platform.agents.a3c import A3CAgent, A3CConfig
from rl_platform.agents.a3c import pretrain_network as a3c_network
from rl_platform.agents.dqn import DQNAgent, DQNConfig
from rl_platform.agents.dqn import pretrain_network as dqn_network
from rl_platform.components import Component
from rl_platform.config import ModelConfig, parse_dataclass
from rl_platform.datasets import Transitions
from rl_platform.nn import build_actor_critic
from rl_platform.objectives import AgentNetwork, Batch, BatchSource, build_objective
from rl_platform.registry import OBJECTIVES

CPU = torch.device("cpu")
PLANE = gym.spaces.Box(-10.0, 10.0, shape=(2,), dtype=np.float32)
LINE = gym.spaces.Box(-10.0, 10.0, shape=(1,), dtype=np.float32)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def model_cfg(hidden_sizes: list[int]) -> ModelConfig:
    return parse_dataclass(ModelConfig, {"encoder": {"name": "mlp", "hidden_sizes": hidden_sizes}}, "model")


def dqn(obs_space: gym.Space, actions: gym.Space, hidden_sizes: list[int] | None = None) -> AgentNetwork:
    """The DQN network's pretraining parts; hidden_sizes [] makes the encoder the identity (flatten)."""
    torch.manual_seed(0)
    agent = DQNAgent(DQNConfig(), obs_space, actions, model_cfg(hidden_sizes or []), CPU, seed=0)
    return dqn_network(agent)


def a3c(obs_space: gym.Space, actions: gym.Space, squash: str = "clip") -> AgentNetwork:
    torch.manual_seed(0)
    model = build_actor_critic(obs_space, actions, model_cfg([]), squash=squash)
    return a3c_network(A3CAgent(A3CConfig(mode="sync"), model))


def objective(name: str, network: AgentNetwork, obs_space: gym.Space, actions: gym.Space, **options):
    spec = OBJECTIVES.get(name)
    return build_objective(Component(name, parse_dataclass(spec.config_cls, options, name)), network, obs_space,
                           actions)


def set_linear(layer: nn.Linear, weight, bias=None) -> None:
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        layer.bias.copy_(torch.zeros(layer.out_features) if bias is None else torch.as_tensor(bias))


def batch(obs, actions, next_obs=None, rewards=None, terminations=None, future_obs=None, obs_dtype=torch.float32,
          action_dtype=torch.int64) -> Batch:
    obs = torch.as_tensor(obs, dtype=obs_dtype)
    n = len(obs)
    return Batch(obs=obs, actions=torch.as_tensor(actions, dtype=action_dtype),
                 rewards=torch.as_tensor(rewards if rewards is not None else np.zeros(n), dtype=torch.float32),
                 next_obs=obs if next_obs is None else torch.as_tensor(next_obs, dtype=obs_dtype),
                 terminations=torch.as_tensor(terminations if terminations is not None else np.zeros(n, bool)),
                 future_obs=None if future_obs is None else torch.as_tensor(future_obs, dtype=obs_dtype))


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# -- bc ---------------------------------------------------------------------------------------


def test_bc_for_dqn_is_cross_entropy_with_the_q_values_as_logits():
    network = dqn(PLANE, gym.spaces.Discrete(3))
    set_linear(network.model.head.linear, [[1, 0], [0, 1], [1, 1]], [0, 0, -1])
    bc = objective("bc", network, PLANE, gym.spaces.Discrete(3))
    # Q(s0) = [1, 0, 0], dataset action 0; Q(s1) = [0, 2, 1], dataset action 2 (greedy would be 1)
    loss, stats = bc.loss(batch([[1, 0], [0, 2]], [0, 2]))
    row0 = -math.log(math.e / (math.e + 2))
    row1 = -math.log(math.e / (1 + math.e ** 2 + math.e))
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    assert stats == {"bc_loss": pytest.approx((row0 + row1) / 2, rel=1e-6), "accuracy": 0.5}
    assert bc.trains_policy


def test_bc_for_a3c_categorical_maps_actions_of_a_space_starting_at_one():
    actions = gym.spaces.Discrete(3, start=1)
    network = a3c(PLANE, actions)
    set_linear(network.model.policy_head.logits, [[1, 0], [0, 1], [0, 0]])
    bc = objective("bc", network, PLANE, actions)
    loss, stats = bc.loss(batch([[2, 0], [0, 0]], [1, 3]))  # logits [2, 0, 0] -> action 1; [0, 0, 0] -> action 3
    expected = (-math.log(math.e ** 2 / (math.e ** 2 + 2)) + math.log(3)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert stats["accuracy"] == 0.5  # argmax of all-equal logits is index 0 (action 1), not 3


def gaussian_nll(u: float, mean: float, std: float) -> float:
    return 0.5 * ((u - mean) / std) ** 2 + math.log(std) + 0.5 * math.log(2 * math.pi)


@pytest.mark.parametrize("squash", ["clip", "tanh"])
def test_bc_for_a3c_gaussian_is_the_log_likelihood_of_the_raw_action(squash):
    actions = gym.spaces.Box(0.0, 2.0, shape=(1,), dtype=np.float32)
    network = a3c(PLANE, actions, squash=squash)
    head = network.model.policy_head
    set_linear(head.mean, [[0.5, 0.0]])
    with torch.no_grad():
        head.log_std.fill_(math.log(0.5))
    bc = objective("bc", network, PLANE, actions)
    loss, stats = bc.loss(batch([[1, 0], [0, 1]], [[1.5], [1.0]], action_dtype=torch.float32))
    # means 0.5 and 0; the raw actions: the actions themselves (clip) or atanh(a - 1) (tanh into [0, 2])
    raw = [1.5, 1.0] if squash == "clip" else [math.atanh(0.5), math.atanh(0.0)]
    expected = (gaussian_nll(raw[0], 0.5, 0.5) + gaussian_nll(raw[1], 0.0, 0.5)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert set(stats) == {"bc_loss"}


def test_bc_for_a3c_tanh_squashing_keeps_actions_at_the_bounds_finite():
    actions = gym.spaces.Box(0.0, 2.0, shape=(1,), dtype=np.float32)
    network = a3c(PLANE, actions, squash="tanh")
    raw = network.raw_actions(torch.tensor([[0.0], [2.0]]))
    assert torch.isfinite(raw).all() and raw[0, 0] < -7 and raw[1, 0] > 7


# -- dynamics, inverse, reconstruction ---------------------------------------------------------


def test_dynamics_weights_next_observation_reward_and_termination_losses():
    network = dqn(PLANE, gym.spaces.Discrete(2))
    model = objective("dynamics", network, PLANE, gym.spaces.Discrete(2), hidden_sizes=[], observation_weight=0.5,
                      reward_weight=2.0, termination_weight=3.0)
    # input [obs, one-hot action] -> output [next obs (2), reward, termination logit]: identity weights, so the
    # prediction is next obs = obs, reward = 1 if action 0, termination logit = 1 if action 1
    set_linear(model.forward_model[0], np.eye(4))
    loss, stats = model.loss(batch([[1, 2], [3, 4]], [0, 1], next_obs=[[1, 3], [2, 4]], rewards=[1.0, 0.5],
                                   terminations=[False, True]))
    observation = (0 + 1 + 1 + 0) / 4
    reward = (0 + 0.25) / 2
    termination = (math.log(2) + softplus(-1)) / 2  # logit 0 for "not terminated", logit 1 for "terminated"
    assert stats == pytest.approx({"observation_loss": observation, "reward_loss": reward,
                                   "termination_loss": termination}, rel=1e-6)
    assert loss.item() == pytest.approx(0.5 * observation + 2 * reward + 3 * termination, rel=1e-6)


def test_dynamics_predicts_bool_frames_cell_by_cell_with_binary_cross_entropy():
    frames = gym.spaces.Box(0, 1, shape=(2, 2), dtype=np.bool_)
    network = dqn(frames, gym.spaces.Discrete(2))
    model = objective("dynamics", network, frames, gym.spaces.Discrete(2), hidden_sizes=[], reward_weight=0.0,
                      termination_weight=0.0)
    weight = np.zeros((6, 6))
    weight[:4, :4] = 2 * np.eye(4)
    set_linear(model.forward_model[0], weight, [-1, -1, -1, -1, 0, 0])  # logit 2 * cell - 1
    obs = np.array([[[1, 0], [0, 1]]], dtype=bool)
    same, flipped = model.loss(batch(obs, [0], next_obs=obs, obs_dtype=torch.bool))[1], \
        model.loss(batch(obs, [0], next_obs=~obs, obs_dtype=torch.bool))[1]
    assert same["observation_loss"] == pytest.approx(softplus(-1), rel=1e-6)  # every cell: logit +-1, right side
    assert flipped["observation_loss"] == pytest.approx(softplus(1), rel=1e-6)


def test_inverse_model_predicts_the_action_from_both_observations():
    network = dqn(LINE, gym.spaces.Discrete(2))
    inverse = objective("inverse", network, LINE, gym.spaces.Discrete(2), hidden_sizes=[])
    set_linear(inverse.inverse_model[0], [[-1, 1], [1, -1]])  # logits [s' - s, s - s']
    loss, stats = inverse.loss(batch([[0], [1]], [0, 0], next_obs=[[1], [0]]))
    expected = (softplus(-2) + softplus(2)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert stats == {"inverse_loss": pytest.approx(expected, rel=1e-6), "accuracy": 0.5}


def test_inverse_model_regresses_box_actions():
    actions = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    network = a3c(LINE, actions)
    inverse = objective("inverse", network, LINE, actions, hidden_sizes=[])
    set_linear(inverse.inverse_model[0], [[-1, 1]])  # predicted action s' - s
    loss, _ = inverse.loss(batch([[0], [1]], [[0.5], [-1.0]], next_obs=[[1], [0]], action_dtype=torch.float32))
    assert loss.item() == pytest.approx(((1 - 0.5) ** 2 + (-1 + 1) ** 2) / 2, rel=1e-6)


def test_reconstruction_is_mse_for_float_and_bce_for_bool_observations():
    network = dqn(PLANE, gym.spaces.Discrete(2))
    autoencoder = objective("reconstruction", network, PLANE, gym.spaces.Discrete(2), hidden_sizes=[])
    set_linear(autoencoder.decoder[0], 0.5 * np.eye(2))
    loss, _ = autoencoder.loss(batch([[2, 0], [0, 4]], [0, 1]))
    assert loss.item() == pytest.approx((1 + 0 + 0 + 4) / 4, rel=1e-6)  # (0.5 s - s)^2 per cell
    frames = gym.spaces.Box(0, 1, shape=(3,), dtype=np.bool_)
    network = dqn(frames, gym.spaces.Discrete(2))
    autoencoder = objective("reconstruction", network, frames, gym.spaces.Discrete(2), hidden_sizes=[])
    set_linear(autoencoder.decoder[0], 2 * np.eye(3), [-1, -1, -1])
    loss, _ = autoencoder.loss(batch(np.array([[True, False, True]]), [0], obs_dtype=torch.bool))
    assert loss.item() == pytest.approx(softplus(-1), rel=1e-6)


# -- contrastive --------------------------------------------------------------------------------


def contrastive(**options):
    network = dqn(PLANE, gym.spaces.Discrete(2))
    model = objective("contrastive", network, PLANE, gym.spaces.Discrete(2), projection_dim=2, **options)
    set_linear(model.projection, np.eye(2))
    return model


def test_infonce_with_cosine_similarity_and_in_batch_negatives():
    model = contrastive(temperature=0.5, similarity="cosine")
    loss, stats = model.loss(batch([[1, 0], [0, 1]], [0, 0], future_obs=[[1, 1], [0, 1]]))
    # cosines: anchor 0 -> futures [1/sqrt2, 0]; anchor 1 -> [1/sqrt2, 1]; logits are cosines / 0.5
    root2 = math.sqrt(2)
    row0 = -math.log(math.exp(root2) / (math.exp(root2) + 1))
    row1 = -math.log(math.exp(2) / (math.exp(root2) + math.exp(2)))
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    assert stats["accuracy"] == 1.0


def test_infonce_with_bilinear_similarity():
    model = contrastive(temperature=1.0, similarity="bilinear")
    with torch.no_grad():
        model.bilinear.copy_(torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    loss, stats = model.loss(batch([[1, 0], [0, 1]], [0, 0], future_obs=[[1, 1], [0, 1]]))
    # z_a W z_f: anchor 0 -> [2, 0]; anchor 1 -> [1, 1]
    expected = (-math.log(math.e ** 2 / (math.e ** 2 + 1)) + math.log(2)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert stats["accuracy"] == 0.5  # a tie goes to the first column


def test_momentum_target_moves_towards_the_online_projection_by_one_minus_momentum():
    model = contrastive(momentum=0.9)
    target = torch.zeros(2, 2)
    with torch.no_grad():
        model.target_projection.weight.copy_(target)
        model.projection.weight.copy_(torch.ones(2, 2))
    model.after_step()
    assert torch.allclose(model.target_projection.weight, torch.full((2, 2), 0.1))  # 0.9 * 0 + 0.1 * 1
    model.after_step()
    assert torch.allclose(model.target_projection.weight, torch.full((2, 2), 0.19))  # 0.9 * 0.1 + 0.1 * 1
    assert not any(p.requires_grad for p in model.target_encoder.parameters())


def transitions(obs, episode_ids, actions=None, obs_space=LINE, action_space=None, next_obs=None, rewards=None,
                terminations=None) -> Transitions:
    obs = np.asarray(obs, dtype=np.float32)
    n = len(obs)
    ids = np.asarray(episode_ids, dtype=np.int64)
    starts = np.ones(n, dtype=bool)
    starts[1:] = ids[1:] != ids[:-1]
    action_space = gym.spaces.Discrete(2) if action_space is None else action_space
    return Transitions("toy", obs_space, action_space, obs, np.zeros(n, np.int64) if actions is None else actions,
                       np.zeros(n, np.float32) if rewards is None else rewards,
                       obs + 1 if next_obs is None else next_obs,
                       np.zeros(n, bool) if terminations is None else terminations, np.zeros(n, bool), ids, starts, {})


def test_contrastive_pairs_stay_inside_one_episode_and_reach_its_final_observation():
    # two episodes: steps 0, 1, 2 (final observation 13) and steps 3, 4 (final observation 14)
    data = transitions([[0], [1], [2], [3], [4]], [0, 0, 0, 1, 1], next_obs=np.array([[1], [2], [13], [4], [14]]))
    source = BatchSource(data, CPU, pair_offset=2)
    assert source.anchors.tolist() == [0, 1, 3]  # 2 and 4 have no observation 2 steps later in their episode
    pairs = source.batch(source.anchors)
    assert pairs.obs[:, 0].tolist() == [0, 1, 3] and pairs.future_obs[:, 0].tolist() == [2, 13, 14]
    validation = list(source.batches(batch_size=2, seed=0))
    assert sorted(int(x) for b in validation for x in b.obs[:, 0]) == [0, 1, 3] and len(validation) == 1


# -- learning -----------------------------------------------------------------------------------


def toy_dataset(seed: int = 0) -> Transitions:
    """40 episodes of 20 steps on a plane: each starts at its own random point; action 1 (taken when
    obs[1] > 0) moves right by 0.2, action 0 left; reward obs[0]; an episode terminates when obs[0] > 2."""
    rng = np.random.default_rng(seed)
    obs, next_obs, actions, rewards, terminations, ids = [], [], [], [], [], []
    for episode in range(40):
        state = rng.normal(0.0, 2.0, size=2)
        for _ in range(20):
            action = int(state[1] > 0)
            following = state + np.array([0.2 if action else -0.2, 0.0]) + rng.normal(0.0, 0.02, size=2)
            obs.append(state), next_obs.append(following), actions.append(action), ids.append(episode)
            rewards.append(state[0]), terminations.append(following[0] > 2)
            state = following
            if terminations[-1]:
                break
    as32 = lambda rows: np.asarray(rows, dtype=np.float32)  # noqa: E731
    return transitions(as32(obs), ids, np.asarray(actions, np.int64), obs_space=PLANE, next_obs=as32(next_obs),
                       rewards=as32(rewards), terminations=np.asarray(terminations))


@pytest.mark.parametrize("name, options", [
    ("bc", {}), ("dynamics", {"hidden_sizes": [32]}), ("inverse", {"hidden_sizes": [32]}),
    ("reconstruction", {"hidden_sizes": [32]}), ("contrastive", {"offset": 2, "projection_dim": 16}),
    ("contrastive", {"offset": 2, "projection_dim": 16, "similarity": "bilinear", "momentum": 0.9}),
])
def test_loss_goes_down_on_a_learnable_toy_dataset(name, options):
    network = dqn(PLANE, gym.spaces.Discrete(2), hidden_sizes=[32])
    model = objective(name, network, PLANE, gym.spaces.Discrete(2), **options)
    source = BatchSource(toy_dataset(), CPU, model.pair_offset)
    parameters = [p for p in [*network.model.parameters(), *model.parameters()] if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=3e-3)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        before = np.mean([model.loss(b)[0].item() for b in source.batches(64, seed=1)])
    for _ in range(500):
        loss, _ = model.loss(source.sample(64, rng))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.after_step()
    with torch.no_grad():
        after = np.mean([model.loss(b)[0].item() for b in source.batches(64, seed=1)])
    assert after < 0.5 * before, (before, after)
