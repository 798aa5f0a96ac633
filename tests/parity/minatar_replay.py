"""Exact parity of rlp/MinAtar-* envs with the `minatar` package: its games driven by our random draws.

Our games map each random call of the reference to uniforms of the env's SplitMix64 stream
(envs/minatar/common.py). :class:`ReplayRandom` replicates that stream in plain Python and answers
the reference's `rand` / `randint` calls the same way, so the reference, given a copy of our RNG
state, makes the very draws we made: sticky actions, spawns and resets included. No re-syncing is
needed, and after every step both sides must have consumed the same number of uniforms.

One documented difference is bridged here: `minatar.Environment.reset` keeps `last_action` from the
previous episode, our reset sets it to NOOP (0) so that an episode depends on its seed and actions
only; :func:`reset_reference` does the same to the reference.

Also the checks every game's test file makes of its spaces (:func:`assert_spaces_match_reference`) and of
Gymnasium's env checker. The CUDA kernels of every game are checked with every other registered env in
tests/unit/test_cuda_sim.py (simulator parity with the CPU kernels, and real PTX compilation).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform.envs.minatar.common import LAST_ACTION, MinAtarGame, action_set
from rl_platform.envs.rng import seed_streams
from rl_platform.envs.single import NumbaEnv
from rl_platform.envs.vector import NumbaVectorEnv

MASK64 = (1 << 64) - 1

# (rng, n_actions, num_envs) -> actions
Policy = Callable[[np.random.Generator, int, int], np.ndarray]


def uniform_policy(rng: np.random.Generator, n_actions: int, num_envs: int) -> np.ndarray:
    return rng.integers(0, n_actions, num_envs)


def favouring(action: int, prob: float) -> Policy:
    """A policy that plays `action` with probability `prob`, else a uniform action (to reach far states)."""

    def policy(rng: np.random.Generator, n_actions: int, num_envs: int) -> np.ndarray:
        return np.where(rng.random(num_envs) < prob, action, rng.integers(0, n_actions, num_envs))

    return policy


class ReplayRandom:
    """Stands in for the reference's `numpy.random.RandomState`: draws from a copy of our env's stream.

    Python replica of `next_uint64` / `next_uniform` in envs/rng.py (SplitMix64, top 53 bits).
    """

    def __init__(self, rng_state: int) -> None:
        self.state = int(rng_state) & MASK64
        self.draws = 0

    def uniform(self) -> float:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        self.draws += 1
        return (z >> 11) * (1.0 / 9007199254740992.0)

    def rand(self, *size: int) -> float | np.ndarray:
        if not size:
            return self.uniform()
        return np.array([self.uniform() for _ in range(math.prod(size))]).reshape(size)

    def randint(self, low: int, high: int | None = None, size: int | None = None) -> int | np.ndarray:
        if high is None:
            low, high = 0, low
        if size is None:
            return low + math.floor(self.uniform() * (high - low))
        return np.array([low + math.floor(self.uniform() * (high - low)) for _ in range(size)], dtype=np.int64)


def reference_env(env_id: str, env_kwargs: dict) -> gym.Env:
    """The reference `minatar.gym.BaseEnv` of our `env_id` ("rlp/MinAtar-SpaceInvaders-v1" -> game
    "space_invaders", minimal action set for v1, all 6 actions for v0) with our env kwargs."""
    from minatar.gym import BaseEnv

    name, version = env_id.removeprefix("rlp/MinAtar-").rsplit("-", 1)
    game = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    return BaseEnv(game=game, use_minimal_action_set=version == "v1", **env_kwargs)


def attach_replay(ref: gym.Env, rng_state: int) -> ReplayRandom:
    """Make the reference (sticky actions and game alike) draw from a copy of our stream."""
    replay = ReplayRandom(rng_state)
    ref.game.random = replay
    ref.game.env.random = replay
    return replay


def reset_reference(ref: gym.Env) -> None:
    ref.game.reset()
    ref.game.last_action = 0  # as our reset (see the module docstring)


def reference_obs(ref: gym.Env) -> np.ndarray:
    """The reference's (10, 10, C) state as our channel-first (C, 10, 10) observation."""
    return np.ascontiguousarray(np.transpose(ref.game.state(), (2, 0, 1)))


@dataclass
class LockstepStats:
    steps: int = 0
    episodes: int = 0  # terminated episodes
    total_reward: float = 0.0
    draws: int = 0  # uniforms consumed (per side)


