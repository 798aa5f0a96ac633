"""`register_numba_env`: the same entry again is a no-op, another entry under a taken id raises."""

from __future__ import annotations

from collections.abc import Iterator

import gymnasium as gym
import pytest

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform.envs import registration
from rl_platform.envs.classic_control.cartpole import CARTPOLE
from rl_platform.envs.registration import ENV_FACTORIES, register_numba_env

NAME = "RegistrationTest-v0"


def factory():
    return CARTPOLE


def other_factory():
    return CARTPOLE


@pytest.fixture
def clean_id() -> Iterator[str]:
    """`rlp/<NAME>`, removed from every registry afterwards."""
    yield NAME
    gym.registry.pop(f"rlp/{NAME}", None)
    ENV_FACTORIES.pop(NAME, None)
    registration._REGISTERED.pop(NAME, None)


def test_registering_the_same_entry_again_is_a_no_op(clean_id: str):
    register_numba_env(clean_id, factory, 50)
    spec = gym.spec(f"rlp/{clean_id}")
    register_numba_env(clean_id, factory, 50)
    assert gym.spec(f"rlp/{clean_id}") is spec
    assert ENV_FACTORIES[clean_id] is factory
    assert gym.make(f"rlp/{clean_id}").spec.max_episode_steps == 50


def test_built_in_envs_can_be_registered_again():
    factories = dict(ENV_FACTORIES)
    registration.register_builtin_envs()
    assert dict(ENV_FACTORIES) == factories


@pytest.mark.parametrize(("other", "limit"), [(other_factory, 50), (factory, 60)])
def test_another_entry_under_the_same_id_raises(clean_id: str, other, limit: int):
    register_numba_env(clean_id, factory, 50)
    with pytest.raises(ValueError, match=f"'rlp/{clean_id}' is already registered"):
        register_numba_env(clean_id, other, limit)
    assert ENV_FACTORIES[clean_id] is factory  # the first registration stands
    assert gym.spec(f"rlp/{clean_id}").max_episode_steps == 50


def test_an_id_taken_by_another_gymnasium_registration_raises(clean_id: str):
    gym.register(id=f"rlp/{clean_id}", entry_point="gymnasium.envs.classic_control:CartPoleEnv")
    with pytest.raises(ValueError, match="already registered with Gymnasium"):
        register_numba_env(clean_id, factory, 50)
    assert clean_id not in ENV_FACTORIES
