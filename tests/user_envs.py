"""Small user environments for the env-factory tests: one good env and one per way to break the API.

Used as `env.id=tests.user_envs:<Name>` (repo root on sys.path) or `env.id=user_envs:<Name>`
(this folder on sys.path / PYTHONPATH).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class GoodEnv(gym.Env):
    """A valid Gymnasium env: 4-d Box observations, 2 discrete actions, episodes of 10 steps."""

    def __init__(self, episode_length: int = 10) -> None:
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.episode_length = episode_length
        self.t = 0

    def _obs(self) -> np.ndarray:
        return np.full(4, self.t / self.episode_length, dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.t += 1
        terminated = self.t >= self.episode_length
        return self._obs(), float(action), terminated, False, {}


class BrokenSpaceEnv(GoodEnv):
    """observation_space is a shape tuple, not a gymnasium Space."""

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = (4,)


class OldResetEnv(GoodEnv):
    """reset() returns only the observation (old Gym API), not (obs, info)."""

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        obs, _ = super().reset(seed=seed)
        return obs


class NoSeedResetEnv(GoodEnv):
    """reset() takes no `seed` keyword (old Gym API)."""

    def reset(self) -> Any:  # type: ignore[override]
        self.t = 0
        return self._obs(), {}


class FourTupleStepEnv(GoodEnv):
    """step() returns (obs, reward, done, info) (old Gym API)."""

    def step(self, action: Any) -> tuple[Any, float, bool, dict]:  # type: ignore[override]
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated or truncated, info


class BrokenStepEnv(GoodEnv):
    """step() takes two arguments besides self."""

    def step(self, action: Any, extra: Any) -> tuple[Any, float, bool, bool, dict]:  # type: ignore[override]
        return super().step(action)


class OutOfSpaceObsEnv(GoodEnv):
    """Observations lie outside the declared observation_space (Box [-1, 1])."""

    def _obs(self) -> np.ndarray:
        return np.full(4, 5.0, dtype=np.float32)


class WrongShapeObsEnv(GoodEnv):
    """Observations have shape (3,) but the space says (4,)."""

    def _obs(self) -> np.ndarray:
        return np.zeros(3, dtype=np.float32)


class ContinuousActionEnv(GoodEnv):
    """A valid env with Box actions, which DQN cannot handle."""

    def __init__(self) -> None:
        super().__init__()
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        return super().step(float(np.asarray(action).sum()))


class NotAnEnv:
    """Has reset/step but is not a gymnasium.Env."""

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        return np.zeros(4, dtype=np.float32), {}


def make_good_vector_env(num_envs: int) -> gym.vector.VectorEnv:
    """A factory that builds the vector env itself, of the requested size."""
    return gym.vector.SyncVectorEnv([GoodEnv for _ in range(num_envs)])


def make_wrong_size_vector_env(num_envs: int) -> gym.vector.VectorEnv:
    """A factory that ignores the requested size."""
    return gym.vector.SyncVectorEnv([GoodEnv for _ in range(num_envs + 1)])


NOT_CALLABLE = 42


class ChainEnv(gym.Env):
    """A corridor of `length` cells with discrete observations: start in cell 0, action 1 moves right and
    action 0 left (each succeeds with probability `success`, else the agent stays); reaching the last
    cell ends the episode with reward 1. Publishes its model as Gymnasium's toy-text envs do (`P`,
    `initial_state_distrib`), so tabular agents can compare themselves with the exact optimum."""

    def __init__(self, length: int = 6, success: float = 0.8) -> None:
        self.observation_space = spaces.Discrete(length)
        self.action_space = spaces.Discrete(2)
        self.initial_state_distrib = np.eye(length)[0]
        self.P: dict[int, dict[int, list[tuple[float, int, float, bool]]]] = {}
        for s in range(length):
            self.P[s] = {}
            for a in (0, 1):
                target = min(max(s + (1 if a == 1 else -1), 0), length - 1)
                outcomes = [(success, target), (1.0 - success, s)]
                self.P[s][a] = [(p, s2, float(s2 == length - 1), s2 == length - 1) for p, s2 in outcomes]
        self.state = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.state = 0
        return self.state, {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        outcomes = self.P[self.state][int(action)]
        p, s2, reward, terminated = outcomes[0] if self.np_random.random() < outcomes[0][0] else outcomes[1]
        self.state = s2
        return s2, reward, terminated, False, {}


class CrashingEnv(GoodEnv):
    """Works for `crash_after` steps, then raises in `step` (a simulator that fails mid-training)."""

    def __init__(self, crash_after: int = 500) -> None:
        super().__init__()
        self.crash_after = crash_after
        self.steps = 0

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.steps += 1
        if self.steps > self.crash_after:
            raise RuntimeError("the simulator lost its licence")
        return super().step(action)


class ShapeShiftingEnv(GoodEnv):
    """Observations of the declared shape (4,) for `shift_after` steps, then of shape (5,)."""

    def __init__(self, shift_after: int = 300) -> None:
        super().__init__()
        self.shift_after = shift_after
        self.steps = 0

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.steps += 1
        obs, reward, terminated, truncated, info = super().step(action)
        if self.steps > self.shift_after:
            obs = np.zeros(5, dtype=np.float32)
        return obs, reward, terminated, truncated, info


class FadingEnv(GoodEnv):
    """Like GoodEnv (reward = the action), but only the first episode after a seeded reset pays: later ones
    (auto-resets) give reward 0. A short evaluation sees return 10 for the always-1 policy; a long one
    (several episodes per env) sees far less, deterministically."""

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        self.episodes = 0 if seed is not None else getattr(self, "episodes", 0) + 1
        return super().reset(seed=seed)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward if self.episodes == 0 else 0.0, terminated, truncated, info
