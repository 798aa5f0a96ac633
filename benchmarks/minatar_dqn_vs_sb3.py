"""CNN-DQN on MinAtar Breakout: rl_platform vs Stable-Baselines3 DQN, same env-step budget, same CNN.

Each seed trains both sides for the same number of environment steps (`train.total_steps` of `--config`,
default configs/dqn_minatar_breakout.yaml), then evaluates the greedy (deterministic) policy over
`--eval-episodes` (100) episodes; a uniformly random policy is evaluated the same way on both envs as the floor.

* Ours: `experiment.train` on `--config` (Numba `rlp/MinAtar-Breakout-v1`, bool (4, 10, 10) observations,
  minimal action set, sticky actions 0.1) with periodic evaluation off (`train.eval_every=0`,
  `train.stop_return=null`), CPU, torch threads 1; then `experiment.evaluate_run` on the saved checkpoint.
* SB3: `stable_baselines3.DQN` on the reference `MinAtar/Breakout-v1` (package `minatar`, same rules and sticky
  actions), observations transposed to channel-first float32, with the same network: a `BaseFeaturesExtractor`
  that is our `cnn` encoder built from the config's `model` section (conv 16 x 3x3 stride 1 + ReLU, flatten,
  linear to `model.encoder.features_dim` + ReLU) and a linear Q head (`net_arch=[]`). Every DQN hyperparameter that SB3
  has is taken from the config (`sb3_hyperparameters`: n_envs, lr, buffer, batch, learning_starts, train_freq,
  gradient_steps, target update interval converted from gradient steps to env steps, tau, gamma, n-step,
  exploration schedule, gradient clip; Adam with torch defaults and Huber loss on both sides). What SB3's DQN
  lacks (double Q, dueling, prioritized replay) is listed under `differences`. The reference env has no time
  limit; it gets the same safety truncation as ours (`max_episode_steps`).

Training time runs from the call to `experiment.train` (ours: env creation, Numba compilation, logging, the
config's final 20-episode evaluation and the checkpoint included) or `make_vec_env` (SB3) to its end; the final
greedy evaluation is timed apart. Every run is a fresh spawned process; seeds run interleaved ours/SB3.

Usage (from the repository root; the full run takes about 30-40 minutes on 2 idle cores):
    .venv/bin/python benchmarks/minatar_dqn_vs_sb3.py [--seeds 0 1 2] [--eval-episodes 100]
        [--total-steps N] [--config CFG] [--out JSON]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from common import DEFAULT_PACKAGES, REPO_ROOT, format_table, machine_info, write_json
from torch import nn

from rl_platform import experiment
from rl_platform.config import ExperimentConfig, ModelConfig
from rl_platform.env_factory import load_env_plugins
from rl_platform.nn.cnn import CNNEncoder
from rl_platform.run import seed_for

OURS_ENV_ID = "rlp/MinAtar-Breakout-v1"
REFERENCE_ENV_ID = "MinAtar/Breakout-v1"
DEFAULT_CONFIG = REPO_ROOT / "configs" / "dqn_minatar_breakout.yaml"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "minatar_dqn_vs_sb3.json"

try:
    import minatar.gym
    import stable_baselines3
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    SB3_IMPORT_ERROR: str | None = None
except ImportError as exc:  # the `bench` extra or the `minatar` package is not installed
    SB3_IMPORT_ERROR = f"{type(exc).__name__}: {exc}"
    BaseFeaturesExtractor = nn.Module  # keeps the class below importable


class OurCNN(BaseFeaturesExtractor):
    """SB3 features extractor that is our `cnn` encoder itself, built from the config's `model` section."""

    def __init__(self, observation_space: gym.spaces.Box, model_cfg: ModelConfig) -> None:
        super().__init__(observation_space, model_cfg.encoder.options.features_dim)
        self.encoder = CNNEncoder(observation_space, model_cfg.encoder.options)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.encoder(obs)


