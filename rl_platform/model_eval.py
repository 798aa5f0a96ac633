"""`rlp model-eval RUN_DIR`: how well a run's learned world model predicts the real env.

From `envs` states reached by a random policy (the env reset with `seed`, then `warmup` random vector steps),
the real env and the model are rolled forward open-loop under the same random action sequences for `horizon`
steps: the model on its own predictions (`WorldModel.point_prediction`), never corrected by the real
observations. The error at step h is the mean squared difference between the predicted and the real observation,
over the dimensions and over the envs whose real episode has not ended before step h (a terminated or truncated
episode has no next state to compare); `no_change` is the same error for the guess "the observation stays".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rl_platform.checkpoint import load_checkpoint
from rl_platform.env_factory import make_vector_env
from rl_platform.errors import UserError
from rl_platform.experiment import resume_config
from rl_platform.registry import WORLD_MODELS
from rl_platform.rollout import VectorStepper
from rl_platform.run_dir import run_checkpoint
from rl_platform.world_models import WorldModel

MODEL_PREFIX = "model."


def load_world_model(run_dir: str | Path) -> tuple[WorldModel, Any]:
    """(the world model of a `world_model` pretraining run, the run's config), weights from its best checkpoint."""
    cfg = resume_config(run_dir)
    objective = getattr(getattr(cfg, "pretrain", None), "objective", None)
    if objective is None or objective.name != "world_model":
        what = f"a pretraining run of objective '{objective.name}'" if objective is not None else \
            f"a '{cfg.agent_name}' training run"
        raise UserError(f"'{run_dir}' has no world model: it is {what}. Train one with `rlp pretrain CONFIG "
                        "pretrain.objective=world_model pretrain.objective.model=mlp|ensemble`.")
    _, path = run_checkpoint(run_dir, "best")
    if not path.is_file():
        raise UserError(f"'{run_dir}' has no checkpoint yet ({path} does not exist).")
    envs = make_vector_env(cfg.env, 1)
    try:
        spec = WORLD_MODELS.get(objective.options.model.name, "pretrain.objective.model")
        model = spec.build(envs.single_observation_space, envs.single_action_space, objective.options.model.options)
    finally:
        envs.close()
    state = load_checkpoint(path)["objective"]
    model.load_state_dict({key[len(MODEL_PREFIX):]: value for key, value in state.items()
                           if key.startswith(MODEL_PREFIX)})
    return model.eval(), cfg


def random_actions(space: gym.Space, num_envs: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(int(space.start), int(space.start + space.n), num_envs)
    return rng.uniform(space.low, space.high, (num_envs, *space.shape)).astype(space.dtype)


def open_loop_errors(model: WorldModel, envs: gym.vector.VectorEnv, horizon: int, seed: int,
                     warmup: int = 30) -> dict[str, Any]:
    """Per-step open-loop errors of `model` against `envs` (see the module docstring)."""
    if horizon < 1:
        raise UserError(f"--horizon must be at least 1, got {horizon}.")
    rng = np.random.default_rng(seed)
    action_space = envs.single_action_space
    stepper = VectorStepper(envs, seed)  # next_obs is an ended episode's own last one, in every autoreset mode
    for _ in range(warmup):
        stepper.step(random_actions(action_space, envs.num_envs, rng))
    predicted = torch.as_tensor(stepper.obs, dtype=torch.float32)
    start = np.array(stepper.obs, copy=True)
    alive = np.ones(envs.num_envs, dtype=bool)
    errors, no_change, compared = [], [], []
    for _ in range(horizon):
        actions = random_actions(action_space, envs.num_envs, rng)
        predicted = model.point_prediction(predicted, torch.as_tensor(actions))
        batch = stepper.step(actions)
        alive &= batch.valid  # a next-step autoreset row is a reset, not a transition
        if not alive.any():
            break
        squared = (predicted.numpy() - batch.next_obs) ** 2
        errors.append(float(squared[alive].mean()))
        no_change.append(float(((start - batch.next_obs) ** 2)[alive].mean()))
        compared.append(int(alive.sum()))
        alive &= ~(batch.terminations | batch.truncations)
    return {"horizon": horizon, "envs": envs.num_envs, "seed": seed, "warmup": warmup, "mse": errors,
            "no_change_mse": no_change, "compared": compared, "one_step_mse": errors[0],
            "horizon_mse": errors[-1] if len(errors) == horizon else None}


def evaluate_model(run_dir: str | Path, horizon: int = 10, num_envs: int = 256, seed: int = 0) -> dict[str, Any]:
    """`rlp model-eval`: open-loop errors of a run's world model in the run's env."""
    model, cfg = load_world_model(run_dir)
    envs = make_vector_env(cfg.env, num_envs)
    try:
        result = open_loop_errors(model, envs, horizon, seed)
    finally:
        envs.close()
    return {"run_dir": str(run_dir), "env": cfg.env.id, "model": cfg.pretrain.objective.options.model.name, **result}


def format_model_eval(result: dict[str, Any]) -> str:
    lines = [f"{result['model']} world model of {result['run_dir']} on {result['env']}: open-loop errors from "
             f"{result['envs']} random-policy states (mean squared error per observation dimension)",
             "step | model mse | no-change mse | envs compared"]
    for step, (error, baseline, count) in enumerate(zip(result["mse"], result["no_change_mse"], result["compared"],
                                                       strict=True), start=1):
        lines.append(f"{step:4d} | {error:9.5f} | {baseline:13.5f} | {count}")
    return "\n".join(lines)
