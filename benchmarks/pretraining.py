"""Agents that start from data: DQN from scratch vs DQN initialised by pretraining vs DQfD-style DQN.

Everything runs through the `rlp` CLI, as a user would, in one run of this script (side by side, same
machine), with datasets in a temporary `MINARI_DATASETS_PATH`:

* CartPole (`rlp/CartPole-v1`): env steps to a confirmed greedy 475 (train.stop_return; 20 episodes, confirmed
  on 100 fresh ones) for DQN from scratch (configs/dqn_cartpole.yaml), DQN initialised from a BC run
  (configs/bc_cartpole.yaml on 20 expert episodes, then configs/dqn_from_bc_cartpole.yaml) and DQfD-style DQN
  (configs/dqfd_cartpole.yaml, same 20 episodes). The expert is a DQN run trained here (seed 1000) and
  collected greedily with `rlp collect --from`. Target: both pretrained variants <= 0.5x the scratch median.
* MountainCar-v0: DQfD-style DQN (configs/dqfd_mountaincar.yaml) from 10 expert episodes of a DQN run trained
  here (configs/dqn_mountaincar.yaml, seed 0); env steps to a confirmed greedy -110 (20 episodes, confirmed on
  100 fresh ones) within a 50k-step budget (target: every seed).
* MinAtar Breakout: the CNN encoder pretrained self-supervised (`dynamics`, `contrastive`) on 100k random-policy
  transitions, then CNN-DQN (configs/dqn_minatar_breakout.yaml with model.init_from, init_modules [encoder]);
  greedy return at 100k and 300k env steps vs scratch, as IQM over seeds with a 95% bootstrap CI (target: IQM at
  100k >= 1.2x scratch for at least one objective). Probes (`rlp probe`): reward and expert-action accuracy of
  each pretrained encoder vs a random one.
* Collection throughput: transitions/s written to a Minari dataset by `rlp collect` (1024 envs) vs Minari's own
  DataCollector on Gymnasium's CartPole (benchmarks/collection.py).

Runs of different seeds go `--jobs` at a time (default 2); only env steps and returns are compared, never wall
time, so parallel runs do not bias the figures.

Usage:
    .venv/bin/python benchmarks/pretraining.py [--seeds 0 1 2 3 4] [--sections cartpole mountaincar breakout
        collection] [--breakout-steps 300000] [--jobs 2] [--out JSON]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO_ROOT, format_table, machine_info, median, write_json

CONFIGS = REPO_ROOT / "configs"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "pretraining.json"
EXPERT_SEED = 1000
CARTPOLE_TARGET_RATIO = 0.5
MOUNTAINCAR_TARGET, MOUNTAINCAR_BUDGET = -110.0, 50_000
BREAKOUT_TARGET_RATIO = 1.2
BREAKOUT_DATA_STEPS = 100_000
BREAKOUT_EVAL_EPISODES = 30


class Workspace:
    """A temporary directory for run directories and datasets, and the `rlp` command run inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {**os.environ, "MINARI_DATASETS_PATH": str(root / "datasets")}

    def rlp(self, *args: str) -> str:
        """Run `rlp ARGS` (quiet where the command has it); its stdout; raises with stderr on failure."""
        command = [sys.executable, "-m", "rl_platform.cli", *args]
        done = subprocess.run(command, cwd=self.root, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"`rlp {' '.join(args)}` failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done.stdout

    def run_dir(self, name: str) -> Path:
        return self.root / "runs" / name

    def train(self, name: str, config: Path | str, *overrides: str, command: str = "train") -> dict[str, Any]:
        """`rlp train|pretrain CONFIG OVERRIDES --run-dir runs/NAME`; its metrics.json plus the wall time."""
        start = time.perf_counter()
        self.rlp(command, str(config), *overrides, "--run-dir", str(self.run_dir(name)), "--quiet")
        metrics = json.loads((self.run_dir(name) / "metrics.json").read_text())
        metrics["wall_seconds"] = time.perf_counter() - start
        return metrics


def parallel(jobs: int, tasks: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run the tasks `jobs` at a time (each starts `rlp` processes); results in task order."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda task: task(), tasks))


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean of the middle 50% (Agarwal et al., 2021), fractional ends weighted."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    n = len(ordered)
    low, high = 0.25 * n, 0.75 * n
    weights = np.clip(np.minimum(np.arange(1, n + 1), high) - np.maximum(np.arange(n), low), 0.0, 1.0)
    return float((weights * ordered).sum() / weights.sum())


def bootstrap_ci(values: Sequence[float], statistic: Callable[[Sequence[float]], float] = iqm,
                 resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of `statistic` over the runs."""
    rng = np.random.default_rng(seed)
    data = np.asarray(values, dtype=np.float64)
    stats = [statistic(data[rng.integers(0, len(data), len(data))]) for _ in range(resamples)]
    return float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))


def eval_curve(run_dir: Path) -> dict[int, float]:
    """eval/mean_return by step, read from the run's TensorBoard event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {int(event.step): float(event.value) for event in accumulator.Scalars("eval/mean_return")}


# ---------------------------------------------------------------------------------------------
# CartPole


def steps_to_solve(metrics: dict[str, Any]) -> int | None:
    return int(metrics["global_step"]) if metrics["reached_stop_return"] else None


def median_steps(steps: Sequence[int | None]) -> float | None:
    """Median env steps to solve, an unsolved run counting as more than any solved one (None if that is the
    median itself)."""
    value = float(np.median([math.inf if s is None else s for s in steps]))
    return None if math.isinf(value) else value


def summarize_cartpole(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, rows in runs.items():
        steps = [row["steps_to_solve"] for row in rows]
        summary[name] = {"median_steps": median_steps(steps), "solved": sum(s is not None for s in steps),
                         "runs": len(steps), "steps": steps}
    scratch_median = summary["scratch"]["median_steps"]
    for name in ("from_bc", "dqfd"):
        ratio = None if scratch_median is None or summary[name]["median_steps"] is None \
            else summary[name]["median_steps"] / scratch_median
        summary[name].update(ratio_to_scratch=ratio,
                             target_met=ratio is not None and ratio <= CARTPOLE_TARGET_RATIO)
    return summary


def cartpole(ws: Workspace, seeds: Sequence[int], jobs: int) -> dict[str, Any]:
    ws.train("cartpole_expert", CONFIGS / "dqn_cartpole.yaml", f"seed={EXPERT_SEED}")
    dataset = "bench/cartpole-expert-v0"
    collected = json.loads(ws.rlp("collect", "--from", str(ws.run_dir("cartpole_expert")), "--episodes", "20",
                                  "--out", dataset, "--seed", "1", "--json"))

    def scratch(seed: int) -> dict[str, Any]:
        return ws.train(f"cartpole_scratch_{seed}", CONFIGS / "dqn_cartpole.yaml", f"seed={seed}")

    def from_bc(seed: int) -> dict[str, Any]:
        bc = ws.train(f"cartpole_bc_{seed}", CONFIGS / "bc_cartpole.yaml", f"seed={seed}",
                      f"pretrain.dataset={dataset}", command="pretrain")
        dqn = ws.train(f"cartpole_from_bc_{seed}", CONFIGS / "dqn_from_bc_cartpole.yaml", f"seed={seed}",
                       f"model.init_from={ws.run_dir(f'cartpole_bc_{seed}')}")
        return {**dqn, "bc_mean_return": bc["mean_return"], "bc_steps": bc["global_step"],
                "bc_wall_seconds": bc["wall_seconds"]}

    def dqfd(seed: int) -> dict[str, Any]:
        return ws.train(f"cartpole_dqfd_{seed}", CONFIGS / "dqfd_cartpole.yaml", f"seed={seed}",
                        f"agent.demos={dataset}")

    variants = {"scratch": scratch, "from_bc": from_bc, "dqfd": dqfd}
    tasks = [(name, seed, fn) for seed in seeds for name, fn in variants.items()]
    results = parallel(jobs, [lambda fn=fn, seed=seed: fn(seed) for _, seed, fn in tasks])
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for (name, seed, _), metrics in zip(tasks, results, strict=True):
        runs[name].append({"seed": seed, "steps_to_solve": steps_to_solve(metrics), **metrics})
    summary = summarize_cartpole(runs)
    return {"expert_dataset": collected, "summary": summary, "runs": runs, "target_ratio": CARTPOLE_TARGET_RATIO}


# ---------------------------------------------------------------------------------------------
# MountainCar


def mountaincar(ws: Workspace, seeds: Sequence[int], jobs: int) -> dict[str, Any]:
    expert = ws.train("mountaincar_expert", CONFIGS / "dqn_mountaincar.yaml", "seed=0")
    dataset = "bench/mountaincar-expert-v0"
    collected = json.loads(ws.rlp("collect", "--from", str(ws.run_dir("mountaincar_expert")), "--episodes", "10",
                                  "--out", dataset, "--seed", "1", "--json"))

    def dqfd(seed: int) -> dict[str, Any]:
        metrics = ws.train(f"mountaincar_dqfd_{seed}", CONFIGS / "dqfd_mountaincar.yaml", f"seed={seed}",
                           f"agent.demos={dataset}", f"train.total_steps={MOUNTAINCAR_BUDGET}",
                           f"train.stop_return={MOUNTAINCAR_TARGET}")
        return {"seed": seed, "steps_to_target": steps_to_solve(metrics), "final_return": metrics["mean_return"],
                "best_return": metrics["best"]["mean_return"], "wall_seconds": metrics["wall_seconds"]}

    runs = parallel(jobs, [lambda seed=seed: dqfd(seed) for seed in seeds])
    reached = [run["steps_to_target"] for run in runs if run["steps_to_target"] is not None]
    return {"expert_run": {key: expert[key] for key in ("mean_return", "global_step", "best")},
            "expert_dataset": collected, "runs": runs, "target": MOUNTAINCAR_TARGET, "budget": MOUNTAINCAR_BUDGET,
            "reached_target": len(reached), "median_steps_to_target": median(reached) if reached else None,
            "target_met": len(reached) == len(runs)}


# ---------------------------------------------------------------------------------------------
# MinAtar Breakout


def breakout(ws: Workspace, seeds: Sequence[int], jobs: int, total_steps: int) -> dict[str, Any]:
    dataset = "bench/breakout-random-v0"
    collected = json.loads(ws.rlp("collect", "--policy", "random", "--env", "rlp/MinAtar-Breakout-v1",
                                  "--num-envs", "64", "--steps", str(BREAKOUT_DATA_STEPS), "--out", dataset,
                                  "--seed", "1", "--json"))
    objectives = ("dynamics", "contrastive")
    checkpoints = sorted({min(100_000, total_steps), total_steps})

    def dqn(name: str, seed: int, *overrides: str) -> dict[str, Any]:
        ws.train(name, CONFIGS / "dqn_minatar_breakout.yaml", f"seed={seed}", f"train.total_steps={total_steps}",
                 f"train.eval_every={checkpoints[0]}", f"train.eval_episodes={BREAKOUT_EVAL_EPISODES}", *overrides)
        curve = eval_curve(ws.run_dir(name))
        return {"seed": seed, **{str(step): curve.get(step) for step in checkpoints}}

    def variant(objective: str | None, seed: int) -> dict[str, Any]:
        if objective is None:
            return dqn(f"breakout_scratch_{seed}", seed)
        pretrain_dir = ws.run_dir(f"breakout_{objective}_{seed}")
        ws.train(pretrain_dir.name, CONFIGS / f"pretrain_{objective}_breakout.yaml", f"seed={seed}",
                 f"pretrain.dataset={dataset}", command="pretrain")
        probe = json.loads(ws.rlp("probe", str(pretrain_dir), "--dataset", dataset, "--json"))
        result = dqn(f"breakout_from_{objective}_{seed}", seed, f"model.init_from={pretrain_dir}",
                     "model.init_modules=[encoder]")
        return {**result, "probe": probe}

    tasks = [(objective, seed) for seed in seeds for objective in (None, *objectives)]
    results = parallel(jobs, [lambda o=o, s=s: variant(o, s) for o, s in tasks])
    runs: dict[str, list[dict[str, Any]]] = {"scratch": [], **{objective: [] for objective in objectives}}
    for (objective, _), result in zip(tasks, results, strict=True):
        runs[objective or "scratch"].append(result)
    summary: dict[str, Any] = {}
    for name, rows in runs.items():
        summary[name] = {}
        for step in checkpoints:
            values = [row[str(step)] for row in rows]
            summary[name][str(step)] = {"iqm": iqm(values), "ci95": bootstrap_ci(values), "values": values}
    first = str(checkpoints[0])
    for objective in objectives:
        ratio = summary[objective][first]["iqm"] / max(summary["scratch"][first]["iqm"], 1e-9)
        summary[objective]["ratio_to_scratch_at_" + first] = ratio
        summary[objective]["target_met"] = ratio >= BREAKOUT_TARGET_RATIO
    return {"dataset": collected, "checkpoints": checkpoints, "summary": summary, "runs": runs,
            "target_ratio": BREAKOUT_TARGET_RATIO}


# ---------------------------------------------------------------------------------------------


def collection(quick: bool) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).parent))
    from collection import measure_collection

    return measure_collection(50_000, 5_000, 2) if quick else measure_collection()


def print_tables(results: dict[str, Any]) -> None:
    if "cartpole" in results:
        rows = [[name, f"{s['solved']}/{s['runs']}", s["median_steps"], s.get("ratio_to_scratch"), s["steps"]]
                for name, s in results["cartpole"]["summary"].items()]
        print(format_table(["CartPole variant", "solved", "median steps", "x scratch", "steps per seed"], rows))
    if "mountaincar" in results:
        mc = results["mountaincar"]
        rows = [[run["seed"], run["steps_to_target"], run["final_return"]] for run in mc["runs"]]
        print(format_table(["MountainCar DQfD seed", f"steps to confirmed {mc['target']:g}", "final return"], rows))
    if "breakout" in results:
        br = results["breakout"]
        rows = [[name, step, f"{cell['iqm']:.2f}", f"[{cell['ci95'][0]:.2f}, {cell['ci95'][1]:.2f}]", cell["values"]]
                for name, by_step in br["summary"].items() for step, cell in by_step.items() if isinstance(cell, dict)
                and "iqm" in cell]
        print(format_table(["Breakout variant", "env steps", "IQM return", "95% CI", "per seed"], rows))
    if "collection" in results:
        print(json.dumps(results["collection"].get("summary", results["collection"]), indent=1))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--sections", nargs="+", default=["collection", "cartpole", "mountaincar", "breakout"],
                        choices=["collection", "cartpole", "mountaincar", "breakout"])
    parser.add_argument("--breakout-steps", type=int, default=300_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="collection: small sizes (a smoke run)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    # Sections may run in separate invocations: each records its own machine, commit and seeds, and a run of some
    # sections keeps the others' results already in --out.
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    with tempfile.TemporaryDirectory(prefix="rlp_pretraining_") as tmp:
        ws = Workspace(Path(tmp))
        for section in args.sections:
            start = time.perf_counter()
            info = {"machine": machine_info(), "seeds": args.seeds, "jobs": args.jobs}
            if section == "collection":
                results["collection"] = {**info, **collection(args.quick)}
            elif section == "cartpole":
                results["cartpole"] = {**info, **cartpole(ws, args.seeds, args.jobs)}
            elif section == "mountaincar":
                results["mountaincar"] = {**info, **mountaincar(ws, args.seeds, args.jobs)}
            else:
                results["breakout"] = {**info, **breakout(ws, args.seeds, args.jobs, args.breakout_steps)}
            results[section]["section_seconds"] = time.perf_counter() - start
            write_json(args.out, results)
            print(f"{section}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print_tables(results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