class ChannelFirstFloat(gym.ObservationWrapper):
    """The reference's (10, 10, C) bool frames as (C, 10, 10) float32, the layout our env and CNN use."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        height, width, channels = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0.0, 1.0, (channels, height, width), np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(observation.transpose(2, 0, 1), dtype=np.float32)


def ours_max_episode_steps() -> int | None:
    load_env_plugins()
    return gym.spec(OURS_ENV_ID).max_episode_steps


def make_reference_env(max_episode_steps: int | None) -> gym.Env:
    """The reference Breakout (minimal actions, sticky 0.1), channel-first, with our safety truncation."""
    env = ChannelFirstFloat(gym.make(REFERENCE_ENV_ID, disable_env_checker=True))
    return gym.wrappers.TimeLimit(env, max_episode_steps) if max_episode_steps else env


def sb3_hyperparameters(cfg: ExperimentConfig) -> dict[str, Any]:
    """SB3 DQN constructor arguments equal to `cfg`'s DQN settings, where SB3 has them."""
    agent, env = cfg.agent, cfg.env
    # Ours counts the target interval in gradient steps, SB3 in env steps.
    env_steps_per_gradient_step = agent.train_freq * env.num_envs / agent.gradient_steps
    return {"n_envs": env.num_envs, "learning_rate": agent.lr, "buffer_size": agent.buffer_size,
            "learning_starts": agent.learning_starts, "batch_size": agent.batch_size, "tau": agent.tau,
            "gamma": agent.gamma, "train_freq": agent.train_freq, "gradient_steps": agent.gradient_steps,
            "n_steps": agent.n_step,
            "target_update_interval": round(agent.target_update_interval * env_steps_per_gradient_step),
            "exploration_fraction": agent.exploration_fraction,
            "exploration_initial_eps": agent.exploration_initial_eps,
            "exploration_final_eps": agent.exploration_final_eps,
            "max_grad_norm": agent.max_grad_norm if agent.max_grad_norm > 0 else float("inf")}


def differences(cfg: ExperimentConfig) -> list[str]:
    """Our settings that SB3's DQN cannot mirror."""
    agent = cfg.agent
    found = [f"ours double={agent.double}, SB3 has no double DQN" if agent.double else "",
             "ours uses a dueling head, SB3 DQN has none" if agent.dueling else "",
             "ours uses prioritized replay, SB3 DQN has none" if agent.prioritized else "",
             f"ours loss={agent.loss}, SB3 always Huber" if agent.loss != "huber" else "",
             "exploration: ours draws epsilon per env, SB3 once per vector step for all envs"]
    return [item for item in found if item]


# -- each function below runs in its own fresh process -----------------------------------------


def ours_run(config: str, overrides: list[str], run_dir: str, eval_episodes: int, eval_seed: int) -> dict[str, Any]:
    cfg = experiment.load_experiment(config, overrides)
    start = time.perf_counter()
    metrics = experiment.train(cfg, run_dir, quiet=True)
    trained = time.perf_counter()
    report = experiment.evaluate_run(run_dir, episodes=eval_episodes, seed=eval_seed)
    return {"steps": int(metrics["global_step"]), "train_seconds": trained - start,
            "eval_seconds": time.perf_counter() - trained, "sps": metrics["global_step"] / (trained - start),
            "mean_return": report["mean_return"], "std_return": report["std_return"],
            "episodes": report["episodes"]}


