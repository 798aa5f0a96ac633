"""`rlp collect`: roll out a policy (a trained run's, random actions, or a user's function) in vector envs and
write the complete episodes as a Minari dataset (:mod:`rl_platform.datasets`).

A user's policy is `--policy package.module:function`: the function takes a batch of observations, an array of
shape (num_envs, *obs_shape), and returns one action per env (an array of shape (num_envs, *action_shape)).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rl_platform.config import EnvConfig
from rl_platform.datasets import DatasetError, Episode, dataset_id, dataset_root, write_episodes
from rl_platform.env_factory import import_attribute, make_vector_env
from rl_platform.errors import UserError
from rl_platform.policy import FunctionPolicy, Policy, reset_state
from rl_platform.rollout import VectorStepper


@dataclass
class CollectedSteps:
    """The complete episodes of a collection, flat in finish order: episode k holds `lengths[k]` steps."""

    observations: np.ndarray  # (steps + episodes, *obs_shape): each episode's T+1 observations in turn
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    lengths: np.ndarray

    def episodes(self) -> Iterator[Episode]:
        """The episodes as views into the flat arrays."""
        step_ends = np.cumsum(self.lengths)
        for index, (end, length) in enumerate(zip(step_ends.tolist(), self.lengths.tolist(), strict=True)):
            start = end - length
            yield Episode(self.observations[start + index:end + index + 1], self.actions[start:end],
                          self.rewards[start:end], self.terminations[start:end], self.truncations[start:end])

    def returns(self) -> np.ndarray:
        episode_ids = np.repeat(np.arange(len(self.lengths)), self.lengths)
        return np.bincount(episode_ids, weights=self.rewards.astype(np.float64), minlength=len(self.lengths))


def _stream_seed(seed: int, stream: int) -> int:
    """Independent seeds for the random streams of one collection (the same seed for two of numpy's generators
    would correlate them: an exploring step would always take random action 0)."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def _random_actions(space: gym.Space, num_envs: int, seed: int) -> Callable[[], np.ndarray]:
    """A seeded sampler of one uniformly random action per env."""
    batch = gym.vector.utils.batch_space(space, num_envs)
    batch.seed(seed)
    return lambda: np.asarray(batch.sample())


