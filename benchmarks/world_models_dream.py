"""Training in imagination: DQN trained only inside a learned CartPole model (`rlp/WorldModel-v0`), evaluated in the
real env; and how fast the world-model env steps. A section of benchmarks/world_models.py (`run`, `print_table`).

* Dream training (`dream`), per seed: `rlp collect --policy random` DATA_STEPS real rlp/CartPole-v1 transitions
  (the only real data), `rlp pretrain` a world model on them (`pretrain.objective=world_model`, `ensemble`;
  configs/bc_cartpole.yaml as the agent whose spaces fit), then `rlp train configs/dream_dqn_cartpole.yaml
  env.kwargs.run=<that run>`; every seed its own data, model and agent. The figure: the greedy return in the real
  env of the run's *last* policy over 100 fresh episodes (`rlp eval --checkpoint last`), so that the real env
  never chose a checkpoint (the periodic evaluations in the real env are reported, they choose nothing: the config
  has no train.stop_return). Target: >= 400 (mean over seeds).
* Throughput (`throughput`): imagined steps/s of `gymnasium.make_vec("rlp/WorldModel-v0", num_envs=4096,
  run=...)` on the CPU under random actions (a cached table of 64 action arrays, cycled) for the `mlp` and the
  `ensemble` model of seed 0, next to the real `rlp/CartPole-v1` Numba vector env at 4096 envs, in the same
  process and run.

Usage (the whole section):
    .venv/bin/python benchmarks/world_models_dream.py [--seeds 0 1 2 3 4] [--dream-model ensemble|mlp] [--out JSON]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO_ROOT, format_table, machine_info, write_json
from pretraining import Workspace, eval_curve

CONFIGS = REPO_ROOT / "configs"
DREAM_CONFIG = CONFIGS / "dream_dqn_cartpole.yaml"
REAL_ENV = "rlp/CartPole-v1"
TARGET_RETURN = 400.0
DATA_STEPS = 100_000  # real transitions per seed, all of them from `rlp collect`
DATA_ENVS = 64
PRETRAIN_STEPS = 5000
EVAL_EPISODES = 100
DREAM_MODEL = "ensemble"  # the model DQN trains in (its sampled steps make a policy robust to the model's errors)
THROUGHPUT_MODELS = ("mlp", "ensemble")
THROUGHPUT_ENVS = 4096
THROUGHPUT_SECONDS = 3.0


def pretrain_model(ws: Workspace, dataset: str, model: str, seed: int) -> Path:
    """A `world_model` pretraining run of `model` on `dataset`; its run directory."""
    name = f"model_{model}_{seed}"
    ws.train(name, CONFIGS / "bc_cartpole.yaml", f"pretrain.dataset={dataset}", "pretrain.objective=world_model",
             f"pretrain.objective.model={model}", f"pretrain.steps={PRETRAIN_STEPS}", "pretrain.batch_size=256",
             "pretrain.lr=1e-3", "train.eval_episodes=1", f"seed={seed}", command="pretrain")
    return ws.run_dir(name)


def dream_seed(ws: Workspace, seed: int, model: str) -> dict[str, Any]:
    dataset = f"bench/cartpole-random-{seed}-v0"
    start = time.perf_counter()
    collected = json.loads(ws.rlp("collect", "--policy", "random", "--env", REAL_ENV, "--num-envs", str(DATA_ENVS),
                                  "--steps", str(DATA_STEPS), "--out", dataset, "--seed", str(seed), "--json"))
    model_run = pretrain_model(ws, dataset, model, seed)
    model_seconds = time.perf_counter() - start
    metrics = ws.train(f"dream_{seed}", DREAM_CONFIG, f"env.kwargs.run={model_run}", f"seed={seed}")
    final = json.loads(ws.rlp("eval", str(ws.run_dir(f"dream_{seed}")), "--checkpoint", "last", "--episodes",
                              str(EVAL_EPISODES), "--json"))
    curve = eval_curve(ws.run_dir(f"dream_{seed}"))
    print(f"dream seed {seed}: real-env return {final['mean_return']:.1f} (periodic evaluations "
          f"{[round(v) for v in curve.values()]})", file=sys.stderr)
    return {"seed": seed, "real_transitions": collected["steps"], "data_episodes": collected["episodes"],
            "data_mean_return": collected["mean_return"], "model_run_seconds": model_seconds,
            "dream_steps": metrics["global_step"], "dream_seconds": metrics["wall_seconds"],
            "real_return": final["mean_return"], "real_return_std": final["std_return"],
            "real_return_min": final["min_return"], "eval_env": final["env"],
            "periodic_real_evals": {str(step): value for step, value in curve.items()}}


def dream(ws: Workspace, seeds: list[int], model: str) -> dict[str, Any]:
    runs = [dream_seed(ws, seed, model) for seed in seeds]
    returns = [run["real_return"] for run in runs]
    mean = float(np.mean(returns))
    return {"config": str(DREAM_CONFIG.relative_to(REPO_ROOT)), "model": model, "data": "random policy",
            "data_steps": DATA_STEPS, "pretrain_steps": PRETRAIN_STEPS, "eval_episodes": EVAL_EPISODES,
            "target": TARGET_RETURN, "runs": runs, "real_returns": returns, "mean_real_return": mean,
            "seeds_at_target": sum(r >= TARGET_RETURN for r in returns), "target_met": bool(mean >= TARGET_RETURN)}


def steps_per_second(envs: Any, seconds: float, seed: int = 0) -> dict[str, float]:
    """Env steps/s of `envs.step` under a cached table of random actions, after a warm-up."""
    rng = np.random.default_rng(seed)
    space = envs.single_action_space
    table = [rng.integers(space.start, space.start + space.n, envs.num_envs) for _ in range(64)]
    envs.reset(seed=seed)
    for actions in table[:10]:
        envs.step(actions)
    steps, start = 0, time.perf_counter()
    while steps < 20 or time.perf_counter() - start < seconds:
        envs.step(table[steps % len(table)])
        steps += 1
    elapsed = time.perf_counter() - start
    return {"vector_steps": steps, "seconds": elapsed, "steps_per_second": steps * envs.num_envs / elapsed}


def throughput(ws: Workspace, model_runs: dict[str, Path]) -> dict[str, Any]:
    import gymnasium as gym
    import torch

    import rl_platform.envs  # noqa: F401  (registers rlp/ envs)

    os.environ["MINARI_DATASETS_PATH"] = ws.env["MINARI_DATASETS_PATH"]  # the model runs' datasets
    default_threads = torch.get_num_threads()
    results: dict[str, Any] = {"num_envs": THROUGHPUT_ENVS, "envs": {}}
    for model, run_dir in model_runs.items():
        envs = gym.make_vec("rlp/WorldModel-v0", num_envs=THROUGHPUT_ENVS, run=str(run_dir))
        for threads in sorted({1, default_threads}):  # one core, and torch's default (every core)
            torch.set_num_threads(threads)
            results["envs"][f"WorldModel-v0 ({model}, {threads} torch thread{'s' * (threads > 1)})"] = \
                steps_per_second(envs, THROUGHPUT_SECONDS)
        envs.close()
    torch.set_num_threads(default_threads)
    envs = gym.make_vec(REAL_ENV, num_envs=THROUGHPUT_ENVS)
    results["envs"][f"{REAL_ENV} (Numba)"] = steps_per_second(envs, THROUGHPUT_SECONDS)
    envs.close()
    real = results["envs"][f"{REAL_ENV} (Numba)"]["steps_per_second"]
    for figures in results["envs"].values():
        figures["vs_real"] = figures["steps_per_second"] / real
    return results


def run(seeds: list[int] | None = None, dream_model: str = DREAM_MODEL) -> dict[str, Any]:
    """Both parts in one temporary workspace: dream training over `seeds` (default 0-4) inside `dream_model`
    models, then the throughput of the world-model env built from seed `seeds[0]`'s models."""
    seeds = list(range(5)) if seeds is None else seeds
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rlp_dream_") as tmp:
        ws = Workspace(Path(tmp))
        results: dict[str, Any] = {"machine": machine_info(), "seeds": seeds, "dream": dream(ws, seeds, dream_model)}
        model_runs = {dream_model: ws.run_dir(f"model_{dream_model}_{seeds[0]}")}  # trained by dream()
        for model in THROUGHPUT_MODELS:
            if model not in model_runs:
                model_runs[model] = pretrain_model(ws, f"bench/cartpole-random-{seeds[0]}-v0", model, seeds[0])
        results["throughput"] = throughput(ws, model_runs)
    results["section_seconds"] = time.perf_counter() - start
    return results


