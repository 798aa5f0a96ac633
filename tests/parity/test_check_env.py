"""Gymnasium's own env checker passes on every rlp/ classic-control env.

The only warnings allowed are those the Gymnasium reference env itself raises under the same checker
(CartPole's infinite observation bounds, Pendulum's non-normalized [-2, 2] action space): our spaces
equal the reference's exactly, warts included.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform.envs.single import NumbaEnv

CLASSIC_IDS = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"]


def checker_warnings(env: gym.Env, **kwargs) -> set[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, **kwargs)
    return {str(warning.message) for warning in caught}


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_check_env_passes(env_id: str):
    env = gym.make(f"rlp/{env_id}").unwrapped
    assert isinstance(env, NumbaEnv)
    ours = checker_warnings(env)
    # the reference's render check needs pygame, which is not a dependency: skip it there only
    reference = checker_warnings(gym.make(env_id).unwrapped, skip_render_check=True)
    assert ours <= reference, f"warnings the reference does not raise: {ours - reference}"
