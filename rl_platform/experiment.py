"""The Python API behind `rlp`: load and validate an experiment, train it, evaluate a run."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rl_platform.checkpoint import load_checkpoint
from rl_platform.config import (
    DEFAULT_CONFIG,
    ExperimentConfig,
    apply_overrides,
    build_config,
    read_yaml,
)
from rl_platform.env_factory import check_env_id
from rl_platform.errors import ConfigError, UserError
from rl_platform.registry import AGENTS
from rl_platform.run import Run, evaluate, make_eval_envs, seed_for
from rl_platform.run_dir import (
    CHECKPOINT_FILE,
    CHECKPOINTS,
    claim_run_dir,
    create_unique_dir,
    finished_at,
    resume_changes,
    run_checkpoint,
    run_dir_name,
)


class RunFinished(UserError):
    """`--resume` of a run that has nothing left to train; nothing was changed."""


def config_from_dict(data: dict[str, Any]) -> ExperimentConfig:
    """Validate a raw config dict, including the agent, component and env names it refers to."""
    cfg = build_config(data, lambda name: AGENTS.get(name, "agent.name").config_cls)
    check_env_id(cfg.env.id)
    if cfg.train.eval_env is not None:
        try:
            check_env_id(cfg.train.eval_env.id)
        except ConfigError as exc:
            raise ConfigError("train.eval_env.id", exc.detail) from None
    return cfg


def _agent_name(data: dict[str, Any]) -> Any:
    agent = data.get("agent", "dqn")
    return agent.get("name", "dqn") if isinstance(agent, dict) else agent


def load_experiment(config_path: str | Path | None, overrides: Sequence[str] = (),
                    notes: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML config (the default experiment if None) and apply `key.path=value` overrides.

    An override that names another agent (`agent.name=a3c`) drops the file's agent section, whose keys
    belong to the file's agent; a line saying so is appended to `notes`."""
    data = read_yaml(config_path if config_path is not None else DEFAULT_CONFIG)
    file_agent = _agent_name(data)
    name_overrides = [item for item in overrides if item.partition("=")[0] in ("agent", "agent.name")]
    new_agent = _agent_name(apply_overrides({}, name_overrides)) if name_overrides else file_agent
    if new_agent != file_agent:
        section = data.pop("agent", None)
        dropped = sorted(str(k) for k in section if k != "name") if isinstance(section, dict) else []
        if notes is not None and dropped:
            notes.append(f"agent '{new_agent}' replaces the config's '{file_agent}': its agent keys "
                         f"({', '.join(dropped)}) are dropped; '{new_agent}' starts from its defaults.")
    return config_from_dict(apply_overrides(data, overrides))


def agent_label(cfg: ExperimentConfig) -> str:
    """The agent's part of a run's name (`a2c` for A3C's sync mode: the two must be told apart)."""
    spec = AGENTS.get(cfg.agent_name, "agent.name")
    return spec.label(cfg.agent) if spec.label is not None else cfg.agent_name


def train(cfg: ExperimentConfig, run_dir: str | Path | None = None, quiet: bool = False,
          resume: bool = False, overrides: Sequence[str] = (), overwrite: bool = False) -> dict[str, Any]:
    """Train `cfg` and return its final metrics.

    A new run goes to `run_dir`, which must be empty or new (`overwrite` replaces a run there), or by default
    to a new folder log.dir/<env>__<agent>__<seed>__<time>[__<overrides>]. `resume` continues the run in
    `run_dir`, which `cfg` may differ from only in the keys a resume can change; `overrides` are recorded."""
    if cfg.pretrain is not None:
        raise UserError("this config has a `pretrain:` section (it trains on a dataset, not in the env): run it "
                        "with `rlp pretrain`.")
    spec = AGENTS.get(cfg.agent_name, "agent.name")
    return _run(cfg, run_dir, agent_label(cfg), spec.train, quiet, resume, overrides, overwrite)


def pretrain(cfg: ExperimentConfig, run_dir: str | Path | None = None, quiet: bool = False,
             resume: bool = False, overrides: Sequence[str] = (), overwrite: bool = False) -> dict[str, Any]:
    """Pretrain the network of `cfg`'s agent on `cfg.pretrain.dataset` (see :mod:`rl_platform.pretrain`) and
    return the final metrics; run directories as in :func:`train`, named <env>__pretrain-<objective>__<seed>__<time>."""
    from rl_platform import pretrain as pretraining

    train_data, held_out = pretraining.prepare(cfg, resume)
    return _run(cfg, run_dir, f"pretrain-{cfg.pretrain.objective.name}",
                lambda run: pretraining.run_pretraining(run, train_data, held_out), quiet, resume, overrides,
                overwrite, command="pretrain")


