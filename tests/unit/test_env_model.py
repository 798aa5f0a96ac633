"""`vector_env_model`: the exact model and time limit of a vector env's envs, Numba or Gymnasium."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform.envs.model import vector_env_model
from rl_platform.envs.toy_text import transition_model


def test_numba_toy_text_env_gives_its_model_and_limit():
    model, limit = vector_env_model(gym.make_vec("rlp/FrozenLake-v1", num_envs=2))
    np.testing.assert_array_equal(model.probs, transition_model("FrozenLake-v1").probs)
    assert limit == 100
    assert vector_env_model(gym.make_vec("rlp/FrozenLake-v1", num_envs=2, max_episode_steps=7))[1] == 7


def test_numba_env_without_time_limit_or_model():
    assert vector_env_model(gym.make_vec("rlp/CliffWalking-v1", num_envs=1))[1] is None
    assert vector_env_model(gym.make_vec("rlp/CartPole-v1", num_envs=1)) == (None, 500)


def test_gymnasium_sync_vector_env_gives_its_first_envs_model():
    envs = gym.make_vec("FrozenLake-v1", num_envs=2, vectorization_mode="sync", is_slippery=False)
    model, limit = vector_env_model(envs)
    reference = transition_model("FrozenLake-v1", is_slippery=False)
    np.testing.assert_array_equal(model.next_state, reference.next_state)
    assert limit == 100
    assert vector_env_model(gym.make_vec("CartPole-v1", num_envs=1, vectorization_mode="sync")) == (None, 500)
