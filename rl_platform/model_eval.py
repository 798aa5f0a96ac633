"""`rlp model-eval RUN_DIR`: how well a run's learned world model predicts the real env.

From `envs` states reached by a random policy (the env reset with `seed`, then `warmup` random vector steps),
the real env and the model are rolled forward open-loop under the same random action sequences for `horizon`
steps: the model on its own predictions (`WorldModel.point_prediction`), never corrected by the real
observations. The error at step h is the mean squared difference between the predicted and the real observation,
over the dimensions and over the envs whose real episode has not ended before step h (a terminated or truncated
episode has no next state to compare); `no_change` is the same error for the guess "the observation stays".
For bool frames (MinAtar) the error is the share of wrong cells, and the per-cell accuracy (1 - that share) and
the exact-frame match rate (every cell right) are reported too. `--distribution K` adds the next-state
distribution distances of :mod:`rl_platform.distribution_eval`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rl_platform.checkpoint import load_checkpoint
from rl_platform.components import Component
from rl_platform.env_factory import make_vector_env
from rl_platform.errors import UserError
from rl_platform.experiment import resume_config
from rl_platform.mdp import TransitionModel
from rl_platform.registry import WORLD_MODELS
from rl_platform.rollout import VectorStepper
from rl_platform.run_dir import run_checkpoint
from rl_platform.world_models import WorldModel

MODEL_PREFIX = "model."


def world_model_source(cfg: Any) -> tuple[Component, str] | None:
    """(the world-model component, the checkpoint it is saved in) of a run's config, or None if the run trains
    none: a `world_model` pretraining run keeps its model in best.pt (the best-validation weights), a Dyna-DQN run
    (`agent.model`) in latest.pt (the model trained on the most data)."""
    objective = getattr(getattr(cfg, "pretrain", None), "objective", None)
    if objective is not None:
        return (objective.options.model, "best") if objective.name == "world_model" else None
    for field in dataclasses.fields(cfg.agent):
        value = getattr(cfg.agent, field.name)
        if field.metadata.get("component") is WORLD_MODELS and value is not None:
            return value, "latest"
    return None


def load_world_model(run_dir: str | Path) -> tuple[WorldModel, Any]:
    """(the world model a run trained, the run's config): a `world_model` pretraining run's or a Dyna-DQN run's."""
    cfg = resume_config(run_dir)
    source = world_model_source(cfg)
    if source is None:
        objective = getattr(getattr(cfg, "pretrain", None), "objective", None)
        what = f"a pretraining run of objective '{objective.name}'" if objective is not None else \
            f"a '{cfg.agent_name}' training run without agent.model"
        raise UserError(f"'{run_dir}' has no world model: it is {what}. Train one with `rlp pretrain CONFIG "
                        "pretrain.objective=world_model pretrain.objective.model=mlp|ensemble`, or a Dyna-DQN run "
                        "(agent.model).")
    component, which = source
    _, path = run_checkpoint(run_dir, which)
    if not path.is_file():
        raise UserError(f"'{run_dir}' has no checkpoint yet ({path} does not exist).")
    envs = make_vector_env(cfg.env, 1)
    try:
        spec = WORLD_MODELS.get(component.name, "world model")
        model = spec.build(envs.single_observation_space, envs.single_action_space, component.options)
    finally:
        envs.close()
    checkpoint = load_checkpoint(path)
    if "objective" in checkpoint:
        state = {key[len(MODEL_PREFIX):]: value for key, value in checkpoint["objective"].items()
                 if key.startswith(MODEL_PREFIX)}
    else:
        state = checkpoint["agent"]["imagination"]["world_model"]
    model.load_state_dict(state)
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
    frames = envs.single_observation_space.dtype == np.bool_  # MinAtar: also per-cell accuracy, exact frames
    frame_match, no_change_frame_match = [], []
    for _ in range(horizon):
        actions = random_actions(action_space, envs.num_envs, rng)
        predicted = model.point_prediction(predicted, torch.as_tensor(actions))
        batch = stepper.step(actions)
        alive &= batch.valid  # a next-step autoreset row is a reset, not a transition
        if not alive.any():
            break
        if frames:  # 0/1 cells: the squared error is the share of wrong cells
            wrong, unchanged_wrong = predicted.numpy() != batch.next_obs, start != batch.next_obs
            errors.append(float(wrong[alive].mean()))
            no_change.append(float(unchanged_wrong[alive].mean()))
            rows = int(alive.sum())
            frame_match.append(float(1.0 - wrong[alive].reshape(rows, -1).any(1).mean()))
            no_change_frame_match.append(float(1.0 - unchanged_wrong[alive].reshape(rows, -1).any(1).mean()))
        else:
            squared = (predicted.numpy() - batch.next_obs) ** 2
            errors.append(float(squared[alive].mean()))
            no_change.append(float(((start - batch.next_obs) ** 2)[alive].mean()))
        compared.append(int(alive.sum()))
        alive &= ~(batch.terminations | batch.truncations)
    result = {"horizon": horizon, "envs": envs.num_envs, "seed": seed, "warmup": warmup, "mse": errors,
              "no_change_mse": no_change, "compared": compared, "one_step_mse": errors[0],
              "horizon_mse": errors[-1] if len(errors) == horizon else None}
    if frames:
        result.update(cell_accuracy=[1.0 - error for error in errors], frame_match=frame_match,
                      no_change_cell_accuracy=[1.0 - error for error in no_change],
                      no_change_frame_match=no_change_frame_match)
    return result


def evaluate_model(run_dir: str | Path, horizon: int = 10, num_envs: int = 256, seed: int = 0,
                   distribution_samples: int = 0, distribution_given: str = "state", warmup: int = 30
                   ) -> dict[str, Any]:
    """`rlp model-eval`: open-loop errors of a run's world model in the run's env, from the states after `warmup`
    random steps; with `distribution_samples` K > 0 also the next-state distribution distances from `num_envs`
    states, K samples each, against the env's distribution given its full state or given the observation
    (`distribution_given`; :func:`rl_platform.distribution_eval.distribution_distances`). The envs start together,
    so a short warmup leaves their episode clocks in step (MinAtar Asterix: every env's entities move on the same
    steps); a warmup of several episode lengths mixes them through the resets."""
    if distribution_samples < 0:
        raise UserError(f"--distribution must be at least 0 (samples per state; 0: off), got {distribution_samples}.")
    if warmup < 0:
        raise UserError(f"--warmup must be at least 0, got {warmup}.")
    model, cfg = load_world_model(run_dir)
    envs = make_vector_env(cfg.env, num_envs)
    try:
        result = open_loop_errors(model, envs, horizon, seed, warmup)
    finally:
        envs.close()
    if distribution_samples > 0:
        from rl_platform.distribution_eval import distribution_distances

        result["distribution"] = distribution_distances(model, cfg.env, num_envs, distribution_samples, seed,
                                                        warmup, distribution_given)
    return {"run_dir": str(run_dir), "env": cfg.env.id, "model": world_model_source(cfg)[0].name, **result}


def format_model_eval(result: dict[str, Any]) -> str:
    lines = [f"{result['model']} world model of {result['run_dir']} on {result['env']}: open-loop errors from "
             f"{result['envs']} random-policy states (mean squared error per observation dimension)",
             "step | model mse | no-change mse | envs compared"]
    for step, (error, baseline, count) in enumerate(zip(result["mse"], result["no_change_mse"], result["compared"],
                                                       strict=True), start=1):
        lines.append(f"{step:4d} | {error:9.5f} | {baseline:13.5f} | {count}")
    if "frame_match" in result:
        lines.append("step | cell accuracy | no-change | exact frames | no-change")
        for step, row in enumerate(zip(result["cell_accuracy"], result["no_change_cell_accuracy"],
                                       result["frame_match"], result["no_change_frame_match"], strict=True), start=1):
            lines.append(f"{step:4d} | {row[0]:13.5f} | {row[1]:9.5f} | {row[2]:12.4f} | {row[3]:9.4f}")
    if "distribution" in result:
        d = result["distribution"]
        lines.append(f"next-state total-variation distance (given the {d['condition']}; {d['states']} states, "
                     f"{d['samples']} samples each): "
                     f"samples {d['sample_tv']:.4f}, point prediction {d['point_tv']:.4f}, noise floor "
                     f"{d['noise_floor']:.4f}")
    return "\n".join(lines)


def reachable_states(table: TransitionModel) -> np.ndarray:
    """The states an episode can be in before it ends: initial states and next states of non-terminating outcomes."""
    reachable = table.initial > 0
    reachable[table.next_state[(table.probs > 0) & ~table.terminated]] = True
    return np.flatnonzero(reachable)


def discrete_next_state_tv(model: WorldModel, table: TransitionModel, samples: int = 200, seed: int = 0,
                           pairs: np.ndarray | None = None) -> dict[str, Any]:
    """Total-variation distance between a world model's next-state distribution and the exact one of a finite MDP
    with Discrete observations (FrozenLake, Taxi: `table` from :func:`rl_platform.envs.model.vector_env_model`).

    For each (state, action) of `pairs` ((P, 2) ints; default: every action in every :func:`reachable_states`
    state), `samples` steps of `model.sample` (one seeded torch generator) give an empirical next-state
    distribution q; its distance to the exact P(. | s, a) is TV = 0.5 * sum_s' |q(s') - P(s' | s, a)|, in [0, 1].
    A deterministic model's q is a point mass: TV = 1 - P(its guess). With finitely many samples the estimate is
    biased upward (q's sampling noise adds distance); `floor` is the same estimate for `samples` draws from P itself,
    the value a perfect model would get. Returns the means over the pairs and each pair's TV."""
    if pairs is None:
        states = reachable_states(table)
        pairs = np.stack(np.meshgrid(states, np.arange(table.num_actions), indexing="ij"), -1).reshape(-1, 2)
    num_states = table.num_states
    exact = np.zeros((len(pairs), num_states))
    for row, (state, action) in enumerate(pairs):
        np.add.at(exact[row], table.next_state[state, action], table.probs[state, action])
    obs = torch.as_tensor(np.repeat(pairs[:, 0], samples))
    actions = torch.as_tensor(np.repeat(pairs[:, 1], samples))
    drawn = model.sample(obs, actions, torch.Generator().manual_seed(seed)).next_obs
    drawn = drawn.cpu().numpy().astype(np.int64).reshape(len(pairs), samples)
    counts = np.zeros((len(pairs), num_states))
    np.add.at(counts, (np.repeat(np.arange(len(pairs)), samples), drawn.reshape(-1)), 1.0)
    tv = 0.5 * np.abs(counts / samples - exact).sum(1)
    rng = np.random.default_rng(seed)
    floor = 0.5 * np.abs(np.stack([rng.multinomial(samples, p / p.sum()) for p in exact]) / samples - exact).sum(1)
    return {"samples": samples, "pairs": len(pairs), "tv": float(tv.mean()), "floor": float(floor.mean()),
            "per_pair_tv": tv.tolist()}