def load_function(spec: str) -> Callable[[np.ndarray], Any]:
    """The callable named by 'package.module:function' (the current directory is importable)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UserError(f"--policy '{spec}' must be 'random' or 'package.module:function'.")
    try:
        _, _, function = import_attribute(spec)
    except ImportError as exc:
        raise UserError(f"--policy '{spec}': cannot import module '{module_name}': {exc}.") from None
    if not callable(function):
        raise UserError(f"--policy '{spec}': module '{module_name}' has no function '{attr}'.")
    return function


class _CheckedFunction:
    """A user's batch policy, held to returning one action per env of the action space's shape."""

    def __init__(self, spec: str, function: Callable[[np.ndarray], Any], space: gym.Space) -> None:
        self.spec, self.function, self.space = spec, function, space

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        actions = np.asarray(self.function(obs))
        wanted = (len(obs), *(self.space.shape or ()))
        if actions.shape != wanted:
            raise UserError(f"--policy '{self.spec}' returned actions of shape {actions.shape} for observations "
                            f"of shape {obs.shape}; it must return one action per env, shape {wanted}.")
        if isinstance(self.space, gym.spaces.Discrete):
            bad = (actions < self.space.start) | (actions >= self.space.start + self.space.n) \
                | (actions != np.round(actions))
            if bad.any():
                raise UserError(f"--policy '{self.spec}' returned action {actions[bad][0]!r}, outside the "
                                f"action space {self.space}.")
            actions = actions.astype(np.int64)
        return actions


def run_steps(policy: Policy, envs: gym.vector.VectorEnv, episodes: int | None, steps: int | None, epsilon: float,
              seed: int) -> CollectedSteps:
    """Greedy actions of `policy` (a uniformly random one with probability `epsilon`, per env and step) until
    `episodes` episodes have finished (the first to finish are kept) or finished ones hold >= `steps` steps."""
    num_envs = envs.num_envs
    stepper = VectorStepper(envs, seed=seed)
    explore_rng = np.random.default_rng(_stream_seed(seed, 1))
    random_actions = _random_actions(envs.single_action_space, num_envs, _stream_seed(seed, 2))
    state = policy.initial_state(num_envs)
    obs_rows, action_rows, reward_rows, termination_rows, truncation_rows, valid_rows = [], [], [], [], [], []
    final_obs = []
    finished = finished_steps = 0
    while (episodes is not None and finished < episodes) or (steps is not None and finished_steps < steps):
        state = reset_state(state, stepper.starts, policy.initial_state)
        obs = np.array(stepper.obs, copy=True)
        with torch.no_grad():
            actions, state = policy.act(obs, state, explore=False)
        actions = np.asarray(actions)
        if epsilon > 0:
            explore = explore_rng.random(num_envs) < epsilon
            actions = np.where(explore.reshape(-1, *([1] * (actions.ndim - 1))), random_actions(), actions)
        step = stepper.step(actions)
        ended = (step.terminations | step.truncations) & step.valid
        obs_rows.append(obs)
        action_rows.append(np.array(actions, copy=True))
        reward_rows.append(np.array(step.rewards, copy=True))
        termination_rows.append(np.array(step.terminations, copy=True))
        truncation_rows.append(np.array(step.truncations, copy=True))
        valid_rows.append(np.array(step.valid, copy=True))
        if ended.any():
            final_obs.append(np.array(step.next_obs[ended], copy=True))
            finished += int(ended.sum())
            finished_steps += int(step.episode_lengths.sum())
    return _split_episodes(np.stack(obs_rows), np.stack(action_rows), np.stack(reward_rows),
                           np.stack(termination_rows), np.stack(truncation_rows), np.stack(valid_rows),
                           np.concatenate(final_obs), episodes, steps)


def _split_episodes(obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminations: np.ndarray,
                    truncations: np.ndarray, valid: np.ndarray, final_obs: np.ndarray, episodes: int | None,
                    steps: int | None) -> CollectedSteps:
    """The per-env streams of (time, env) arrays cut into complete episodes in finish order (by end step, then
    env: the order of `final_obs`); the first `episodes`, or the first whose steps reach `steps`, are kept."""
    dones = (terminations | truncations) & valid
    episode_in_env = np.cumsum(dones, axis=0) - dones  # per env: how many of its episodes ended before this step
    end_times, end_envs = np.nonzero(dones)  # row-major: finish order
    finish_rank = np.full((dones.shape[1], int(dones.sum(axis=0).max()) + 1), -1)
    finish_rank[end_envs, episode_in_env[end_times, end_envs]] = np.arange(len(end_times))
    step_times, step_envs = np.nonzero(valid)
    rank = finish_rank[step_envs, episode_in_env[step_times, step_envs]]  # -1: an unfinished episode
    complete = rank >= 0
    all_lengths = np.bincount(rank[complete], minlength=len(end_times))
    if episodes is not None:
        count = min(episodes, len(end_times))
    else:
        count = min(int(np.searchsorted(np.cumsum(all_lengths), steps)) + 1, len(end_times))
    chosen = np.flatnonzero(complete & (rank < count))
    chosen = chosen[np.argsort(rank[chosen], kind="stable")]  # stable: time order within an episode
    times, envs, episode_of_step = step_times[chosen], step_envs[chosen], rank[chosen]
    lengths = all_lengths[:count]
    observations = np.empty((len(chosen) + count, *obs.shape[2:]), obs.dtype)
    observations[np.arange(len(chosen)) + episode_of_step] = obs[times, envs]
    observations[np.cumsum(lengths) + np.arange(count)] = final_obs[:count]
    return CollectedSteps(observations, actions[times, envs], rewards[times, envs], terminations[times, envs],
                          truncations[times, envs], lengths)


def _git_commit() -> str | None:
    """The commit of the rl_platform checkout this runs from (None outside a git checkout)."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def _run_policy(run_dir: str, env_id: str | None, num_envs: int | None, checkpoint: str
                ) -> tuple[Policy, gym.vector.VectorEnv, EnvConfig, dict[str, Any]]:
    """The greedy policy of a run's checkpoint, the envs it acts in (the run's env unless `env_id`) and what
    to record of its source."""
    from rl_platform.checkpoint import load_checkpoint
    from rl_platform.experiment import resume_config
    from rl_platform.registry import AGENTS
    from rl_platform.run import policy_fits
    from rl_platform.run_dir import CHECKPOINTS, run_checkpoint

    if checkpoint not in CHECKPOINTS:
        raise UserError(f"--checkpoint must be one of {', '.join(CHECKPOINTS)}, got '{checkpoint}'.")
    if not Path(run_dir).is_dir():
        raise UserError(f"--from '{run_dir}': no such run directory.")
    cfg = resume_config(run_dir)
    which, path = run_checkpoint(run_dir, checkpoint)
    if not path.is_file():
        raise UserError(f"run '{run_dir}' has no checkpoint ({path} does not exist).")
    env_cfg = dataclasses.replace(cfg.env, num_envs=num_envs or cfg.env.num_envs)
    if env_id is not None and env_id != cfg.env.id:
        env_cfg = dataclasses.replace(env_cfg, id=env_id, kwargs={})
    envs = make_vector_env(env_cfg)
    try:
        if env_cfg.id != cfg.env.id:
            run_envs = make_vector_env(dataclasses.replace(cfg.env, num_envs=1))
            run_spaces = (run_envs.single_observation_space, run_envs.single_action_space)
            fits = policy_fits(envs, run_envs)
            run_envs.close()
            if not fits:
                raise UserError(f"--env '{env_id}' has observation space {envs.single_observation_space} and action "
                                f"space {envs.single_action_space}; run '{run_dir}' was trained on '{cfg.env.id}' "
                                f"with {run_spaces[0]} and {run_spaces[1]} (the policy needs the same action "
                                "space and observations of the same shape and dtype).")
        state = load_checkpoint(path)
        agent = AGENTS.get(cfg.agent_name).make_agent(cfg, envs, torch.device("cpu"))
        agent.load_state_dict(state["agent"])
    except BaseException:
        envs.close()
        raise
    source = {"source": f"run:{run_dir}", "run_dir": str(Path(run_dir).resolve()), "agent": cfg.agent_name,
              "checkpoint": which, "checkpoint_step": int(state["global_step"])}
    return agent, envs, env_cfg, source


