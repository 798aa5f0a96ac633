"""Stepping a Gymnasium vector env into clean transitions, whatever its autoreset mode; n-step rollouts.

Agents get, for every vector step, `next_obs` that is the true last observation of an episode that
ended (so truncated episodes bootstrap correctly), a `valid` mask that drops the reset steps of
next-step autoreset, and the returns and lengths of the episodes that finished.
"""

from __future__ import annotations

import sysconfig
import traceback
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from rl_platform.errors import EnvError, UserError


@dataclass
class Transitions:
    """One vector step. Entries where `valid` is False are auto-reset steps, not transitions."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    valid: np.ndarray
    episode_returns: np.ndarray  # returns of the episodes that ended on this step
    episode_lengths: np.ndarray


def autoreset_mode(envs: gym.vector.VectorEnv) -> AutoresetMode:
    mode = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    return AutoresetMode(mode) if not isinstance(mode, AutoresetMode) else mode


def env_name(envs: gym.vector.VectorEnv) -> str:
    spec = getattr(envs, "spec", None)
    return getattr(spec, "id", None) or envs.metadata.get("env_id") or type(envs).__name__


_LIBRARY_PATHS = ("site-packages", "dist-packages", "/gymnasium/", "/numpy/", sysconfig.get_paths()["stdlib"])


def _where(exc: BaseException) -> str:
    """`file:line in function` of the innermost frame of `exc`'s traceback outside libraries (the user's env
    code, where there is some), else the innermost one."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    own = [f for f in frames if not any(part in f.filename for part in _LIBRARY_PATHS)]
    frame = (own or frames)[-1]
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


class VectorStepper:
    """Holds the current observation of a vector env and steps it, tracking episode statistics.

    The env is held to its spaces at every step: an exception inside `reset` / `step`, or arrays of the wrong
    shape, become an :class:`EnvError` that names the env, the step and the check (a user's mistake, not a
    traceback from deep inside an agent)."""

    def __init__(self, envs: gym.vector.VectorEnv, seed: int | None) -> None:
        self.envs = envs
        self.mode = autoreset_mode(envs)
        self.num_envs = envs.num_envs
        self.steps = 0
        shape = envs.single_observation_space.shape
        self._obs_shape = None if shape is None else (self.num_envs, *shape)
        self.obs, _ = self._call("reset", lambda: envs.reset(seed=seed))
        self._check_obs(self.obs, "reset")
        self.resetting = np.zeros(self.num_envs, dtype=bool)  # next-step mode: reset on this step
        self.starts = np.ones(self.num_envs, dtype=bool)  # `obs` is the first of its episode (resets a policy state)
        self.running_returns = np.zeros(self.num_envs, dtype=np.float64)
        self.running_lengths = np.zeros(self.num_envs, dtype=np.int64)

    def _call(self, what: str, call: Any) -> Any:
        try:
            return call()
        except UserError:
            raise
        except Exception as exc:
            batching = any(f.name in ("concatenate", "stack") for f in traceback.extract_tb(exc.__traceback__))
            hint = (f"; an env's observation does not fit its observation_space {self.envs.single_observation_space}"
                    if batching else "")
            raise EnvError(f"env '{env_name(self.envs)}' failed in {what} at vector step {self.steps} "
                           f"({self.steps * self.num_envs:,} env steps): {type(exc).__name__}: {exc} "
                           f"(raised at {_where(exc)}){hint}") from exc

    def _check_obs(self, obs: Any, what: str) -> None:
        if self._obs_shape is not None and np.shape(obs) != self._obs_shape:
            raise EnvError(f"env '{env_name(self.envs)}': {what} at vector step {self.steps} returned observations "
                           f"of shape {np.shape(obs)}; observation_space {self.envs.single_observation_space} "
                           f"x {self.num_envs} envs needs {self._obs_shape}.")

    def step(self, actions: np.ndarray) -> Transitions:
        obs = self.obs
        next_obs, rewards, terminations, truncations, infos = self._call("step", lambda: self.envs.step(actions))
        self.steps += 1
        self._check_obs(next_obs, "step")
        rewards = np.asarray(rewards, dtype=np.float32)
        terminations = np.asarray(terminations, dtype=bool)
        truncations = np.asarray(truncations, dtype=bool)
        if rewards.shape != (self.num_envs,) or terminations.shape != rewards.shape \
                or truncations.shape != rewards.shape:
            raise EnvError(f"env '{env_name(self.envs)}': step at vector step {self.steps} returned rewards, "
                           f"terminations, truncations of shapes {rewards.shape}, {terminations.shape}, "
                           f"{truncations.shape}; each must be ({self.num_envs},).")
        dones = terminations | truncations
        valid = ~self.resetting
        stored_next_obs = next_obs
        if self.mode == AutoresetMode.SAME_STEP and dones.any():
            stored_next_obs = np.array(next_obs, copy=True)
            for i in np.flatnonzero(dones):
                stored_next_obs[i] = infos["final_obs"][i]
        self.running_returns += np.where(valid, rewards, 0.0)
        self.running_lengths += valid
        ended = dones & valid
        episode_returns = self.running_returns[ended].copy()
        episode_lengths = self.running_lengths[ended].copy()
        self.running_returns[dones] = 0.0
        self.running_lengths[dones] = 0
        if self.mode == AutoresetMode.NEXT_STEP:
            self.starts = self.resetting
            self.resetting = dones
        else:
            self.starts = dones
            if self.mode == AutoresetMode.DISABLED and dones.any():
                next_obs, _ = self._call("reset", lambda: self.envs.reset(options={"reset_mask": dones}))
        self.obs = next_obs
        return Transitions(obs, actions, rewards, stored_next_obs, terminations, truncations, valid,
                           episode_returns, episode_lengths)


