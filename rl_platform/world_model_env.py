"""`rlp/WorldModel-v0`: a run's learned world model served as a Gymnasium env, so that any agent can train inside
it ("training in imagination") and be evaluated in the real env (`train.eval_env`).

`env.id: rlp/WorldModel-v0` with `env.kwargs: {run: RUN_DIR}`, where RUN_DIR is any run that trained a world
model (`rl_platform.model_eval.load_world_model`: a `world_model` pretraining run, a Dyna run). The vector env
(:class:`WorldModelVectorEnv`) steps its `num_envs` rows with one `model.sample(obs, actions, generator)` call
in torch; observations are clipped into the observation space where its bounds are finite; episodes are
truncated at `max_episode_steps` (default: the time limit the real env is registered with) and reset on the
same step, as our Numba envs do (`AutoresetMode.SAME_STEP`, the last observation in `info["final_obs"]`).
Episodes start from the first observations of a dataset's episodes, drawn uniformly: the run's
`pretrain.dataset`, or the `dataset` kwarg. `reset(seed=...)` seeds the torch generator behind the resets and
the model's samples, so a seeded run is reproducible.

| kwarg | meaning |
|---|---|
| `run` | the run whose world model is the env (required; a pretraining run's best.pt, a Dyna run's latest.pt) |
| `dataset` | the dataset whose episodes' first observations are the reset states (default: the run's dataset) |
| `max_episode_steps` | time limit of an imagined episode (default: the run's env's registered limit) |
| `device` | torch device the model runs on (`cpu` default; outputs are NumPy arrays on the host either way) |
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from rl_platform.datasets import load_transitions
from rl_platform.errors import ConfigError
from rl_platform.model_eval import load_world_model
from rl_platform.options import did_you_mean
from rl_platform.world_models import WorldModel

ENV_ID = "rlp/WorldModel-v0"
KWARGS = ("run", "dataset", "max_episode_steps", "device")


class WorldModelVectorEnv(gym.vector.VectorEnv):
    """`num_envs` imagined episodes of `model`, stepped together; built from a model object and the array of
    reset states (N, *observation shape) it starts its episodes from (see the module docstring)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": [], "env_id": ENV_ID}

    def __init__(self, model: WorldModel, reset_states: np.ndarray, num_envs: int = 1,
                 max_episode_steps: int = 500, device: str | torch.device = "cpu") -> None:
        space = model.observation_space
        reset_states = np.asarray(reset_states)
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        if max_episode_steps < 1:
            raise ConfigError("env.kwargs.max_episode_steps", f"must be at least 1, got {max_episode_steps}.")
        if reset_states.ndim != 1 + len(space.shape) or reset_states.shape[1:] != space.shape \
                or len(reset_states) == 0:
            raise ValueError(f"reset_states must have shape (N >= 1, {', '.join(map(str, space.shape))}) for "
                             f"observation space {space}, got {reset_states.shape}")
        self.num_envs = num_envs
        self.max_episode_steps = int(max_episode_steps)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.single_observation_space, self.single_action_space = space, model.action_space
        self.observation_space = batch_space(space, num_envs)
        self.action_space = batch_space(model.action_space, num_envs)
        self._discrete_actions = isinstance(model.action_space, gym.spaces.Discrete)
        self._dtype = torch.from_numpy(np.zeros(0, dtype=space.dtype)).dtype
        self.reset_states = torch.as_tensor(reset_states, dtype=self._dtype, device=self.device)
        # Infinite bounds clamp nothing, so one clamp covers spaces with finite, infinite and mixed bounds; a bool
        # frame (MinAtar) always lies in its space.
        self._bounds = None
        if isinstance(space, gym.spaces.Box) and space.dtype != np.bool_:
            self._bounds = (torch.as_tensor(space.low, dtype=self._dtype, device=self.device),
                            torch.as_tensor(space.high, dtype=self._dtype, device=self.device))
        self._generator = torch.Generator(device=self.device)
        self._obs = torch.zeros((num_envs, *space.shape), dtype=self._dtype, device=self.device)
        self._elapsed = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self._has_reset = False

    def _draw_reset_states(self, count: int) -> torch.Tensor:
        rows = torch.randint(0, len(self.reset_states), (count,), generator=self._generator, device=self.device)
        return self.reset_states[rows]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start new episodes in all envs (or those in `options["reset_mask"]`); a seed re-seeds the generator."""
        if seed is not None:
            self._generator.manual_seed(seed)
        elif not self._has_reset:
            self._generator.seed()
        mask = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        if options and "reset_mask" in options:
            mask = torch.as_tensor(np.asarray(options["reset_mask"], dtype=bool), device=self.device)
            if mask.shape != (self.num_envs,):
                raise ValueError(f"reset_mask must have shape ({self.num_envs},), got {tuple(mask.shape)}")
        self._has_reset = True
        self._obs[mask] = self._draw_reset_states(int(mask.sum()))
        self._elapsed[mask] = 0
        return self._obs.cpu().numpy().copy(), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        imagined = self.model.sample(self._obs, self._checked(actions), self._generator)
        next_obs = imagined.next_obs.to(self._dtype)
        if self._bounds is not None:
            if not (torch.isfinite(next_obs).all() and torch.isfinite(imagined.rewards).all()):
                raise ValueError(f"{ENV_ID}: the world model predicted a NaN or infinite observation or reward "
                                 "(its inputs left the range it was trained on, or its weights are broken)")
            next_obs = torch.clamp(next_obs, *self._bounds)
        self._elapsed += 1
        terminations = imagined.terminations.bool()
        truncations = self._elapsed >= self.max_episode_steps
        dones = terminations | truncations
        info: dict[str, Any] = {}
        if bool(dones.any()):
            info = {"final_obs": next_obs.cpu().numpy().copy(), "_final_obs": dones.cpu().numpy()}
            next_obs[dones] = self._draw_reset_states(int(dones.sum()))
            self._elapsed[dones] = 0
        self._obs = next_obs
        return (next_obs.cpu().numpy().copy(), imagined.rewards.cpu().numpy().astype(np.float64),
                terminations.cpu().numpy(), truncations.cpu().numpy(), info)

    def _checked(self, actions: Any) -> torch.Tensor:
        """The actions as a tensor for the model, or a ValueError that says what is wrong (state untouched)."""
        array = np.asarray(actions)
        space = self.single_action_space
        expected = (self.num_envs, *space.shape)
        if array.shape != expected:
            raise ValueError(f"{ENV_ID}: actions must have shape {expected} (num_envs={self.num_envs}), "
                             f"got {array.shape}")
        if self._discrete_actions:
            start, n = int(space.start), int(space.n)
            if array.dtype.kind not in "iu":
                raise ValueError(f"{ENV_ID}: discrete actions must be integers, got dtype {array.dtype}")
            if array.size and (array.min() < start or array.max() >= start + n):
                raise ValueError(f"{ENV_ID}: actions must be in [{start}, {start + n - 1}], got values in "
                                 f"[{array.min()}, {array.max()}]")
            return torch.as_tensor(array.astype(np.int64, copy=False), device=self.device)
        if array.dtype.kind not in "iuf" or not (np.all(array >= space.low) and np.all(array <= space.high)):
            raise ValueError(f"{ENV_ID}: actions must be numbers in [{space.low}, {space.high}], got {array!r}")
        return torch.as_tensor(array, dtype=torch.float32, device=self.device)


class WorldModelEnv(gym.Env):
    """One imagined episode at a time, as `gymnasium.make` gives it: a :class:`WorldModelVectorEnv` of one row
    whose step returns an ended episode's own last observation (call `reset` for the next episode)."""

    metadata = {"render_modes": []}

    def __init__(self, model: WorldModel, reset_states: np.ndarray, max_episode_steps: int = 500,
                 device: str | torch.device = "cpu") -> None:
        self.vector = WorldModelVectorEnv(model, reset_states, 1, max_episode_steps, device)
        self.observation_space = self.vector.single_observation_space
        self.action_space = self.vector.single_action_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs, _ = self.vector.reset(seed=seed)
        return obs[0], {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"{ENV_ID}: action {action!r} is not in {self.action_space}")
        obs, rewards, terminations, truncations, info = self.vector.step(np.asarray(action)[None])
        if "final_obs" in info:
            obs = info["final_obs"]
        return obs[0], float(rewards[0]), bool(terminations[0]), bool(truncations[0]), {}


