"""`env.reward_model: RUN_DIR`: train a fresh agent on the reward an AIRL run recovered, g(s) (or g(s, a)).

The AIRL run's discriminator (its latest checkpoint) is loaded once; every training env's reward becomes g of the
observation the action was taken in (and of the action, for a run with `state_only: false`). Only the training
envs are wrapped: greedy evaluations (`eval/mean_return`, `rlp eval`) keep the env's own reward, so the run shows
how well the recovered reward teaches the task. `charts/episodic_return` is the learned reward's return.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rl_platform.errors import ConfigError, UserError
from rl_platform.imitation.discriminators import AIRLDiscriminator, build_discriminator

KEY = "env.reward_model"


def load_reward_model(run_dir: str, observation_space: gym.Space, action_space: gym.Space) -> AIRLDiscriminator:
    """The AIRL discriminator of run `run_dir` (its latest checkpoint), for an env of these spaces; a ConfigError
    naming env.reward_model for a missing run, a run that is not AIRL, or other spaces."""
    from rl_platform.checkpoint import load_checkpoint
    from rl_platform.experiment import resume_config
    from rl_platform.run_dir import run_checkpoint

    if not Path(run_dir).is_dir():
        raise ConfigError(KEY, f"'{run_dir}' is not a run directory.")
    try:
        cfg = resume_config(run_dir)
    except UserError as exc:
        raise ConfigError(KEY, f"'{run_dir}': {exc}") from None
    discriminator = getattr(cfg.agent, "discriminator", None)
    if discriminator is None or discriminator.name != "airl":
        raise ConfigError(KEY, f"run '{run_dir}' is a '{cfg.agent_name}' run; a reward model comes from an airl run "
                          "(agent: airl), whose discriminator holds the recovered reward g.")
    _, path = run_checkpoint(run_dir, "last")
    if not path.is_file():
        raise ConfigError(KEY, f"run '{run_dir}' has no checkpoint ({path}).")
    model = build_discriminator(discriminator, observation_space, action_space)
    state = load_checkpoint(path)["agent"]["reward"]["discriminator"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(KEY, f"run '{run_dir}' learned its reward for other spaces than this env's "
                          f"({observation_space}, {action_space}): {str(exc).splitlines()[0]}") from None
    return model.eval().requires_grad_(False)


class LearnedReward(gym.vector.VectorWrapper):
    """A vector env whose rewards are `model.reward_model(obs, actions)` of the observation each action was taken
    in."""

    def __init__(self, envs: gym.vector.VectorEnv, model: AIRLDiscriminator, source: str) -> None:
        super().__init__(envs)
        self.model = model
        self.metadata = {**envs.metadata, "reward_model": source}
        self.obs: np.ndarray | None = None

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        obs, infos = self.env.reset(**kwargs)
        self.obs = np.array(obs)
        return obs, infos

    def step(self, actions: np.ndarray) -> tuple[Any, np.ndarray, Any, Any, dict]:
        obs, _, terminations, truncations, infos = self.env.step(actions)
        with torch.no_grad():
            rewards = self.model.reward_model(torch.as_tensor(self.obs), torch.as_tensor(np.asarray(actions)))
        self.obs = np.array(obs)
        return obs, rewards.numpy().astype(np.float64), terminations, truncations, infos


def with_learned_reward(envs: gym.vector.VectorEnv, run_dir: str) -> gym.vector.VectorEnv:
    """`envs` with the reward of AIRL run `run_dir` (closed again if it cannot be loaded)."""
    try:
        model = load_reward_model(run_dir, envs.single_observation_space, envs.single_action_space)
    except BaseException:
        envs.close()
        raise
    return LearnedReward(envs, model, run_dir)
