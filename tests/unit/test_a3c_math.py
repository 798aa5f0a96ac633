"""A3C's returns, advantages, loss, collector and action heads, against hand-computed numbers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_platform.agents.a3c.a3c import A3CAgent, A3CConfig, build_model
from rl_platform.config import EnvConfig, ModelConfig
from rl_platform.env_factory import make_vector_env
from rl_platform.nn import GaussianHead, build_actor_critic
from rl_platform.returns import gae_advantages, n_step_returns
from rl_platform.rollout import Rollout, RolloutCollector

GAMMA = 0.5
# Two envs, four steps. Env 0 runs through the window. Env 1 terminates at t=1 and is truncated
# at t=2 (its final observation is worth 6); env 1 is also both terminated and truncated at t=3 in
# the second case below, where termination wins.
REWARDS = np.array([[1, 1], [2, 1], [3, 1], [4, 1]], dtype=np.float32)
TERMINATED = np.array([[0, 0], [0, 1], [0, 0], [0, 0]], dtype=bool)
TRUNCATED = np.array([[0, 0], [0, 0], [0, 1], [0, 0]], dtype=bool)
FINAL_VALUES = np.array([[0, 0], [0, 0], [0, 6], [0, 0]], dtype=np.float32)
LAST_VALUES = np.array([10, 8], dtype=np.float32)


def test_n_step_returns_by_hand():
    returns = n_step_returns(REWARDS, TERMINATED, TRUNCATED, FINAL_VALUES, LAST_VALUES, GAMMA)
    # env 0: R3 = 4 + .5*10 = 9; R2 = 3 + .5*9 = 7.5; R1 = 2 + .5*7.5 = 5.75; R0 = 1 + .5*5.75 = 3.875
    # env 1: R3 = 1 + .5*8 = 5; R2 = 1 + .5*6 = 4 (truncated: its final obs, not R3);
    #        R1 = 1 (terminated); R0 = 1 + .5*1 = 1.5
    np.testing.assert_allclose(returns, [[3.875, 1.5], [5.75, 1.0], [7.5, 4.0], [9.0, 5.0]])


def test_termination_wins_over_truncation():
    terminated, truncated = TERMINATED.copy(), TRUNCATED.copy()
    terminated[3, 1] = truncated[3, 1] = True
    final_values = FINAL_VALUES.copy()
    final_values[3, 1] = 100.0  # must not be used
    returns = n_step_returns(REWARDS, terminated, truncated, final_values, LAST_VALUES, GAMMA)
    assert returns[3, 1] == 1.0


def test_gae_by_hand_and_lambda_one_is_n_step():
    values = np.array([[1, 2], [2, 0], [3, 1], [4, 3]], dtype=np.float32)
    advantages = gae_advantages(REWARDS, TERMINATED, TRUNCATED, values, FINAL_VALUES, LAST_VALUES, GAMMA, 0.5)
    # env 1: delta3 = 1 + .5*8 - 3 = 2; A3 = 2. delta2 = 1 + .5*6 - 1 = 3; A2 = 3 (episode ended).
    #        delta1 = 1 + 0 - 0 = 1; A1 = 1. delta0 = 1 + .5*0 - 2 = -1; A0 = -1 + .25*1 = -0.75
    np.testing.assert_allclose(advantages[:, 1], [-0.75, 1.0, 3.0, 2.0])
    # env 0: delta = [1+1-1, 2+1.5-2, 3+2-3, 4+5-4] = [1, 1.5, 2, 5]; A3 = 5; A2 = 2 + .25*5 = 3.25;
    #        A1 = 1.5 + .25*3.25 = 2.3125; A0 = 1 + .25*2.3125 = 1.578125
    np.testing.assert_allclose(advantages[:, 0], [1.578125, 2.3125, 3.25, 5.0])
    full = gae_advantages(REWARDS, TERMINATED, TRUNCATED, values, FINAL_VALUES, LAST_VALUES, GAMMA, 1.0)
    expected = n_step_returns(REWARDS, TERMINATED, TRUNCATED, FINAL_VALUES, LAST_VALUES, GAMMA) - values
    np.testing.assert_allclose(full, expected, rtol=1e-6)


def constant_critic_agent(value: float, **cfg) -> A3CAgent:
    """CartPole-shaped actor-critic whose critic outputs `value` for every observation."""
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    torch.manual_seed(0)
    model = build_actor_critic(space, gym.spaces.Discrete(2), ModelConfig(encoder={"name": "mlp", "hidden_sizes": [8]}))
    torch.nn.init.zeros_(model.value_head.weight)
    torch.nn.init.constant_(model.value_head.bias, value)
    return A3CAgent(A3CConfig(gamma=GAMMA, **cfg), model)


def hand_rollout(valid: np.ndarray | None = None) -> Rollout:
    rng = np.random.default_rng(0)
    return Rollout(obs=rng.normal(size=(4, 2, 4)).astype(np.float32), raw_actions=np.array([[0, 1]] * 4),
                   rewards=REWARDS, terminations=TERMINATED, truncations=TRUNCATED,
                   valid=np.ones((4, 2), bool) if valid is None else valid,
                   final_index=np.array([[2, 1]]), final_obs=rng.normal(size=(1, 4)).astype(np.float32),
                   last_obs=rng.normal(size=(2, 4)).astype(np.float32), episode_returns=np.zeros(0),
                   episode_lengths=np.zeros(0, np.int64))


def test_value_targets_and_loss_by_hand():
    """With V = 2 everywhere: last and final values are 2, so the targets and losses are known."""
    agent = constant_critic_agent(2.0, vf_coef=0.5, ent_coef=0.1)
    rollout = hand_rollout()
    targets = agent.value_targets(rollout, np.full((4, 2), 2.0, np.float32))
    # env 0: 4+1=5, 3+2.5=5.5, 2+2.75=4.75, 1+2.375=3.375; env 1: 1+1=2, 1+1=2 (truncated, V=2), 1, 1.5
    expected = np.array([[3.375, 1.5], [4.75, 1.0], [5.5, 2.0], [5.0, 2.0]], dtype=np.float32)
    np.testing.assert_allclose(targets, expected)
    loss, stats = agent.loss(rollout)
    advantages = torch.as_tensor(expected - 2.0).flatten()
    dist = agent.model.policy(torch.as_tensor(rollout.obs).flatten(0, 1))
    log_probs = dist.log_prob(torch.as_tensor(rollout.raw_actions).flatten())
    policy_loss = -(log_probs * advantages).mean().item()
    value_loss = (advantages**2).mean().item()
    entropy = dist.entropy().mean().item()
    assert stats["policy_loss"] == pytest.approx(policy_loss, rel=1e-5)
    assert stats["value_loss"] == pytest.approx(value_loss, rel=1e-5)
    assert stats["entropy"] == pytest.approx(entropy, rel=1e-5)
    assert loss.item() == pytest.approx(policy_loss + 0.5 * value_loss - 0.1 * entropy, rel=1e-5)


def test_invalid_rows_do_not_count():
    """Auto-reset rows (valid False) are left out of every average."""
    agent = constant_critic_agent(2.0)
    valid = np.ones((4, 2), bool)
    valid[2, 1] = False
    _, stats = agent.loss(hand_rollout(valid))
    expected = np.array([[3.375, 1.5], [4.75, 1.0], [5.5, 2.0], [5.0, 2.0]], dtype=np.float32) - 2.0
    assert stats["value_loss"] == pytest.approx((expected[valid] ** 2).mean(), rel=1e-5)


def test_collector_keeps_final_observations_of_truncated_episodes():
    envs = make_vector_env(EnvConfig(id="rlp/CartPole-v1", num_envs=3, kwargs={"max_episode_steps": 3}))
    cfg = A3CConfig(n_steps=7)
    agent = A3CAgent(cfg, build_model(cfg, ModelConfig(), envs.single_observation_space, envs.single_action_space))
    collector = RolloutCollector(envs, cfg.n_steps, seed=1)
    rollout = collector.collect(agent)
    # Every env is truncated after 3 steps (CartPole does not fall that fast): at t = 2 and 5.
    assert not rollout.terminations.any()
    assert rollout.truncations[[2, 5]].all() and rollout.truncations.sum() == 6
    assert sorted(map(tuple, rollout.final_index)) == [(t, i) for t in (2, 5) for i in range(3)]
    for (t, i), final in zip(rollout.final_index, rollout.final_obs, strict=True):
        assert not np.array_equal(final, rollout.obs[t + 1, i])  # the next row is a new episode's first obs
        # One Euler step of CartPole from obs_t: x' = x + tau * x_dot, theta' = theta + tau * theta_dot.
        x, x_dot, theta, theta_dot = rollout.obs[t, i]
        np.testing.assert_allclose(final[[0, 2]], [x + 0.02 * x_dot, theta + 0.02 * theta_dot], rtol=1e-5, atol=1e-7)
    assert rollout.episode_lengths.tolist() == [3] * 6
    np.testing.assert_array_equal(rollout.last_obs, collector.stepper.obs)
    envs.close()


def test_gaussian_head_clips_or_squashes_into_bounds():
    space = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
    raw = torch.tensor([[-5.0, 0.5], [0.0, 3.0]])
    clip = GaussianHead(4, space, squash="clip")
    np.testing.assert_allclose(clip.env_actions(raw), [[-2.0, 0.5], [0.0, 1.0]])
    tanh = GaussianHead(4, space, squash="tanh")
    expected = [[-2 + (np.tanh(-5) + 1) * 2, (np.tanh(0.5) + 1) / 2], [0.0, (np.tanh(3) + 1) / 2]]
    np.testing.assert_allclose(tanh.env_actions(raw), expected, rtol=1e-6)


def test_gaussian_log_prob_is_the_diagonal_normal():
    space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    head = GaussianHead(3, space, log_std_init=np.log(0.5))
    features = torch.randn(5, 3)
    actions = torch.randn(5, 2)
    mean = head.mean(features)
    expected = (-0.5 * ((actions - mean) / 0.5) ** 2 - np.log(0.5) - 0.5 * np.log(2 * np.pi)).sum(-1)
    torch.testing.assert_close(head(features).log_prob(actions), expected)
    assert head.greedy(features).shape == (5, 2)


def test_categorical_greedy_action_respects_the_space_start():
    model = build_actor_critic(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(4, start=-1), ModelConfig())
    actions = model.env_actions(model.greedy(torch.zeros(2, 3)))
    assert set(actions.tolist()) <= {-1, 0, 1, 2}


def test_state_dict_round_trip_restores_the_action_stream():
    """A resumed agent samples the actions the saved one would have sampled next (NumPy actor's own RNG)."""
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    cfg = A3CConfig()
    saved = A3CAgent(cfg, build_model(cfg, ModelConfig(), space, gym.spaces.Discrete(3)))
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    saved.sample(obs)
    state = saved.state_dict()
    expected = saved.sample(obs)[1]
    resumed = A3CAgent(cfg, build_model(cfg, ModelConfig(), space, gym.spaces.Discrete(3)))
    resumed.load_state_dict(state)
    np.testing.assert_array_equal(resumed.sample(obs)[1], expected)
