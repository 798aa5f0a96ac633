"""Parity of the rlp/ classic-control envs with Gymnasium's reference implementations.

Our envs and the references are stepped in lockstep from the same states with random actions; after
every step our state is re-synced to the reference's (RNGs differ, so resets cannot match), which
makes every comparison a one-step check of the transition, reward, termination and truncation.
Episodes start half the time from a wide random state (to reach terminations, walls, velocity
clipping and angle wrapping), and most of the time at most 100 steps before the time limit (to reach
truncation often and keep episodes short, so that each run ends many of them). Whole episodes are
also compared without re-syncing, and the spaces, time limits and reset distributions.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform.envs.classic_control import CLASSIC_CONTROL
from rl_platform.envs.registration import ENV_FACTORIES
from rl_platform.envs.vector import NumbaVectorEnv

CLASSIC_IDS = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"]
CASES = [(env_id, {}) for env_id in CLASSIC_IDS] + [
    ("MountainCar-v0", {"goal_velocity": 0.01}),
    ("MountainCarContinuous-v0", {"goal_velocity": 0.01}),
    ("Pendulum-v1", {"g": 9.81}),
]
CASE_IDS = [env_id + "".join(f"-{k}={v}" for k, v in kwargs.items()) for env_id, kwargs in CASES]

# Wide start states, uniform in one of the boxes [low, high]: beyond the reset ranges, to reach every branch.
_CAR = [([-1.2, -0.07], [0.6, 0.07]), ([-1.2, -0.07], [-1.0, 0.0]), ([0.4, -0.02], [0.6, 0.07]),  # anywhere, wall, goal
        ([-0.6, 0.065], [-0.4, 0.07]), ([-0.6, -0.07], [-0.4, -0.065])]  # at the speed limit
WIDE_STATES = {
    "CartPole-v1": [([-2.4, -2.0, -0.2, -2.0], [2.4, 2.0, 0.2, 2.0])],
    "Acrobot-v1": [([-math.pi, -math.pi, -4 * math.pi, -9 * math.pi], [math.pi, math.pi, 4 * math.pi, 9 * math.pi])],
    "MountainCar-v0": _CAR,
    "MountainCarContinuous-v0": _CAR,
    "Pendulum-v1": [([-3 * math.pi, -8.0], [3 * math.pi, 8.0])],
}
# The reference's reset ranges (from its source), per state variable.
RESET_BOUNDS = {
    "CartPole-v1": ([-0.05] * 4, [0.05] * 4),
    "Acrobot-v1": ([-0.1] * 4, [0.1] * 4),
    "MountainCar-v0": ([-0.6, 0.0], [-0.4, 0.0]),
    "MountainCarContinuous-v0": ([-0.6, 0.0], [-0.4, 0.0]),
    "Pendulum-v1": ([-math.pi, -1.0], [math.pi, 1.0]),
}
# The reference stores this env's state as float32: set it that way.
FLOAT32_STATE = {"MountainCarContinuous-v0"}
# Given float32 actions, these references compute a few terms in float32 (NumPy 2 promotion rules), so
# their states differ from ours by float32 rounding: a few float32 ulps for MountainCarContinuous (a float32
# state), ~1e-8 for Pendulum (a float64 state), at or below the resolution of the float32 observations.
STATE_ATOL = {"MountainCarContinuous-v0": 1e-6, "Pendulum-v1": 1e-7}


def ref_state(ref: gym.Env) -> np.ndarray:
    return np.asarray(ref.unwrapped.state, dtype=np.float64)


def set_ref_state(ref: gym.Env, env_id: str, state: np.ndarray) -> None:
    ref.unwrapped.state = np.array(state, dtype=np.float32 if env_id in FLOAT32_STATE else np.float64)


def sample_actions(space: gym.Space, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.start, space.start + space.n, size=n)
    actions = rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(space.dtype)
    edges = rng.random(n) < 0.1  # sometimes exactly at the bounds
    actions[edges] = np.where(rng.random((int(edges.sum()), *space.shape)) < 0.5, space.low, space.high)
    return actions


def start_episode(ref: gym.Env, env_id: str, rng: np.random.Generator) -> None:
    """Reset the reference; maybe move it to a wide state and/or close to its time limit."""
    ref.reset(seed=int(rng.integers(2**31)))
    if rng.random() < 0.5:
        boxes = WIDE_STATES[env_id]
        low, high = boxes[rng.integers(len(boxes))]
        set_ref_state(ref, env_id, rng.uniform(low, high))
    if rng.random() < 0.8:
        ref._elapsed_steps = ref.spec.max_episode_steps - int(rng.integers(1, 100))


def assert_lockstep(envs: gym.vector.VectorEnv, env_id: str, kwargs: dict, steps: int, seed: int = 0
                    ) -> dict[str, int]:
    """Step `envs` (a NumbaVectorEnv) and one reference per env in lockstep; returns the episodes ended."""
    numba_env = envs.unwrapped
    n = envs.num_envs
    rng = np.random.default_rng(seed)
    refs = [gym.make(env_id, **kwargs) for _ in range(n)]
    assert all(isinstance(ref, gym.wrappers.TimeLimit) for ref in refs)
    for ref in refs:
        start_episode(ref, env_id, rng)
    envs.reset(seed=seed)
    state_tol = {"rtol": 1e-9, "atol": STATE_ATOL.get(env_id, 1e-9)}
    ended = {"terminated": 0, "truncated": 0}
    for _ in range(steps):
        numba_env.set_state({"states": np.stack([ref_state(ref) for ref in refs]),
                             "elapsed": np.array([ref._elapsed_steps for ref in refs])})
        actions = sample_actions(envs.single_action_space, n, rng)
        obs, rewards, terminations, truncations, info = envs.step(actions)
        states = numba_env.get_state()["states"]
        ref_out = [ref.step(action) for ref, action in zip(refs, actions, strict=True)]
        ref_obs = np.stack([out[0] for out in ref_out])
        done = np.array([out[2] or out[3] for out in ref_out])
        np.testing.assert_array_equal(terminations, [out[2] for out in ref_out])
        np.testing.assert_array_equal(truncations, [out[3] for out in ref_out])
        np.testing.assert_allclose(rewards, [out[1] for out in ref_out], rtol=1e-6, atol=1e-7)
        assert obs.dtype == ref_obs.dtype
        np.testing.assert_allclose(obs[~done], ref_obs[~done], rtol=1e-6, atol=1e-6)
        ref_states = np.stack([ref_state(ref) for ref in refs])
        np.testing.assert_allclose(states[~done], ref_states[~done], **state_tol)
        if done.any():
            np.testing.assert_array_equal(info["_final_obs"], done)
            np.testing.assert_allclose(info["final_obs"][done], ref_obs[done], rtol=1e-6, atol=1e-6)
            assert numba_env.elapsed[done].tolist() == [0] * int(done.sum())
        else:
            assert "_final_obs" not in info
        for i in np.flatnonzero(done):
            ended["terminated" if ref_out[i][2] else "truncated"] += 1
            start_episode(refs[i], env_id, rng)
    return ended


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=CASE_IDS)
def test_lockstep_numba_vector_env(env_id: str, kwargs: dict):
    env_def = ENV_FACTORIES[env_id](**kwargs)
    ended = assert_lockstep(NumbaVectorEnv(env_def, 8), env_id, kwargs, steps=500)
    # both ways an episode ends, many times (Pendulum never terminates)
    assert ended["truncated"] >= 10 and (ended["terminated"] >= 10) == (env_id != "Pendulum-v1"), ended


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=CASE_IDS)
def test_lockstep_make_vec(env_id: str, kwargs: dict):
    envs = gym.make_vec(f"rlp/{env_id}", num_envs=5, **kwargs)
    assert isinstance(envs.unwrapped, NumbaVectorEnv)
    assert envs.unwrapped.max_episode_steps == gym.spec(env_id).max_episode_steps
    ended = assert_lockstep(envs, env_id, kwargs, steps=300, seed=1)
    assert ended["truncated"] >= 1 and (ended["terminated"] >= 1) == (env_id != "Pendulum-v1"), ended


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_whole_episodes_match_without_resync(env_id: str):
    """From the reference's own reset states, whole episodes (to termination or the time limit) match
    without re-syncing: no drift builds up (CartPole, Acrobot, MountainCar match bit for bit here)."""
    n = 8
    rng = np.random.default_rng(3)
    refs = [gym.make(env_id) for _ in range(n)]
    for ref in refs:
        ref.reset(seed=int(rng.integers(2**31)))
    envs = gym.make_vec(f"rlp/{env_id}", num_envs=n)
    envs.reset(seed=0)
    envs.unwrapped.set_state({"states": np.stack([ref_state(ref) for ref in refs]), "elapsed": np.zeros(n)})
    running = np.ones(n, dtype=bool)
    while running.any():
        actions = sample_actions(envs.single_action_space, n, rng)
        obs, rewards, terminations, truncations, info = envs.step(actions)
        for i in np.flatnonzero(running):
            ref_obs, ref_reward, ref_terminated, ref_truncated, _ = refs[i].step(actions[i])
            assert (terminations[i], truncations[i]) == (ref_terminated, ref_truncated)
            assert rewards[i] == pytest.approx(ref_reward, rel=1e-5, abs=1e-6)
            ours = info["final_obs"][i] if ref_terminated or ref_truncated else obs[i]
            np.testing.assert_allclose(ours, ref_obs, rtol=1e-5, atol=1e-5)
            running[i] = not (ref_terminated or ref_truncated)


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=CASE_IDS)
def test_lockstep_single_env_through_make(env_id: str, kwargs: dict):
    """`gymnasium.make("rlp/<id>", **kwargs)`: the single env and its TimeLimit, without auto-reset."""
    rng = np.random.default_rng(2)
    ours, ref = gym.make(f"rlp/{env_id}", **kwargs), gym.make(env_id, **kwargs)
    ours.reset(seed=0)
    start_episode(ref, env_id, rng)
    for _ in range(300):
        ours.unwrapped.set_state({"states": ref_state(ref)})
        ours._elapsed_steps = ref._elapsed_steps
        action = sample_actions(ours.action_space, 1, rng)[0]
        obs, reward, terminated, truncated, _ = ours.step(action)
        ref_obs, ref_reward, ref_terminated, ref_truncated, _ = ref.step(action)
        assert (terminated, truncated) == (ref_terminated, ref_truncated)
        assert reward == pytest.approx(ref_reward, rel=1e-6, abs=1e-7)
        assert obs.dtype == ref_obs.dtype
        np.testing.assert_allclose(obs, ref_obs, rtol=1e-6, atol=1e-6)
        if terminated or truncated:
            start_episode(ref, env_id, rng)


def assert_same_space(ours: gym.Space, ref: gym.Space) -> None:
    assert type(ours) is type(ref)
    if isinstance(ref, gym.spaces.Discrete):
        assert (ours.n, ours.start) == (ref.n, ref.start)
        return
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    np.testing.assert_array_equal(ours.low, ref.low)
    np.testing.assert_array_equal(ours.high, ref.high)


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_spaces_and_time_limits_equal_the_reference(env_id: str):
    ref = gym.make(env_id)
    single = gym.make(f"rlp/{env_id}")
    envs = gym.make_vec(f"rlp/{env_id}", num_envs=3)
    for ours in (single, envs.unwrapped.env_def):
        assert_same_space(ours.observation_space, ref.observation_space)
        assert_same_space(ours.action_space, ref.action_space)
    assert_same_space(envs.single_observation_space, ref.observation_space)
    assert_same_space(envs.single_action_space, ref.action_space)
    limit = ref.spec.max_episode_steps
    assert single.spec.max_episode_steps == limit and single._max_episode_steps == limit
    assert envs.unwrapped.max_episode_steps == limit == envs.unwrapped.env_def.max_episode_steps
    assert dict((factory().name, steps) for factory, steps in CLASSIC_CONTROL)[env_id] == limit


def test_classic_control_list_starts_with_cartpole_and_has_every_env():
    assert [factory().name for factory, _ in CLASSIC_CONTROL] == CLASSIC_IDS


@pytest.mark.parametrize("env_id", CLASSIC_IDS)
def test_reset_distribution_matches_the_reference(env_id: str):
    low, high = (np.array(bound) for bound in RESET_BOUNDS[env_id])
    envs = NumbaVectorEnv(ENV_FACTORIES[env_id](), 20_000)
    obs, _ = envs.reset(seed=0)
    ours = envs.get_state()["states"]
    ref = gym.make(env_id).unwrapped
    ref.reset(seed=0)
    theirs = []
    for _ in range(2_000):
        ref.reset()
        theirs.append(ref_state(ref))
    theirs = np.stack(theirs)
    slack = 1e-7 if env_id == "Acrobot-v1" else 0.0  # Acrobot rounds its reset state to float32
    for states in (ours, theirs):
        assert np.all(states >= low - slack) and np.all(states <= high + slack)
    if env_id == "Acrobot-v1":
        for states in (ours, theirs):
            np.testing.assert_array_equal(states, states.astype(np.float32))
    width = high - low
    uniform_std = width / math.sqrt(12)
    spread = width > 0
    np.testing.assert_allclose(ours.std(axis=0), uniform_std, rtol=0.03)
    np.testing.assert_allclose(theirs.std(axis=0), uniform_std, rtol=0.1)
    standard_error = uniform_std * math.sqrt(1 / len(ours) + 1 / len(theirs))
    assert np.all(np.abs(ours.mean(axis=0) - theirs.mean(axis=0)) <= 5 * standard_error)
    assert np.all(np.abs(ours.mean(axis=0) - (low + high) / 2) <= 5 * uniform_std / math.sqrt(len(ours)))
    # uniform over the whole range: the extremes come close to both bounds
    assert np.all(ours.min(axis=0)[spread] - low[spread] < 1e-3 * width[spread])
    assert np.all(high[spread] - ours.max(axis=0)[spread] < 1e-3 * width[spread])
    # the reset observation is the observation of the reset state
    single = gym.make(f"rlp/{env_id}").unwrapped
    single.set_state({"states": ours[0]})
    np.testing.assert_array_equal(single._observation(), obs[0])


def test_pendulum_gravity_kwarg_changes_the_dynamics():
    state = {"states": np.array([[1.0, 0.0]])}
    next_obs = []
    for g in (10.0, 9.81):
        envs = gym.make_vec("rlp/Pendulum-v1", num_envs=1, g=g)
        envs.reset(seed=0)
        envs.unwrapped.set_state(state)
        next_obs.append(envs.step(np.zeros((1, 1), dtype=np.float32))[0][0, 2])
    assert next_obs[0] == pytest.approx(1.5 * 10.0 * math.sin(1.0) * 0.05, rel=1e-6)
    assert next_obs[1] == pytest.approx(1.5 * 9.81 * math.sin(1.0) * 0.05, rel=1e-6)
