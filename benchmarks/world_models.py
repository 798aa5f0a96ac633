"""World models: what planning in a learned model buys, side by side in one run.

* Tabular Dyna-Q (`agent.planning_steps`, agents/tabular_q/dyna.py) on slippery FrozenLake 8x8 and Taxi:
  finished episodes until the greedy policy's exact value (on the env's published model) is within `tolerance`
  of the best stationary policy's and stays there for 3 checks in a row
  (agents/tabular_q/measure.py). Plain Q-learning (n = 0) runs its own shipped config
  (configs/tabular_q_*.yaml) and, for a like-for-like check, the Dyna config with planning off; Dyna-Q runs
  n = 50 with sample updates (as published) and with expected updates. Target: >= 5x fewer episodes with n = 50
  than the better of the two n = 0 runs.
  Runs that never hold the optimum within their config's budget count as slower than any that do.
* Dyna-DQN (`dyna_dqn`, agents/dqn/dyna.py) on CartPole, `--dqn-seeds` (default 0-4): env steps to a confirmed
  greedy 475 (`train.stop_return`) of configs/dyna_dqn_cartpole.yaml against DQN as shipped
  (configs/dqn_cartpole.yaml) and, to tell what the model adds from what the other hyperparameters do, the Dyna
  config with `agent.model=null` (plain DQN, same batch, gradient steps and exploration). Target: Dyna-DQN's median
  <= 0.5x DQN's. A run unsolved within its config's budget counts as slower than any solved one.
* Model accuracy (`accuracy`): `mlp` and `ensemble` world models trained offline (`rlp pretrain`,
  `pretrain.objective: world_model`, 5000 gradient steps) on 100k random-policy transitions of CartPole, Acrobot
  and Pendulum (`rlp collect --policy random`), then `rlp model-eval --horizon 10`: the open-loop mean squared
  error per observation dimension at 1 and 10 steps from 1000 random-policy states, next to "no change".
* `gan` (benchmarks/world_models_gan.py): the `gan` model's next-state distribution on slippery FrozenLake 8x8 (total
  variation from the exact P(s'|s,a), against the deterministic `mlp`) and its open-loop errors on the three
  vector envs; `frames` (benchmarks/world_models_frames.py): the MinAtar `frame` model's per-cell accuracy and
  exact-frame match, and TV distances on Breakout and Asterix; `dream` (benchmarks/world_models_dream.py): DQN
  trained only inside a learned CartPole model, evaluated in the real env, and the world-model env's steps/s.
  Each module also runs on its own (its --help); here each is one section of the shared JSON.

Usage:
    .venv/bin/python benchmarks/world_models.py [--sections dyna_q dyna_dqn accuracy gan frames dream]
        [--seeds 0 1 ... 9]
        [--dqn-seeds 0 1 2 3 4] [--jobs 2] [--out JSON]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import REPO_ROOT, format_table, machine_info, median, write_json
from pretraining import Workspace, parallel

from rl_platform import experiment
from rl_platform.agents.tabular_q.measure import episodes_to_optimal

CONFIGS = REPO_ROOT / "configs"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "world_models.json"
DYNA_TARGET_RATIO = 5.0
HOLD = 3

# env -> (tolerance on the exact return, episodes between checks, {variant: (config, overrides)})
DYNA_Q: dict[str, tuple[float, int, dict[str, tuple[str, list[str]]]]] = {
    "FrozenLake8x8-v1": (0.01, 100, {
        "q_learning": ("tabular_q_frozenlake8x8.yaml", []),
        "dyna_config_n0": ("dyna_q_frozenlake8x8.yaml", ["agent.planning_steps=0"]),
        "dyna_q_sample": ("dyna_q_frozenlake8x8.yaml", ["agent.planning_update=sample"]),
        "dyna_q_expected": ("dyna_q_frozenlake8x8.yaml", ["agent.planning_update=expected"]),
    }),
    "Taxi-v4": (0.01, 20, {
        "q_learning": ("tabular_q_taxi.yaml", []),
        "dyna_config_n0": ("dyna_q_taxi.yaml", ["agent.planning_steps=0"]),
        "dyna_q_sample": ("dyna_q_taxi.yaml", ["agent.planning_update=sample"]),
        "dyna_q_expected": ("dyna_q_taxi.yaml", ["agent.planning_update=expected"]),
    }),
}


def slowest_last(episodes: list[int | None]) -> float:
    """Median episodes, a run that never held the optimum counting as slower than all that did."""
    return median([math.inf if e is None else e for e in episodes])


def dyna_q(seeds: list[int]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for env_name, (tolerance, check_every, variants) in DYNA_Q.items():
        env_results: dict[str, Any] = {"tolerance": tolerance, "check_every": check_every, "hold": HOLD}
        for variant, (config, overrides) in variants.items():
            runs = []
            for seed in seeds:
                cfg = experiment.load_experiment(CONFIGS / config, [*overrides, f"seed={seed}"])
                start = time.perf_counter()
                result = episodes_to_optimal(cfg, tolerance, check_every, HOLD)
                runs.append({"seed": seed, "episodes": result.episodes, "env_steps": result.env_steps,
                             "gap": result.gap, "seconds": time.perf_counter() - start})
                print(f"{env_name} {variant} seed {seed}: {result.episodes} episodes", file=sys.stderr)
            episodes = [run["episodes"] for run in runs]
            env_results[variant] = {"config": config, "overrides": overrides, "planning_steps":
                                    cfg.agent.planning_steps, "runs": runs, "episodes": episodes,
                                    "median_episodes": slowest_last(episodes),
                                    "held": sum(e is not None for e in episodes)}
        # The baseline is the better of the two n = 0 runs: the ratio never flatters planning.
        baseline = min(env_results["q_learning"]["median_episodes"], env_results["dyna_config_n0"]["median_episodes"])
        env_results["baseline_median_episodes"] = baseline
        for variant in ("dyna_q_sample", "dyna_q_expected"):
            dyna = env_results[variant]["median_episodes"]
            ratio = baseline / dyna if math.isfinite(dyna) else 0.0
            env_results[variant]["fewer_episodes_x"] = ratio
            env_results[variant]["target_met"] = bool(ratio >= DYNA_TARGET_RATIO)
        results[env_name] = env_results
    return results


def print_dyna_q(results: dict[str, Any]) -> None:
    rows = []
    for env_name, env_results in results.items():
        for variant, r in env_results.items():
            if not isinstance(r, dict):
                continue
            ratio = r.get("fewer_episodes_x")
            rows.append([env_name, variant, r["planning_steps"], f"{r['held']}/{len(r['episodes'])}",
                         r["median_episodes"], "" if ratio is None else f"{ratio:.1f}x",
                         " ".join("-" if e is None else str(e) for e in r["episodes"])])
    print(format_table(["env", "variant", "n", "held", "median episodes", "fewer vs best n=0", "episodes"], rows))


# variant -> (config, overrides): DQN as shipped, Dyna-DQN as shipped, and the Dyna config without its model
DYNA_DQN: dict[str, tuple[str, list[str]]] = {
    "dqn": ("dqn_cartpole.yaml", []),
    "dyna_dqn": ("dyna_dqn_cartpole.yaml", []),
    "dyna_config_no_model": ("dyna_dqn_cartpole.yaml", ["agent.model=null"]),
}
DYNA_DQN_TARGET_RATIO = 0.5


def dyna_dqn(seeds: list[int], jobs: int) -> dict[str, Any]:
    """Env steps to a confirmed greedy 475 on CartPole (train.stop_return), per variant and seed."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rlp_dyna_dqn_") as tmp:
        ws = Workspace(Path(tmp))
        for variant, (config, overrides) in DYNA_DQN.items():
            tasks = [functools.partial(ws.train, f"{variant}_{seed}", CONFIGS / config, *overrides, f"seed={seed}")
                     for seed in seeds]
            runs = []
            for seed, metrics in zip(seeds, parallel(jobs, tasks), strict=True):
                solved = metrics["global_step"] if metrics["reached_stop_return"] else None
                runs.append({"seed": seed, "env_steps": solved, "stopped_at": metrics["global_step"],
                             "eval_return": metrics["mean_return"], "seconds": metrics["wall_seconds"]})
                print(f"dyna_dqn {variant} seed {seed}: {solved} env steps", file=sys.stderr)
            steps = [run["env_steps"] for run in runs]
            results[variant] = {"config": config, "overrides": overrides, "runs": runs, "env_steps": steps,
                                "median_env_steps": slowest_last(steps), "solved": sum(s is not None for s in steps),
                                "median_seconds": median([run["seconds"] for run in runs])}
    ratio = results["dyna_dqn"]["median_env_steps"] / results["dqn"]["median_env_steps"]
    results["ratio_vs_dqn"] = ratio
    results["target_met"] = bool(ratio <= DYNA_DQN_TARGET_RATIO)
    return results