def sb3_run(cfg_dict: dict[str, Any], eval_episodes: int, eval_seed: int) -> dict[str, Any]:
    torch.set_num_threads(1)
    minatar.gym.register_envs()
    cfg = experiment.config_from_dict(cfg_dict)
    hyper = sb3_hyperparameters(cfg)
    n_envs = hyper.pop("n_envs")
    max_steps = ours_max_episode_steps()
    policy_kwargs = {"features_extractor_class": OurCNN, "net_arch": [], "normalize_images": False,
                     "features_extractor_kwargs": {"model_cfg": cfg.model}}
    start = time.perf_counter()
    env = make_vec_env(lambda: make_reference_env(max_steps), n_envs=n_envs, seed=cfg.seed)
    model = DQN("CnnPolicy", env, policy_kwargs=policy_kwargs, seed=cfg.seed, device="cpu", verbose=0, **hyper)
    model.learn(total_timesteps=cfg.train.total_steps)
    trained = time.perf_counter()
    env.close()
    eval_env = make_vec_env(lambda: make_reference_env(max_steps), n_envs=min(eval_episodes, 32), seed=eval_seed)
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=eval_episodes, deterministic=True,
                                 return_episode_rewards=True)
    eval_env.close()
    return {"steps": int(model.num_timesteps), "train_seconds": trained - start,
            "eval_seconds": time.perf_counter() - trained, "sps": model.num_timesteps / (trained - start),
            "mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "episodes": len(returns),
            "network": str(model.q_net)}


def random_returns(env_id: str, episodes: int, seed: int) -> dict[str, Any]:
    """Uniform random actions on one env for `episodes` episodes (`env_id`: ours or the reference)."""
    if env_id == REFERENCE_ENV_ID:
        minatar.gym.register_envs()
        env = make_reference_env(ours_max_episode_steps())
    else:
        load_env_plugins()
        env = gym.make(env_id)
    env.action_space.seed(seed)
    returns = []
    env.reset(seed=seed)
    for _ in range(episodes):
        env.reset()
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "episodes": episodes}