def collect(out: str, *, run_dir: str | None = None, policy: str | None = None, env_id: str | None = None,
            num_envs: int | None = None, episodes: int | None = None, steps: int | None = None,
            epsilon: float = 0.0, seed: int = 0, checkpoint: str = "best") -> dict[str, Any]:
    """Collect `episodes` complete episodes (or complete ones holding >= `steps` steps) and write them as Minari
    dataset `out` (`-v0` appended without a version suffix); returns the summary `rlp collect` prints.

    The policy is a run's checkpoint (`run_dir`: greedy actions, its env unless `env_id`), or `policy`:
    'random' or 'package.module:function' (see the module docstring), in env `env_id`. With probability
    `epsilon` per env and step the action is uniformly random instead. Nothing is written on any error."""
    if (run_dir is None) == (policy is None):
        raise UserError("give one policy: --from RUN_DIR or --policy random|package.module:function.")
    if (episodes is None) == (steps is None):
        raise UserError("give one budget: --episodes N or --steps N.")
    if (episodes if episodes is not None else steps) < 1:
        raise UserError(f"--{'episodes' if episodes is not None else 'steps'} must be at least 1.")
    if not 0.0 <= epsilon <= 1.0:
        raise UserError(f"--epsilon must be in [0, 1], got {epsilon}.")
    if num_envs is not None and num_envs < 1:
        raise UserError(f"--num-envs must be at least 1, got {num_envs}.")
    ident = dataset_id(out)
    if (dataset_root() / ident).exists():
        raise DatasetError(ident, f"already exists ({dataset_root() / ident}); choose another --out name or version.")
    if run_dir is not None:
        actor, envs, env_cfg, source = _run_policy(run_dir, env_id, num_envs, checkpoint)
        algorithm = source["agent"]
    else:
        if env_id is None:
            raise UserError(f"--policy {policy} needs --env ID (the env to collect in).")
        function = None if policy == "random" else load_function(policy)
        env_cfg = EnvConfig(id=env_id, num_envs=num_envs or 8)
        envs = make_vector_env(env_cfg)
        if function is None:
            sample = _random_actions(envs.single_action_space, envs.num_envs, _stream_seed(seed, 3))
            actor = FunctionPolicy(lambda obs: sample())
        else:
            actor = FunctionPolicy(_CheckedFunction(policy, function, envs.single_action_space))
        source, algorithm = {"source": f"policy:{policy}"}, policy
    try:
        started = time.perf_counter()
        collected = run_steps(actor, envs, episodes, steps, epsilon, seed)
        returns = collected.returns()
        summary = {
            **source, "env_id": env_cfg.id, "env_kwargs": env_cfg.kwargs, "num_envs": envs.num_envs,
            "epsilon": epsilon, "seed": seed, "episodes": len(returns), "steps": int(collected.lengths.sum()),
            "mean_return": float(returns.mean()), "std_return": float(returns.std()),
            "min_return": float(returns.min()), "max_return": float(returns.max()),
            "rl_platform_version": importlib.metadata.version("rl_platform"), "git_commit": _git_commit(),
        }
        if env_cfg.history > 1:
            summary["history"] = env_cfg.history
        path = write_episodes(ident, collected.episodes(), envs.single_observation_space, envs.single_action_space,
                              env_cfg.id, summary, algorithm, env_kwargs=env_cfg.kwargs,
                              description=f"rlp collect: {summary['source']} on {env_cfg.id}, epsilon {epsilon:g}, "
                                          f"seed {seed}")
        seconds = time.perf_counter() - started
    finally:
        envs.close()
    return {"dataset_id": ident, "path": str(path), **summary, "seconds": seconds,
            "steps_per_second": summary["steps"] / seconds}


def format_summary(result: dict[str, Any]) -> str:
    """The one line `rlp collect` prints."""
    return (f"{result['dataset_id']}: {result['episodes']:,} episodes, {result['steps']:,} steps from "
            f"{result['source']} on {result['env_id']} (epsilon {result['epsilon']:g}): return "
            f"{result['mean_return']:.2f} +/- {result['std_return']:.2f} (min {result['min_return']:.1f}, max "
            f"{result['max_return']:.1f}); {result['steps_per_second']:,.0f} steps/s; written to {result['path']}")
