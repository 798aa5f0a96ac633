"""rlp/CartPoleFixed-v0 (seals' FixedHorizonCartPole) and rlp/PendulumFixed-v0: never terminate, fixed horizons."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control import CartPoleEnv
from gymnasium.utils.env_checker import check_env
from gymnasium.wrappers import TimeLimit

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)

F32_MAX = np.finfo(np.float32).max


class SealsFixedHorizonCartPole(CartPoleEnv):
    """The reference: Gymnasium's CartPole-v1 changed as seals 0.2.1 changes it (`FixedHorizonCartPole`)."""

    def __init__(self) -> None:
        super().__init__()
        high = np.array([F32_MAX, F32_MAX, np.pi, F32_MAX], dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)

    def step(self, action):
        with warnings.catch_warnings():  # CartPoleEnv warns about stepping on after a termination
            warnings.filterwarnings("ignore", ".*You are calling.*")
            super().step(action)
        x, theta = self.state[0], self.state[2]
        theta = (theta + np.pi) % (2 * np.pi) - np.pi
        self.state[2] = theta
        state_ok = abs(x) < self.x_threshold and abs(theta) < self.theta_threshold_radians
        return np.array(self.state, dtype=np.float32), 1.0 if state_ok else 0.0, False, False, {}


def test_both_envs_pass_gymnasiums_env_checker():
    for env_id in ("rlp/CartPoleFixed-v0", "rlp/PendulumFixed-v0"):
        check_env(gym.make(env_id).unwrapped)


def test_spaces_and_time_limits():
    cartpole = gym.make("rlp/CartPoleFixed-v0")
    reference = SealsFixedHorizonCartPole()
    assert cartpole.observation_space == reference.observation_space
    np.testing.assert_array_equal(cartpole.observation_space.high, [F32_MAX, F32_MAX, np.float32(np.pi), F32_MAX])
    assert cartpole.action_space == gym.spaces.Discrete(2)
    assert cartpole.spec.max_episode_steps == 500
    pendulum, original = gym.make("rlp/PendulumFixed-v0"), gym.make("Pendulum-v1")
    assert pendulum.observation_space == original.observation_space
    assert pendulum.action_space == original.action_space
    assert pendulum.spec.max_episode_steps == 200
    assert gym.make_vec("rlp/PendulumFixed-v0", num_envs=2).unwrapped.max_episode_steps == 200


def test_cartpole_fixed_steps_as_seals_through_a_whole_episode_past_the_fall():
    ours = gym.make("rlp/CartPoleFixed-v0")
    reference = TimeLimit(SealsFixedHorizonCartPole(), max_episode_steps=500)
    obs, _ = ours.reset(seed=3)
    reference.reset(seed=0)
    reference.unwrapped.state = ours.unwrapped.get_state()["states"].copy()
    np.testing.assert_array_equal(obs, np.array(reference.unwrapped.state, dtype=np.float32))
    actions = np.random.default_rng(1).integers(0, 2, size=500)
    rewards = []
    for t, action in enumerate(actions):
        obs, reward, terminated, truncated, _ = ours.step(int(action))
        ref_obs, ref_reward, ref_terminated, ref_truncated, _ = reference.step(int(action))
        np.testing.assert_allclose(obs, ref_obs, rtol=1e-6, atol=1e-6, err_msg=f"step {t}")
        assert reward == ref_reward, t
        assert not terminated and not ref_terminated
        assert truncated == ref_truncated == (t == 499), t
        rewards.append(reward)
    rewards = np.array(rewards)
    first_fall = int(np.argmin(rewards))
    assert 10 < first_fall < 100 and rewards[:first_fall].all()  # upright at first, as CartPole-v1
    assert 0 < rewards[first_fall:].sum() < 100  # down, then swinging through upright now and then


def test_vector_env_never_terminates_and_every_episode_lasts_500_steps():
    envs = gym.make_vec("rlp/CartPoleFixed-v0", num_envs=4)
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    lengths, elapsed = [], np.zeros(4, dtype=int)
    for _ in range(1200):
        _, _, terminations, truncations, info = envs.step(rng.integers(0, 2, size=4))
        assert not terminations.any()
        elapsed += 1
        if truncations.any():
            assert truncations.all() and info["_final_obs"].all()
            lengths.extend(elapsed.tolist())
            elapsed[:] = 0
    assert lengths == [500] * 8 and (elapsed == 200).all()


def _returns(actions_of, num_envs: int = 100) -> np.ndarray:
    envs = gym.make_vec("rlp/CartPoleFixed-v0", num_envs=num_envs)
    obs, _ = envs.reset(seed=0)
    returns = np.zeros(num_envs)
    for _ in range(500):
        obs, rewards, _, _, _ = envs.step(actions_of(obs))
        returns += rewards
    return returns


def test_always_action_0_scores_the_steps_before_cartpole_v1_would_end():
    returns = _returns(lambda obs: np.zeros(len(obs), dtype=np.int64))
    assert (returns == np.round(returns)).all() and returns.mean() < 15 and returns.max() < 30
    # Same seed, same reset stream: CartPole-v1's episodes last one step more (its terminating step pays 1).
    cartpole = gym.make_vec("rlp/CartPole-v1", num_envs=100)
    cartpole.reset(seed=0)
    lengths, running = np.zeros(100), np.ones(100, dtype=bool)
    while running.any():
        _, _, terminations, _, _ = cartpole.step(np.zeros(100, dtype=np.int64))
        lengths += running
        running &= ~terminations
    np.testing.assert_array_equal(returns, lengths - 1)


def test_returns_are_whole_numbers_of_upright_steps():
    rng = np.random.default_rng(0)
    returns = _returns(lambda obs: rng.integers(0, 2, size=len(obs)))
    assert (returns == np.round(returns)).all() and (returns >= 0).all() and (returns <= 500).all()
    # A linear state-feedback controller keeps the pole up and the cart on the track for the whole episode.
    balanced = _returns(lambda obs: (obs @ np.array([0.01, 0.1, 1.0, 0.5]) > 0).astype(np.int64))
    assert (balanced == 500).all()


def test_pendulum_fixed_transitions_equal_pendulum_v1():
    fixed = gym.make_vec("rlp/PendulumFixed-v0", num_envs=8)
    original = gym.make_vec("rlp/Pendulum-v1", num_envs=8)
    obs, _ = fixed.reset(seed=5)
    np.testing.assert_array_equal(obs, original.reset(seed=5)[0])
    rng = np.random.default_rng(0)
    truncated_steps = []
    for t in range(450):  # two truncations and the start of a third episode
        actions = rng.uniform(-2.0, 2.0, size=(8, 1))
        fixed_step, original_step = fixed.step(actions), original.step(actions)
        for fixed_out, original_out in zip(fixed_step[:4], original_step[:4], strict=True):
            np.testing.assert_array_equal(fixed_out, original_out)
        assert not fixed_step[2].any()
        if fixed_step[3].all():
            truncated_steps.append(t + 1)
    assert truncated_steps == [200, 400]
    earth_gravity = gym.make("rlp/PendulumFixed-v0", g=9.81).unwrapped.env_def
    assert earth_gravity.name == "PendulumFixed-v0" and earth_gravity.params[0] == 9.81