# ---------------------------------------------------------------------------------------------
# From a run directory: what gymnasium.make / make_vec call (registered in rl_platform/envs/registration.py)


def initial_observations(name: str, model: WorldModel) -> np.ndarray:
    """The first observation of every episode of dataset `name`, which must have the model's spaces."""
    data = load_transitions(name)
    for what, dataset_space, model_space in (("observation", data.observation_space, model.observation_space),
                                             ("action", data.action_space, model.action_space)):
        if dataset_space != model_space:
            raise ConfigError("env.kwargs.dataset", f"dataset '{name}' has {what} space {dataset_space}; the world "
                              f"model was trained for {model_space}.")
    return data.obs[data.episode_starts]


def _default_time_limit(cfg: Any) -> int:
    """The time limit of the run's env: its env.kwargs.max_episode_steps, else its Gymnasium registration's."""
    if cfg.env.kwargs.get("max_episode_steps") is not None:
        return int(cfg.env.kwargs["max_episode_steps"])
    limit = gym.spec(cfg.env.id).max_episode_steps if cfg.env.id in gym.registry else None
    if limit is None:
        raise ConfigError("env.kwargs.max_episode_steps", f"missing: the run's env '{cfg.env.id}' has no registered "
                          "time limit, so say how long an imagined episode may run.")
    return int(limit)


