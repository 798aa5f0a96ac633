"""World models: what planning in a learned model buys, side by side in one run.

* Tabular Dyna-Q (`agent.planning_steps`, agents/tabular_q/dyna.py) on slippery FrozenLake 8x8 and Taxi:
  finished episodes until the greedy policy's exact value (on the env's published model) is within `tolerance`
  of the best stationary policy's and stays there for 3 checks in a row
  (agents/tabular_q/measure.py). Plain Q-learning (n = 0) runs its own shipped config
  (configs/tabular_q_*.yaml) and, for a like-for-like check, the Dyna config with planning off; Dyna-Q runs
  n = 50 with sample updates (as published) and with expected updates. Target: >= 5x fewer episodes with n = 50
  than the better of the two n = 0 runs.
  Runs that never hold the optimum within their config's budget count as slower than any that do.

Usage:
    .venv/bin/python benchmarks/world_models.py [--seeds 0 1 2 3 4 5 6 7 8 9] [--out JSON]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from common import REPO_ROOT, format_table, machine_info, median, write_json

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--sections", nargs="+", default=["dyna_q"], choices=["dyna_q"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for section in args.sections:
        start = time.perf_counter()
        info = {"machine": machine_info(), "seeds": args.seeds}
        results[section] = {**info, **dyna_q(args.seeds)}
        results[section]["section_seconds"] = time.perf_counter() - start
        write_json(args.out, results)
    print_dyna_q({k: v for k, v in results["dyna_q"].items() if k in DYNA_Q})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