def print_dyna_dqn(results: dict[str, Any]) -> None:
    rows = []
    for variant in DYNA_DQN:
        r = results[variant]
        ratio = r["median_env_steps"] / results["dqn"]["median_env_steps"]
        rows.append([variant, f"{r['solved']}/{len(r['env_steps'])}", r["median_env_steps"], f"{ratio:.2f}x",
                     f"{r['median_seconds']:.0f}", " ".join("-" if s is None else str(s) for s in r["env_steps"])])
    print(format_table(["variant", "solved", "median env steps", "vs dqn", "median s", "env steps per seed"], rows))


# env -> (config with the agent whose spaces fit, overrides)
ACCURACY_ENVS: dict[str, tuple[str, list[str]]] = {
    "rlp/CartPole-v1": ("bc_cartpole.yaml", []),
    "rlp/Acrobot-v1": ("bc_cartpole.yaml", ["env.id=rlp/Acrobot-v1"]),
    "rlp/Pendulum-v1": ("a3c_pendulum.yaml", []),
}
ACCURACY_MODELS = ("mlp", "ensemble")
ACCURACY_DATA_STEPS, ACCURACY_TRAIN_STEPS, ACCURACY_HORIZON, ACCURACY_STATES = 100_000, 5000, 10, 1000


def accuracy() -> dict[str, Any]:
    results: dict[str, Any] = {"data_steps": ACCURACY_DATA_STEPS, "train_steps": ACCURACY_TRAIN_STEPS,
                               "horizon": ACCURACY_HORIZON, "states": ACCURACY_STATES}
    with tempfile.TemporaryDirectory(prefix="rlp_world_models_") as tmp:
        ws = Workspace(Path(tmp))
        for env_id, (config, overrides) in ACCURACY_ENVS.items():
            name = f"bench/{env_id.split('/')[1].split('-')[0].lower()}-random-v0"
            ws.rlp("collect", "--policy", "random", "--env", env_id, "--num-envs", "64", "--steps",
                   str(ACCURACY_DATA_STEPS), "--out", name, "--seed", "0", "--json")
            env_results: dict[str, Any] = {}
            for model in ACCURACY_MODELS:
                run = f"{name.split('/')[1]}_{model}"
                metrics = ws.train(run, CONFIGS / config, *overrides, f"pretrain.dataset={name}",
                                   "pretrain.objective=world_model", f"pretrain.objective.model={model}",
                                   f"pretrain.steps={ACCURACY_TRAIN_STEPS}", "pretrain.batch_size=256",
                                   "pretrain.lr=1e-3", "train.eval_episodes=1", command="pretrain")
                report = json.loads(ws.rlp("model-eval", str(ws.run_dir(run)), "--horizon", str(ACCURACY_HORIZON),
                                           "--num-envs", str(ACCURACY_STATES), "--json"))
                env_results[model] = {**report, "pretrain_seconds": metrics["wall_seconds"]}
                print(f"{env_id} {model}: 1-step {report['one_step_mse']:.3g}, {ACCURACY_HORIZON}-step "
                      f"{report['horizon_mse']}", file=sys.stderr)
            results[env_id] = env_results
    return results


