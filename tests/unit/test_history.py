"""`env.history`: the observation-history wrapper against hand-computed stacks, in every autoreset mode.

A counting env makes the arrays easy to write down: its observation is `10 * episode + t` (episode
1, 2, ... of that env, t steps into it), and env 0 is truncated after 2 steps, env 1 after 3.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from rl_platform.config import EnvConfig
from rl_platform.env_factory import make_vector_env
from rl_platform.errors import ConfigError
from rl_platform.history import ObservationHistory
from rl_platform.rollout import VectorStepper


class CountingEnv(gym.Env):
    observation_space = gym.spaces.Box(0.0, 1000.0, shape=(1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, episode_length: int) -> None:
        self.episode_length = episode_length
        self.episode = 0
        self.t = 0

    def _obs(self) -> np.ndarray:
        return np.array([10 * self.episode + self.t], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        self.episode += 1
        self.t = 0
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return self._obs(), 1.0, False, self.t >= self.episode_length, {}


def counting_envs(mode: AutoresetMode, history: int = 3) -> ObservationHistory:
    envs = gym.vector.SyncVectorEnv([lambda: CountingEnv(2), lambda: CountingEnv(3)], autoreset_mode=mode)
    return ObservationHistory(envs, history)


def stack(*rows: list[float]) -> np.ndarray:
    """(num_envs, K, 1) from one list of K values per env."""
    return np.array(rows, dtype=np.float32)[..., None]


NO_OP = np.zeros(2, dtype=np.int64)


def test_space_is_k_stacked_copies_of_the_env_space():
    envs = counting_envs(AutoresetMode.SAME_STEP, history=4)
    assert envs.single_observation_space == gym.spaces.Box(0.0, 1000.0, shape=(4, 1), dtype=np.float32)
    assert envs.observation_space.shape == (2, 4, 1)


def test_same_step_autoreset_restarts_the_history_and_stacks_the_final_obs_with_its_episode():
    envs = counting_envs(AutoresetMode.SAME_STEP)
    obs, _ = envs.reset(seed=0)
    np.testing.assert_array_equal(obs, stack([10, 10, 10], [10, 10, 10]))
    obs, *_ = envs.step(NO_OP)
    np.testing.assert_array_equal(obs, stack([10, 10, 11], [10, 10, 11]))
    obs, _, _, truncations, info = envs.step(NO_OP)  # env 0 truncated at t=2; obs shows its episode 2
    np.testing.assert_array_equal(truncations, [True, False])
    np.testing.assert_array_equal(obs, stack([20, 20, 20], [10, 11, 12]))
    np.testing.assert_array_equal(info["_final_obs"], [True, False])
    np.testing.assert_array_equal(info["final_obs"][0], stack([10, 11, 12])[0])
    obs, _, _, truncations, info = envs.step(NO_OP)  # env 1 truncated at t=3
    np.testing.assert_array_equal(truncations, [False, True])
    np.testing.assert_array_equal(obs, stack([20, 20, 21], [20, 20, 20]))
    np.testing.assert_array_equal(info["final_obs"][1], stack([11, 12, 13])[0])
    obs, _, _, truncations, info = envs.step(NO_OP)
    np.testing.assert_array_equal(obs, stack([30, 30, 30], [20, 20, 21]))
    np.testing.assert_array_equal(info["final_obs"][0], stack([20, 21, 22])[0])


def test_next_step_autoreset_restarts_the_history_on_the_reset_step():
    envs = counting_envs(AutoresetMode.NEXT_STEP)
    envs.reset(seed=0)
    envs.step(NO_OP)
    obs, _, _, truncations, _ = envs.step(NO_OP)  # env 0's final observation is `obs` itself
    np.testing.assert_array_equal(truncations, [True, False])
    np.testing.assert_array_equal(obs, stack([10, 11, 12], [10, 11, 12]))
    obs, *_ = envs.step(NO_OP)  # env 0 resets (its episode 2 starts), env 1 is truncated
    np.testing.assert_array_equal(obs, stack([20, 20, 20], [11, 12, 13]))
    obs, *_ = envs.step(NO_OP)
    np.testing.assert_array_equal(obs, stack([20, 20, 21], [20, 20, 20]))


def test_disabled_autoreset_restarts_only_the_masked_envs():
    envs = counting_envs(AutoresetMode.DISABLED)
    envs.reset(seed=0)
    envs.step(NO_OP)
    obs, *_ = envs.step(NO_OP)
    np.testing.assert_array_equal(obs, stack([10, 11, 12], [10, 11, 12]))
    obs, _ = envs.reset(options={"reset_mask": np.array([True, False])})
    np.testing.assert_array_equal(obs, stack([20, 20, 20], [10, 11, 12]))
    obs, *_ = envs.step(NO_OP)
    np.testing.assert_array_equal(obs, stack([20, 20, 21], [11, 12, 13]))


@pytest.mark.parametrize("mode", list(AutoresetMode))
def test_truncated_episode_bootstraps_from_its_own_final_history(mode):
    """What DQN and A3C store as `next_obs` of a truncated step, through the shared VectorStepper."""
    stepper = VectorStepper(counting_envs(mode), seed=0)
    stepper.step(NO_OP)
    step = stepper.step(NO_OP)
    np.testing.assert_array_equal(step.truncations & step.valid, [True, False])
    np.testing.assert_array_equal(step.obs[0], stack([10, 10, 11])[0])
    np.testing.assert_array_equal(step.next_obs[0], stack([10, 11, 12])[0])
    if mode == AutoresetMode.NEXT_STEP:
        stepper.step(NO_OP)  # env 0's reset step
    np.testing.assert_array_equal(stepper.obs[0], stack([20, 20, 20])[0])


def test_returned_observations_are_not_overwritten_by_later_steps():
    envs = counting_envs(AutoresetMode.SAME_STEP)
    first, _ = envs.reset(seed=0)
    second, *_ = envs.step(NO_OP)
    envs.step(NO_OP)
    np.testing.assert_array_equal(first, stack([10, 10, 10], [10, 10, 10]))
    np.testing.assert_array_equal(second, stack([10, 10, 11], [10, 10, 11]))


def test_env_factory_stacks_the_numba_env_frame_for_frame():
    """rlp/ envs autoreset on the same step: the stacked env's newest frame and final observation are the
    plain env's, and the frames before it are the previous stack shifted by one."""
    cfg = EnvConfig(id="rlp/CartPoleNoVel-v1", num_envs=3, kwargs={"max_episode_steps": 4})
    plain = make_vector_env(cfg)
    stacked = make_vector_env(EnvConfig(**{**cfg.__dict__, "history": 3}))
    assert stacked.single_observation_space.shape == (3, 2)
    obs, _ = plain.reset(seed=1)
    history, _ = stacked.reset(seed=1)
    np.testing.assert_array_equal(history, np.repeat(obs[:, None], 3, axis=1))
    actions = np.random.default_rng(0).integers(0, 2, size=(12, 3))
    for step_actions in actions:
        previous = history
        obs, _, terminations, truncations, info = plain.step(step_actions)
        history, _, stacked_terminations, stacked_truncations, stacked_info = stacked.step(step_actions)
        np.testing.assert_array_equal(stacked_terminations, terminations)
        np.testing.assert_array_equal(stacked_truncations, truncations)
        np.testing.assert_array_equal(history[:, -1], obs)
        ended = terminations | truncations
        np.testing.assert_array_equal(history[~ended, :-1], previous[~ended, 1:])
        np.testing.assert_array_equal(history[ended], np.repeat(obs[ended, None], 3, axis=1))
        for i in np.flatnonzero(ended):
            np.testing.assert_array_equal(stacked_info["final_obs"][i, :-1], previous[i, 1:])
            np.testing.assert_array_equal(stacked_info["final_obs"][i, -1], info["final_obs"][i])
    assert truncations.any() or terminations.any()


def test_history_of_a_discrete_observation_space_is_a_config_error():
    with pytest.raises(ConfigError, match="env.history"):
        make_vector_env(EnvConfig(id="rlp/FrozenLake-v1", num_envs=2, history=2))
