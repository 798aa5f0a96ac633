"""`NumbaEnv`: one env of a :class:`NumbaEnvDef` as a plain `gymnasium.Env` (no auto-reset).

Same per-env functions as the vector kernel, called one step at a time; `gymnasium.make` adds the
`TimeLimit` wrapper from the registration, as for Gymnasium's own envs.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rl_platform.envs.kernel import NumbaEnvDef, compiled_one
from rl_platform.envs.rng import seed_streams


class NumbaEnv(gym.Env):
    """A single Numba env, checked with `gymnasium.utils.env_checker.check_env` in the tests."""

    metadata = {"render_modes": []}

    def __init__(self, env_def: NumbaEnvDef) -> None:
        self.env_def = env_def
        self.observation_space = env_def.observation_space
        self.action_space = env_def.action_space
        self._reset_one = compiled_one(env_def.reset_one)
        self._step_one = compiled_one(env_def.step_one)
        self._observe_one = compiled_one(env_def.observe_one)
        self._params = np.ascontiguousarray(env_def.params, dtype=np.float64)
        self.state = np.zeros(env_def.state_size, dtype=np.float64)
        self.rng = seed_streams(None, 1)
        self._discrete_obs = isinstance(self.observation_space, gym.spaces.Discrete)
        obs_dtype = np.int64 if self._discrete_obs else self.observation_space.dtype
        self._obs = np.zeros((1,) if self._discrete_obs else env_def.obs_shape, dtype=obs_dtype)
        self._has_reset = False

    def _observation(self) -> Any:
        self._observe_one(self.state, self._params, self._obs)
        return int(self._obs[0]) if self._discrete_obs else self._obs.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        if seed is not None or not self._has_reset:
            self.rng[:] = seed_streams(seed, 1)
        self._has_reset = True
        self._reset_one(self.state, self._params, self.rng)
        return self._observation(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"rlp/{self.env_def.name}: action {action!r} is not in {self.action_space}")
        if isinstance(self.action_space, gym.spaces.Discrete):
            action = int(action)
        else:
            action = np.asarray(action, dtype=np.float64)
        reward, terminated = self._step_one(self.state, action, self._params, self.rng)
        return self._observation(), float(reward), bool(terminated), False, {}

    def get_state(self) -> dict[str, np.ndarray]:
        return {"states": self.state.copy(), "rng": self.rng.copy()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.state[:] = np.asarray(state["states"]).reshape(self.state.shape)
        if "rng" in state:
            self.rng[:] = state["rng"]
        self._has_reset = True