def in_fresh_process(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """`fn(*args)` in a new spawned process; a failure becomes {"error": ...}."""
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
            return pool.submit(reporting_errors, fn, *args).result()
    except Exception as exc:  # noqa: BLE001 - report it and go on with the other runs
        return {"error": f"{type(exc).__name__}: {exc}"}


def reporting_errors(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - not every exception survives unpickling
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}


# -- main --------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r and "skipped" not in r]
    if not ok:
        return {"runs": 0}
    means = [r["mean_return"] for r in ok]
    return {"runs": len(ok), "mean_of_means": statistics.fmean(means), "min_of_means": min(means),
            "max_of_means": max(means), "median_train_seconds": statistics.median(r["train_seconds"] for r in ok),
            "median_sps": statistics.median(r["sps"] for r in ok)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default 0 1 2)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="ours' config (and SB3's settings)")
    parser.add_argument("--total-steps", type=int, default=None, help="env-step budget (default: the config's)")
    parser.add_argument("--eval-episodes", type=int, default=100, help="final greedy episodes (default 100)")
    parser.add_argument("--random-episodes", type=int, default=1000, help="random-policy episodes (default 1000)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    overrides = ["train.eval_every=0", "train.stop_return=null", "train.device=cpu", "train.torch_threads=1"]
    if args.total_steps is not None:
        overrides.append(f"train.total_steps={args.total_steps}")
    cfg = experiment.load_experiment(args.config, overrides)
    if cfg.model.encoder.name != "cnn" or cfg.env.id != OURS_ENV_ID:
        raise SystemExit(f"{args.config}: expected model.encoder cnn on {OURS_ENV_ID}")
    data: dict[str, Any] = {
        "benchmark": "minatar_dqn_vs_sb3", "machine": machine_info((*DEFAULT_PACKAGES, "MinAtar")),
        "argv": sys.argv[1:], "config_file": args.config, "overrides": overrides, "config_seed0": cfg.to_dict(),
        "sb3_version": None if SB3_IMPORT_ERROR else stable_baselines3.__version__,
        "sb3_skipped_reason": SB3_IMPORT_ERROR, "eval_episodes": args.eval_episodes,
        "sb3_hyperparameters": sb3_hyperparameters(cfg), "differences": differences(cfg),
        "max_episode_steps": ours_max_episode_steps()}
    budget = cfg.train.total_steps
    print(f"CNN-DQN on MinAtar Breakout, {budget:,} env steps per run, greedy eval over {args.eval_episodes} "
          f"episodes; seeds {args.seeds} interleaved ours/SB3 (load average at start "
          f"{data['machine']['load_average_at_start']})", flush=True)
    if SB3_IMPORT_ERROR is not None:
        print(f"  SB3 side skipped: {SB3_IMPORT_ERROR}")

    random_env_ids = [OURS_ENV_ID] + ([REFERENCE_ENV_ID] if SB3_IMPORT_ERROR is None else [])
    data["random"] = {env_id: in_fresh_process(random_returns, env_id, args.random_episodes, 0)
                      for env_id in random_env_ids}
    for env_id, result in data["random"].items():
        print(f"  random policy on {env_id}: {fmt(result.get('mean_return'))} "
              f"+- {fmt(result.get('std_return'))} over {args.random_episodes} episodes", flush=True)

    runs = []
    with tempfile.TemporaryDirectory(prefix="minatar_bench_") as tmp:
        for seed in args.seeds:
            eval_seed = seed_for(seed, 4)  # the same final-eval seed for both sides
            seed_overrides = [*overrides, f"seed={seed}"]
            ours = in_fresh_process(ours_run, str(args.config), seed_overrides, str(Path(tmp) / f"ours_{seed}"),
                                    args.eval_episodes, eval_seed)
            print(f"  seed {seed} ours: {describe(ours)}", flush=True)
            sb3: dict[str, Any] = {"skipped": SB3_IMPORT_ERROR}
            if SB3_IMPORT_ERROR is None:
                seed_cfg = experiment.load_experiment(args.config, seed_overrides).to_dict()
                sb3 = in_fresh_process(sb3_run, seed_cfg, args.eval_episodes, eval_seed)
                print(f"  seed {seed} SB3:  {describe(sb3)}", flush=True)
            runs.append({"seed": seed, "ours": ours, "sb3": sb3})
    data["runs"] = runs
    data["summary"] = {side: summarize([r[side] for r in runs]) for side in ("ours", "sb3")}
    rows = [[r["seed"], *cells(r["ours"]), *cells(r["sb3"])] for r in runs]
    cols = ["return", "train [s]", "SPS", "eval [s]"]
    print("\n" + format_table(["seed", *(f"ours {c}" for c in cols), *(f"SB3 {c}" for c in cols)], rows))
    ours_sum, sb3_sum = data["summary"]["ours"], data["summary"]["sb3"]
    random_mean = data["random"][OURS_ENV_ID].get("mean_return")
    print(f"mean greedy return over seeds: ours {fmt(ours_sum.get('mean_of_means'))} | "
          f"SB3 {fmt(sb3_sum.get('mean_of_means'))} | random {fmt(random_mean)}")
    data["notes"] = ["Returns: greedy policy, sticky actions as each env has them (0.1), mean over eval_episodes "
                     "episodes per seed. Train time includes start-up; SPS = steps / train time.",
                     "Timings are only comparable on an otherwise idle machine; see load_average_at_start."]
    print(f"wrote {write_json(args.out, data)}")
    return 1 if any("error" in r[side] for r in runs for side in ("ours", "sb3")) else 0


def describe(result: dict[str, Any]) -> str:
    if "error" in result or "skipped" in result:
        return f"failed: {result.get('error') or result.get('skipped')}"
    return (f"return {result['mean_return']:.2f} +- {result['std_return']:.2f} over {result['episodes']} episodes, "
            f"train {result['train_seconds']:.0f} s ({result['sps']:.0f} steps/s), eval {result['eval_seconds']:.1f} s")


def cells(result: dict[str, Any]) -> list[str]:
    if "error" in result or "skipped" in result:
        return ["-"] * 4
    return [fmt(result["mean_return"]), fmt(result["train_seconds"], ".0f"), fmt(result["sps"], ",.0f"),
            fmt(result["eval_seconds"], ".1f")]


if __name__ == "__main__":
    sys.exit(main())
