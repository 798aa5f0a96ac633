"""rlp/CartPoleNoVel-v1 is rlp/CartPole-v1 observed without the velocities: same transitions, rewards and ends."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform.envs.single import NumbaEnv

POSITIONS = [0, 2]  # cart position and pole angle in CartPole's (x, x_dot, theta, theta_dot)


def test_transitions_equal_cartpole_with_the_velocities_dropped():
    full = gym.make_vec("rlp/CartPole-v1", num_envs=16)
    hidden = gym.make_vec("rlp/CartPoleNoVel-v1", num_envs=16)
    obs, _ = full.reset(seed=7)
    positions, _ = hidden.reset(seed=7)
    np.testing.assert_array_equal(positions, obs[:, POSITIONS])
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(300):  # random actions: episodes of ~20 steps, so terminations and resets happen often
        actions = rng.integers(0, 2, size=16)
        obs, rewards, terminations, truncations, info = full.step(actions)
        positions, hidden_rewards, hidden_terminations, hidden_truncations, hidden_info = hidden.step(actions)
        np.testing.assert_array_equal(positions, obs[:, POSITIONS])
        np.testing.assert_array_equal(hidden_rewards, rewards)
        np.testing.assert_array_equal(hidden_terminations, terminations)
        np.testing.assert_array_equal(hidden_truncations, truncations)
        done = terminations | truncations
        if done.any():
            np.testing.assert_array_equal(hidden_info["final_obs"][done], info["final_obs"][done][:, POSITIONS])
            ended += int(done.sum())
    assert ended > 100


def test_spaces_and_limits():
    env = gym.make("rlp/CartPoleNoVel-v1")
    reference = gym.make("rlp/CartPole-v1")
    np.testing.assert_array_equal(env.observation_space.high, reference.observation_space.high[POSITIONS])
    np.testing.assert_array_equal(env.observation_space.low, reference.observation_space.low[POSITIONS])
    assert env.action_space == reference.action_space
    assert env.spec.max_episode_steps == 500
    check_env(env.unwrapped)
    assert isinstance(env.unwrapped, NumbaEnv)
