"""The Python API behind `rlp`: load and validate an experiment, train it, evaluate a run."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
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
from rl_platform.env_factory import check_env_id, make_vector_env
from rl_platform.errors import UserError
from rl_platform.registry import AGENTS, ENCODERS
from rl_platform.run import CHECKPOINT_FILE, Run, evaluate, run_dir_name, seed_for


def config_from_dict(data: dict[str, Any]) -> ExperimentConfig:
    """Validate a raw config dict, including the agent, encoder and env names it refers to."""
    cfg = build_config(data, lambda name: AGENTS.get(name, "agent.name").config_cls)
    ENCODERS.get(cfg.model.encoder, "model.encoder")
    check_env_id(cfg.env.id)
    return cfg


def load_experiment(config_path: str | Path | None, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read a YAML config (the default experiment if None) and apply `key.path=value` overrides."""
    data = read_yaml(config_path if config_path is not None else DEFAULT_CONFIG)
    return config_from_dict(apply_overrides(data, overrides))


def train(cfg: ExperimentConfig, run_dir: str | Path | None = None, quiet: bool = False,
          resume: bool = False) -> dict[str, Any]:
    """Train `cfg` in `run_dir` (default: log.dir/<env>__<agent>__<seed>__<time>); returns final metrics."""
    path = Path(run_dir) if run_dir is not None else Path(cfg.log.dir) / run_dir_name(cfg)
    spec = AGENTS.get(cfg.agent_name, "agent.name")
    created = not path.exists()
    try:
        with Run(cfg, path, quiet=quiet, resume=resume) as run:
            return spec.train(run)
    except UserError:
        # A user mistake found at start-up (a broken env, an agent that cannot use the env's
        # spaces) leaves no half-made run directory behind, unless a checkpoint was written.
        if created and not (path / "checkpoints" / CHECKPOINT_FILE).exists():
            shutil.rmtree(path, ignore_errors=True)
        raise


def resume_config(run_dir: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    config_file = Path(run_dir) / "config.yaml"
    if not config_file.is_file():
        raise UserError(f"'{run_dir}' is not a run directory: {config_file} does not exist.")
    return config_from_dict(apply_overrides(read_yaml(config_file), overrides))


def evaluate_run(run_dir: str | Path, episodes: int, seed: int | None = None) -> dict[str, Any]:
    """Greedy evaluation of a run's latest checkpoint over `episodes` episodes."""
    cfg = resume_config(run_dir)
    checkpoint = Path(run_dir) / "checkpoints" / CHECKPOINT_FILE
    if not checkpoint.is_file():
        raise UserError(f"run '{run_dir}' has no checkpoint ({checkpoint} does not exist).")
    envs = make_vector_env(cfg.env, min(episodes, 32))
    try:
        import torch

        spec = AGENTS.get(cfg.agent_name)
        agent = spec.make_agent(cfg, envs, torch.device("cpu"))
        agent.load_state_dict(load_checkpoint(checkpoint)["agent"])
        eval_seed = seed_for(cfg.seed if seed is None else seed, 3)
        returns = evaluate(lambda obs: agent.act(obs, explore=False), envs, episodes, eval_seed)
        extra = spec.report(cfg, agent, envs) if spec.report is not None else {}
    finally:
        envs.close()
    return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
            "episodes": int(len(returns)), "min_return": float(np.min(returns)),
            "max_return": float(np.max(returns)), "run_dir": str(run_dir), **extra}