# ---------------------------------------------------------------------------------------------
# Rollouts for on-policy agents


class SamplingPolicy(Protocol):
    def sample(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw actions, env actions) sampled for a batch of observations."""


@dataclass
class Rollout:
    """`n_steps` vector steps, time-major `(T, num_envs, ...)`. Rows where `valid` is False are auto-reset steps."""

    obs: np.ndarray
    raw_actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    valid: np.ndarray
    final_index: np.ndarray  # (t, env) of truncated steps, which bootstrap from their final observation
    final_obs: np.ndarray
    last_obs: np.ndarray  # the observation after the rollout, for R_T = V(s_T)
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    # With `keep_transitions`: the env actions and the true next observations (an ended episode's last one).
    env_actions: np.ndarray | None = None
    next_obs: np.ndarray | None = None


class RolloutCollector:
    """Steps a vector env `n_steps` times with a sampling policy, into preallocated arrays (on-policy agents).

    The policy's `sample(obs)` returns (raw actions the loss needs, actions for the env): a Gaussian policy's
    raw sample before clipping, for instance. With `keep_transitions` the rollout also holds the env actions and
    next observations (what a discriminator of transitions scores)."""

    def __init__(self, envs: gym.vector.VectorEnv, n_steps: int, seed: int | None,
                 keep_transitions: bool = False) -> None:
        self.stepper = VectorStepper(envs, seed=seed)
        num_envs, space = envs.num_envs, envs.single_observation_space
        self.obs = np.zeros((n_steps, num_envs, *space.shape), dtype=space.dtype)
        self.next_obs = np.zeros_like(self.obs) if keep_transitions else None
        self.env_actions: np.ndarray | None = None
        shape = (n_steps, num_envs)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminations = np.zeros(shape, dtype=bool)
        self.truncations = np.zeros(shape, dtype=bool)
        self.valid = np.zeros(shape, dtype=bool)
        self.raw_actions: np.ndarray | None = None

    def collect(self, policy: SamplingPolicy) -> Rollout:
        final_index, final_obs, returns, lengths = [], [], [], []
        for t in range(self.obs.shape[0]):
            self.obs[t] = self.stepper.obs
            raw, env_actions = policy.sample(self.obs[t])
            if self.raw_actions is None:
                self.raw_actions = np.zeros((self.obs.shape[0], *raw.shape), dtype=raw.dtype)
            self.raw_actions[t] = raw
            step = self.stepper.step(env_actions)
            if self.next_obs is not None:
                if self.env_actions is None:
                    env_actions = np.asarray(env_actions)
                    self.env_actions = np.zeros((self.obs.shape[0], *env_actions.shape), dtype=env_actions.dtype)
                self.env_actions[t], self.next_obs[t] = env_actions, step.next_obs
            self.rewards[t], self.terminations[t] = step.rewards, step.terminations
            self.truncations[t] = step.truncations
            self.valid[t] = step.valid
            truncated = np.flatnonzero(step.truncations & ~step.terminations & step.valid)
            if len(truncated):
                final_index += [(t, i) for i in truncated]
                final_obs.append(np.array(step.next_obs[truncated]))
            returns.append(step.episode_returns)
            lengths.append(step.episode_lengths)
        space = self.obs.shape[2:]
        return Rollout(self.obs, self.raw_actions, self.rewards, self.terminations, self.truncations, self.valid,
                       np.array(final_index, dtype=np.int64).reshape(-1, 2),
                       np.concatenate(final_obs) if final_obs else np.zeros((0, *space), self.obs.dtype),
                       np.array(self.stepper.obs), np.concatenate(returns), np.concatenate(lengths),
                       self.env_actions, self.next_obs)