def play_lockstep(env_id: str, env_kwargs: dict, num_envs: int, steps: int, seed: int,
                  policy: Policy = uniform_policy) -> LockstepStats:
    """Play `num_envs` of our env (one vector env, autoresetting) and as many references in lockstep.

    Every step compares observations (the final one of an ended episode too), rewards, terminations
    and the number of random draws; any difference fails with the env, step and what differed.
    """
    envs = gym.make_vec(env_id, num_envs=num_envs, **env_kwargs).unwrapped
    assert isinstance(envs, NumbaVectorEnv)
    refs = [reference_env(env_id, env_kwargs) for _ in range(num_envs)]
    streams = seed_streams(seed, num_envs)  # what reset(seed=) starts from
    obs, _ = envs.reset(seed=seed)
    replays = [attach_replay(ref, stream) for ref, stream in zip(refs, streams, strict=True)]
    for i, ref in enumerate(refs):
        reset_reference(ref)
        np.testing.assert_array_equal(obs[i], reference_obs(ref), err_msg=f"{env_id} env {i}: reset obs")
    rng = np.random.default_rng(seed)
    stats = LockstepStats()
    n_actions = int(envs.single_action_space.n)
    for t in range(steps):
        actions = policy(rng, n_actions, num_envs)
        obs, rewards, terminations, truncations, info = envs.step(actions)
        for i, ref in enumerate(refs):
            where = f"{env_id} env {i} step {t}"
            _, ref_reward, ref_terminated, _, _ = ref.step(int(actions[i]))
            assert rewards[i] == ref_reward, f"{where}: reward {rewards[i]} != {ref_reward}"
            assert terminations[i] == ref_terminated, f"{where}: terminated {terminations[i]} != {ref_terminated}"
            assert not truncations[i], where
            seen = info["final_obs"][i] if terminations[i] else obs[i]
            np.testing.assert_array_equal(seen, reference_obs(ref), err_msg=f"{where}: obs")
            if ref_terminated:
                reset_reference(ref)
                np.testing.assert_array_equal(obs[i], reference_obs(ref), err_msg=f"{where}: obs after reset")
                stats.episodes += 1
            assert replays[i].state == int(envs.rng[i]), f"{where}: random draws differ"
            stats.total_reward += float(ref_reward)
    stats.steps = steps * num_envs
    stats.draws = sum(replay.draws for replay in replays)
    return stats


def play_from_states(env_id: str, env_kwargs: dict, states: np.ndarray, steps: int, seed: int,
                     to_reference: Callable[[np.ndarray, object], None],
                     from_reference: Callable[[object, int], np.ndarray],
                     policy: Policy = uniform_policy) -> LockstepStats:
    """From each of `states` (our layout), set the reference's game to the same state and play up to
    `steps` steps in lockstep (until the episode ends), comparing the full state vectors too.

    `to_reference(state, game_env)` writes our state into the reference's `Env` attributes;
    `from_reference(game_env, last_action)` reads them back into our layout.
    """
    env = gym.make(env_id, **env_kwargs).unwrapped
    assert isinstance(env, NumbaEnv)
    ref = reference_env(env_id, env_kwargs)
    rng = np.random.default_rng(seed)
    streams = seed_streams(seed, len(states))
    stats = LockstepStats()
    n_actions = int(env.action_space.n)
    for k, state in enumerate(states):
        env.set_state({"states": state, "rng": streams[k:k + 1]})
        to_reference(state, ref.game.env)
        ref.game.last_action = int(state[LAST_ACTION])
        np.testing.assert_array_equal(from_reference(ref.game.env, ref.game.last_action), state,
                                      err_msg=f"{env_id} start {k}: state round trip")
        replay = attach_replay(ref, streams[k])
        for t in range(steps):
            where = f"{env_id} start {k} step {t}"
            action = int(policy(rng, n_actions, 1)[0])
            obs, reward, terminated, _, _ = env.step(action)
            _, ref_reward, ref_terminated, _, _ = ref.step(action)
            assert reward == ref_reward, f"{where}: reward {reward} != {ref_reward}"
            assert terminated == ref_terminated, f"{where}: terminated {terminated} != {ref_terminated}"
            np.testing.assert_array_equal(obs, reference_obs(ref), err_msg=f"{where}: obs")
            np.testing.assert_array_equal(env.state, from_reference(ref.game.env, ref.game.last_action),
                                          err_msg=f"{where}: state")
            assert replay.state == int(env.rng[0]), f"{where}: random draws differ"
            stats.steps += 1
            stats.total_reward += float(reward)
            if terminated:
                stats.episodes += 1
                break
        stats.draws += replay.draws
    return stats


def assert_spaces_match_reference(game: MinAtarGame, v1_id: str, v0_id: str) -> None:
    """Our -v1 (minimal actions) and -v0 (all 6) ids have the reference's spaces, channel first, its channel
    order and its action sets."""
    for env_id in (v1_id, v0_id):
        env, ref = gym.make(env_id).unwrapped, reference_env(env_id, {})
        assert isinstance(env, NumbaEnv)
        rows, columns, channels = ref.observation_space.shape
        assert ref.observation_space.dtype == bool
        assert env.observation_space == gym.spaces.Box(0, 1, (channels, rows, columns), bool)
        assert env.action_space == ref.action_space
        assert action_set(game, env_id == v1_id) == list(ref.action_set)
    assert game.channels == tuple(sorted(ref.game.env.channels, key=ref.game.env.channels.get))


def assert_env_checker_passes_without_warnings(env_id: str) -> None:
    """Gymnasium's env checker passes and warns about nothing. (The reference itself fails it: its reset
    ignores `super().reset(seed=)`.)"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(gym.make(env_id).unwrapped)
    assert not caught, [str(warning.message) for warning in caught]