def print_accuracy(results: dict[str, Any]) -> None:
    rows = []
    for env_id, env_results in results.items():
        if not isinstance(env_results, dict) or env_id not in ACCURACY_ENVS:
            continue
        for model, r in env_results.items():
            rows.append([env_id, model, f"{r['one_step_mse']:.3g}", f"{r['no_change_mse'][0]:.3g}",
                         f"{r['mse'][-1]:.3g}", f"{r['no_change_mse'][-1]:.3g}", r["compared"][-1]])
    print(format_table(["env", "model", "1-step mse", "no change", f"{ACCURACY_HORIZON}-step mse", "no change",
                        "envs at the last step"], rows))


# section -> (run(args) -> figures, print_table(figures))
SECTIONS: dict[str, tuple[Callable[[argparse.Namespace], dict[str, Any]], Callable[[dict[str, Any]], None]]] = {
    "dyna_q": (lambda args: {"seeds": args.seeds, **dyna_q(args.seeds)},
               lambda r: print_dyna_q({k: v for k, v in r.items() if k in DYNA_Q})),
    "dyna_dqn": (lambda args: {"seeds": args.dqn_seeds, **dyna_dqn(args.dqn_seeds, args.jobs)}, print_dyna_dqn),
    "accuracy": (lambda args: accuracy(), print_accuracy),
    # the gan, the MinAtar frame model and dream training: their own modules, run as sections here
    "gan": (lambda args: _module("world_models_gan").run(), lambda r: _module("world_models_gan").print_table(r)),
    "frames": (lambda args: _module("world_models_frames").run(),
               lambda r: _module("world_models_frames").print_table(r)),
    "dream": (lambda args: _module("world_models_dream").run(), lambda r: _module("world_models_dream").print_table(r)),
}


def _module(name: str) -> Any:
    """A section module (imported when its section runs: they import this one)."""
    return importlib.import_module(name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)), help="dyna_q seeds")
    parser.add_argument("--dqn-seeds", type=int, nargs="+", default=list(range(5)), help="dyna_dqn seeds")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time where a section runs `rlp` processes")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for section in args.sections:
        start = time.perf_counter()
        results[section] = {"machine": machine_info(), **SECTIONS[section][0](args)}
        results[section]["section_seconds"] = time.perf_counter() - start
        write_json(args.out, results)
    for section, (_, print_table) in SECTIONS.items():
        if section in results:
            print_table(results[section])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
