"""Gymnasium's own env checker passes on every toy-text Numba env (single-env API, spaces, seeding)."""

from __future__ import annotations

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform.envs.toy_text import TOY_TEXT

TOY_TEXT_IDS = [factory().name for factory, _ in TOY_TEXT]


def test_every_reference_toy_text_id_is_registered():
    assert {"FrozenLake-v1", "FrozenLake8x8-v1", "Taxi-v4", "CliffWalking-v1"} <= set(TOY_TEXT_IDS)
    assert all(f"rlp/{env_id}" in gym.registry for env_id in TOY_TEXT_IDS)


@pytest.mark.parametrize("env_id", TOY_TEXT_IDS)
def test_check_env_passes(env_id):
    check_env(gym.make(f"rlp/{env_id}").unwrapped)


@pytest.mark.parametrize("env_id, kwargs", [("FrozenLake-v1", {"desc": ["SFH", "FFG"], "is_slippery": False}),
                                            ("Taxi-v4", {"is_rainy": True, "fickle_passenger": True})])
def test_check_env_passes_with_kwargs(env_id, kwargs):
    check_env(gym.make(f"rlp/{env_id}", **kwargs).unwrapped)