def _run(cfg: ExperimentConfig, run_dir: str | Path | None, label: str, body: Callable[[Run], dict[str, Any]],
         quiet: bool, resume: bool, overrides: Sequence[str], overwrite: bool,
         command: str = "train") -> dict[str, Any]:
    """`body(run)` in a new run directory (or the resumed `run_dir`); see :func:`train`."""
    changes, resumed = None, None
    if resume:
        if run_dir is None:
            raise UserError("resume needs the run directory.")
        path, created = Path(run_dir), False
        changes, resumed = _check_resume(path, cfg, command)
    elif run_dir is None:
        path = create_unique_dir(Path(cfg.log.dir), run_dir_name(cfg.env.id, label, cfg.seed, overrides))
        created = True
    else:
        path = Path(run_dir)
        created = claim_run_dir(path, overwrite)
    try:
        with Run(cfg, path, quiet=quiet, resumed=resumed, overrides=overrides, changes=changes) as run:
            return body(run)
    except Exception:
        # A failure before the first checkpoint (a broken env, an agent that cannot use the env's spaces)
        # leaves no half-made run directory behind.
        if created and not (path / "checkpoints" / CHECKPOINT_FILE).exists():
            shutil.rmtree(path, ignore_errors=True)
        raise


def _check_resume(run_dir: Path, cfg: ExperimentConfig,
                  command: str = "train") -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """(what `cfg` changes in the run's saved config, its latest checkpoint); RunFinished if the run has
    nothing left to train (its message names `rlp <command> --resume`)."""
    saved = resume_config(run_dir)
    changes = resume_changes(saved.flat(), cfg.flat())
    checkpoint = run_dir / "checkpoints" / CHECKPOINT_FILE
    if not checkpoint.is_file():
        raise UserError(f"cannot resume: {checkpoint} does not exist (no checkpoint was written).")
    state = load_checkpoint(checkpoint)
    step = int(state["global_step"])
    metrics = finished_at(run_dir, step)
    if metrics is not None and cfg.train.total_steps <= step:
        how = "reached train.stop_return" if metrics.get("reached_stop_return") else \
            f"trained its train.total_steps={saved.train.total_steps:,}"
        raise RunFinished(f"run {run_dir} is finished: it {how} at step {step:,}; nothing was changed. "
                          f"`rlp eval {run_dir}` evaluates it; to train further raise train.total_steps "
                          f"(`rlp {command} --resume {run_dir} train.total_steps={2 * step}`).")
    return changes, state


def resume_config(run_dir: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """The config saved in a run directory, with `overrides` applied."""
    config_file = Path(run_dir) / "config.yaml"
    if not config_file.is_file():
        raise UserError(f"'{run_dir}' is not a run directory: {config_file} does not exist.")
    return config_from_dict(apply_overrides(read_yaml(config_file), overrides))


def evaluate_run(run_dir: str | Path, episodes: int, seed: int | None = None,
                 checkpoint: str = "best") -> dict[str, Any]:
    """Greedy evaluation of a run's `best` (default) or `last` checkpoint over `episodes` episodes.

    `best` is the policy of the run's best evaluation; a run without one (written before best checkpoints
    existed) is evaluated from its last checkpoint, and the result says so."""
    if checkpoint not in CHECKPOINTS:
        raise UserError(f"--checkpoint must be one of {', '.join(CHECKPOINTS)}, got '{checkpoint}'.")
    cfg = resume_config(run_dir)
    checkpoint, path = run_checkpoint(run_dir, checkpoint)
    if not path.is_file():
        raise UserError(f"run '{run_dir}' has no checkpoint ({path} does not exist).")
    state = load_checkpoint(path)
    envs = make_eval_envs(cfg, min(episodes, 32))  # train.eval_env if the run has one
    try:
        import torch

        spec = AGENTS.get(cfg.agent_name)
        agent = spec.make_agent(cfg, envs, torch.device("cpu"))
        agent.load_state_dict(state["agent"])
        eval_seed = seed_for(cfg.seed if seed is None else seed, 3)
        returns = evaluate(agent, envs, episodes, eval_seed)
        extra = spec.report(cfg, agent, envs) if spec.report is not None else {}
    finally:
        envs.close()
    return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
            "episodes": int(len(returns)), "min_return": float(np.min(returns)),
            "max_return": float(np.max(returns)), "env": (cfg.train.eval_env or cfg.env).id,
            "run_dir": str(run_dir), "checkpoint": checkpoint,
            "checkpoint_step": int(state["global_step"]), **extra}