def print_table(results: dict[str, Any]) -> None:
    part = results["dream"]
    rows = [[r["seed"], f"{r['real_transitions']:,}", f"{r['dream_steps']:,}", f"{r['real_return']:.1f}",
             f"{r['real_return_min']:.0f}", " ".join(f"{v:.0f}" for v in r["periodic_real_evals"].values())]
            for r in part["runs"]]
    print(f"Dream training: DQN ({part['config']}) only inside a {part['model']} model of {part['data']} data; "
          f"greedy return of the last policy in {REAL_ENV}, {part['eval_episodes']} episodes")
    print(format_table(["seed", "real transitions", "imagined steps", "real return", "min", "periodic real evals"],
                       rows))
    print(f"mean {part['mean_real_return']:.1f} (target >= {part['target']:.0f}: "
          f"{'met' if part['target_met'] else 'NOT met'}); {part['seeds_at_target']}/{len(part['runs'])} seeds >= "
          f"{part['target']:.0f}")
    speed = results["throughput"]
    print(f"Steps/s at {speed['num_envs']} envs, random actions, CPU")
    print(format_table(["env", "steps/s", "vs real Numba env"],
                       [[name, f"{r['steps_per_second']:,.0f}", f"{r['vs_real']:.3f}x"]
                        for name, r in speed["envs"].items()]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(5)))
    parser.add_argument("--dream-model", default=DREAM_MODEL, choices=THROUGHPUT_MODELS)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    results = run(args.seeds, args.dream_model)
    if args.out is not None:
        write_json(args.out, results)
    print_table(results)


if __name__ == "__main__":
    main()