def _from_run(run: str | Path | None, dataset: str | None, max_episode_steps: int | None,
              unknown: dict[str, Any]) -> tuple[WorldModel, np.ndarray, int]:
    """(model, reset states, time limit) from the env kwargs, each mistake a ConfigError naming its key."""
    for key in unknown:
        raise ConfigError(f"env.kwargs.{key}", f"unknown option of {ENV_ID}.{did_you_mean(key, KWARGS)} "
                          f"Valid: {', '.join(KWARGS)}.")
    if run is None:
        raise ConfigError("env.kwargs.run", f"missing: {ENV_ID} needs the run directory of a run that trained a world "
                          "model (e.g. `env.kwargs.run=runs/<pretraining run>`).")
    model, cfg = load_world_model(run)
    if dataset is None:
        dataset = getattr(getattr(cfg, "pretrain", None), "dataset", None)
        if dataset is None:
            raise ConfigError("env.kwargs.dataset", f"missing: run '{run}' has no pretrain.dataset (it is a "
                              f"'{cfg.agent_name}' training run), so name the dataset whose episodes' first "
                              "observations start imagined episodes.")
    limit = _default_time_limit(cfg) if max_episode_steps is None else int(max_episode_steps)
    return model, initial_observations(dataset, model), limit


def make_single(run: str | Path | None = None, dataset: str | None = None, max_episode_steps: int | None = None,
                device: str = "cpu", **unknown: Any) -> WorldModelEnv:
    """`gymnasium.make("rlp/WorldModel-v0", run=RUN_DIR, ...)`."""
    model, reset_states, limit = _from_run(run, dataset, max_episode_steps, unknown)
    return WorldModelEnv(model, reset_states, limit, device)


def make_vector(num_envs: int = 1, run: str | Path | None = None, dataset: str | None = None,
                max_episode_steps: int | None = None, device: str = "cpu", **unknown: Any) -> WorldModelVectorEnv:
    """`gymnasium.make_vec("rlp/WorldModel-v0", num_envs=N, run=RUN_DIR, ...)`."""
    model, reset_states, limit = _from_run(run, dataset, max_episode_steps, unknown)
    return WorldModelVectorEnv(model, reset_states, num_envs, limit, device)
