"""A3C on CartPole-v1: wall-clock time to solve vs Stable-Baselines3 A2C, and SPS with 1 vs 2 workers.

Part 1, time to solve = to the first greedy (deterministic) evaluation over 20 episodes with mean >= 475 that a
second greedy evaluation over the config's train.stop_confirm_episodes (100) fresh episodes confirms (mean >= 475;
otherwise training goes on), the same rule on both sides.
Ours: `--config` (default configs/a3c_cartpole.yaml: async A3C, 2 worker processes x 64 envs), with its
own eval_every (10k env steps), eval_episodes, stop_return (475) and total_steps (500k: the budget).
SB3: `stable_baselines3.A2C` on Gymnasium's CartPole-v1 with the rl-baselines3-zoo hyperparameters,
DLR-RM/rl-baselines3-zoo hyperparams/a2c.yml, entry CartPole-v1 (commit c6c209e7d487635f0b835fb916ec4468142b28ff):
n_envs 8, n_timesteps 5e5, policy MlpPolicy, ent_coef 0.0; the rest are SB3's A2C defaults (lr 7e-4
constant, n_steps 5, RMSprop alpha 0.99 eps 1e-5, gamma 0.99, gae_lambda 1.0, vf_coef 0.5, max_grad_norm
0.5, separate [64, 64] tanh policy and value nets). `make_vec_env(..., n_envs=8)` (DummyVecEnv), CPU,
torch threads 1; a callback runs `evaluate_policy(deterministic=True)` over the same number of episodes
on a 20-env DummyVecEnv every eval_every env steps (counted over all envs), confirms as ours (the same seeds)
and stops at a confirmed evaluation.
Ours anneals its lr linearly to 0 over total_steps; SB3's stays constant (the zoo's setting).

Both sides are timed from just before the training envs / agent are built (ours: the `experiment.train`
call, so worker start-up and loading or compiling the Numba kernels count; SB3: `make_vec_env`) to the end of
the evaluation that first reached 475 (unsolved: to the end of the budget). Evaluation time is included,
and reported apart. Ours' start-up is estimated from wrapped `Run.record` calls: the time of the first
worker report minus the time its steps took at the rate of the reports before the first evaluation;
SB3's is the time to `learn()`'s training start. Every run runs in a fresh spawned process, so each pays
the same one-time costs; imports happen before the clock starts. Seeds run interleaved ours/SB3.

Part 2, SPS: ours with eval off (train.eval_every=0, train.stop_return=null, train.eval_episodes=1) for
`--sps-steps` env steps with num_workers in `--sps-workers`, and sync A2C in one process for reference,
`--sps-repeats` rounds interleaved, medians. Steady-state SPS = (last - first step) / (wall time between
them) of the TensorBoard `charts/sps` events, written every log.log_every steps from the first worker
report on: start-up and the final eval and checkpoint are excluded. The last `charts/sps` value
(Run.sps: steps/s since the first report) is kept in the JSON too.

Usage (from the repository root; the full run takes about 3 minutes on 2 cores):
    .venv/bin/python benchmarks/a3c_time_to_solve.py [--seeds 0 1 ... 9] [--sb3-budget 500000]
        [--parts solve sps] [--no-kernel-cache] [--sps-steps 600000] [--sps-repeats 5] [--sps-workers 1 2]
        [--no-sps-sync]
"""

from __future__ import annotations

import argparse
import inspect
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import REPO_ROOT, format_table, machine_info, median, write_json

from rl_platform import experiment
from rl_platform.run import Run, seed_for

ENV_ID = "CartPole-v1"
SOLVE_TARGET = 0.25  # ours' median time to solve <= 0.25x SB3's
SPS_TARGET = 1.7  # 2 workers >= 1.7x the SPS of 1 worker
DEFAULT_CONFIG = REPO_ROOT / "configs" / "a3c_cartpole.yaml"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "a3c_time_to_solve.json"
ZOO_SOURCE = ("DLR-RM/rl-baselines3-zoo hyperparams/a2c.yml, CartPole-v1 "
              "(commit c6c209e7d487635f0b835fb916ec4468142b28ff)")
ZOO_CARTPOLE_A2C: dict[str, Any] = {"n_envs": 8, "n_timesteps": 500_000, "policy": "MlpPolicy", "ent_coef": 0.0}

try:
    import stable_baselines3
    from stable_baselines3 import A2C
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    SB3_IMPORT_ERROR: str | None = None
except ImportError as exc:  # the `bench` extra is not installed
    SB3_IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


def sb3_effective_hyperparameters() -> dict[str, Any]:
    """The A2C constructor defaults of the installed SB3, with the zoo's settings on top (for the JSON)."""
    defaults = {name: p.default for name, p in inspect.signature(A2C.__init__).parameters.items()
                if name in ("learning_rate", "n_steps", "gamma", "gae_lambda", "vf_coef", "max_grad_norm",
                            "rms_prop_eps", "use_rms_prop", "normalize_advantage")}
    return {**defaults, **ZOO_CARTPOLE_A2C, "policy_net": "pi [64, 64], vf [64, 64], tanh (MlpPolicy default)"}


def in_fresh_process(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """`fn(*args)` in a new spawned process; a failure becomes {"error": ...} (Ctrl-C still aborts)."""
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
            return pool.submit(reporting_errors, fn, *args).result()
    except Exception as exc:  # noqa: BLE001 - report it and keep benchmarking the other runs
        return {"error": f"{type(exc).__name__}: {exc}", "solved": False}


def reporting_errors(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """In the child: an exception becomes {"error": ...} (not all exceptions survive unpickling)."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}", "solved": False}


# -- part 1: time to solve (each function runs in its own process) ------------------------------


def ours_solve(config: str, overrides: list[str], run_dir: str, kernel_cache: bool = True) -> dict[str, Any]:
    """Train ours once; wrap Run.record / Run.evaluate_returns to time start-up, evals and the solve.
    `kernel_cache=False` compiles the Numba kernels in the run, as the first run on a machine does."""
    os.environ["RLP_KERNEL_CACHE"] = "1" if kernel_cache else "0"
    cfg = experiment.load_experiment(config, overrides)
    threshold, confirm = cfg.train.stop_return, cfg.train.stop_confirm_episodes
    records: list[tuple[float, int]] = []  # (time, step) of Run.record calls before the first eval
    evals = {"seconds": 0.0, "count": 0, "solved_at": None, "last_mean": None, "confirming": False}
    record, evaluate_returns = Run.record, Run.evaluate_returns

    def timed_record(run: Run, step: int, *args: Any, **kwargs: Any) -> None:
        if evals["count"] == 0:
            records.append((time.perf_counter(), step))
        record(run, step, *args, **kwargs)

    def timed_eval(run: Run, policy: Any, *args: Any) -> np.ndarray:
        begin = time.perf_counter()
        returns = evaluate_returns(run, policy, *args)
        end = time.perf_counter()
        evals["seconds"] += end - begin
        evals["count"] += 1
        evals["last_mean"] = float(returns.mean())
        confirmation, evals["confirming"] = evals["confirming"], False  # a periodic eval >= threshold: next call
        reached = evals["last_mean"] >= threshold
        if reached and confirm > 0 and not confirmation:
            evals["confirming"] = True
        elif evals["solved_at"] is None and reached:
            evals["solved_at"], evals["solved_eval_seconds"] = end, evals["seconds"]
        return returns

    Run.record, Run.evaluate_returns = timed_record, timed_eval  # this process is ours alone
    start = time.perf_counter()
    metrics = experiment.train(cfg, run_dir, quiet=True)
    end = time.perf_counter()
    solved = evals["solved_at"] is not None
    startup = None
    if records:
        (t1, s1), (tk, sk) = records[0], records[-1]
        rate = (sk - s1) / (tk - t1) if tk > t1 and sk > s1 else math.inf
        startup = t1 - start - s1 / rate
    return {"solved": solved, "steps": int(metrics["global_step"]),
            "seconds": (evals["solved_at"] if solved else end) - start,
            "eval_seconds": evals["solved_eval_seconds"] if solved else evals["seconds"],
            "num_evals": evals["count"], "last_eval_mean": evals["last_mean"], "startup_seconds": startup,
            "train_call_seconds": end - start, "budget_steps": cfg.train.total_steps}


def sb3_solve(seed: int, budget: int, eval_every: int, episodes: int, threshold: float,
              confirm: int) -> dict[str, Any]:
    """Train SB3 A2C once (zoo hyperparameters, CPU, 1 thread), evaluating like ours."""
    torch.set_num_threads(1)

    class SolveCallback(BaseCallback):
        def __init__(self) -> None:
            super().__init__(verbose=0)
            self.eval_env: Any = None
            self.next_eval, self.eval_seconds, self.num_evals, self.started = eval_every, 0.0, 0, 0.0
            self.last_mean: float | None = None
            self.solved_at: float | None = None
            self.solved_step = 0

        def _on_training_start(self) -> None:
            self.started = time.perf_counter()

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next_eval:
                return True
            self.next_eval = (self.num_timesteps // eval_every + 1) * eval_every
            begin = time.perf_counter()
            if self.eval_env is None:  # built lazily, like ours, so it counts as eval time
                self.eval_env = make_vec_env(ENV_ID, n_envs=min(episodes, 32))
            self.num_evals += 1
            self.eval_env.seed(seed_for(seed, 1, self.num_evals))  # the same eval seeds as ours
            mean, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=episodes, deterministic=True)
            if mean >= threshold and confirm > 0:  # confirmed as ours, on ours' confirmation seeds
                self.eval_env.seed(seed_for(seed, 5, self.num_evals))
                mean, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=confirm, deterministic=True)
            self.eval_seconds += time.perf_counter() - begin
            self.last_mean = float(mean)
            if self.last_mean >= threshold:
                self.solved_at, self.solved_step = time.perf_counter(), self.num_timesteps
                return False
            return True

    callback = SolveCallback()
    start = time.perf_counter()
    env = make_vec_env(ENV_ID, n_envs=ZOO_CARTPOLE_A2C["n_envs"], seed=seed)
    model = A2C(ZOO_CARTPOLE_A2C["policy"], env, ent_coef=ZOO_CARTPOLE_A2C["ent_coef"], seed=seed,
                device="cpu", verbose=0)
    model.learn(total_timesteps=budget, callback=callback)
    end = time.perf_counter()
    env.close()
    solved = callback.solved_at is not None
    return {"solved": solved, "steps": callback.solved_step if solved else int(model.num_timesteps),
            "seconds": (callback.solved_at if solved else end) - start, "eval_seconds": callback.eval_seconds,
            "num_evals": callback.num_evals, "last_eval_mean": callback.last_mean,
            "startup_seconds": callback.started - start, "budget_steps": budget}


# -- part 2: SPS ---------------------------------------------------------------------------------


def ours_sps(config: str, overrides: list[str], run_dir: str) -> dict[str, Any]:
    """Train ours with eval off; steady-state SPS from the TensorBoard charts/sps events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = experiment.load_experiment(config, overrides)
    start = time.perf_counter()
    metrics = experiment.train(cfg, run_dir, quiet=True)
    seconds = time.perf_counter() - start
    events = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    events.Reload()
    sps = events.Scalars("charts/sps")
    first, last = sps[0], sps[-1]
    return {"sps": (last.step - first.step) / (last.wall_time - first.wall_time),
            "last_sps_scalar": last.value, "steps": int(metrics["global_step"]), "train_call_seconds": seconds,
            "window_steps": last.step - first.step}


# -- driver --------------------------------------------------------------------------------------


def med_time(runs: list[dict[str, Any]], key: str) -> float | None:
    """Median over runs of `key`; an unsolved or failed run counts as infinitely slow."""
    value = median([r[key] if r.get("solved") else math.inf for r in runs])
    return None if value is None or math.isinf(value) else value


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def fmt(value: float | None, spec: str = ".1f", unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def solve_cells(r: dict[str, Any]) -> list[str]:
    if "error" in r or "skipped" in r:
        return ["ERROR" if "error" in r else "skipped", "-", "-", "-", "-"]
    return ["yes" if r["solved"] else "no", f"{r['steps']:,}", fmt(r["seconds"]),
            fmt(r["seconds"] - r["eval_seconds"]), fmt(r["startup_seconds"])]


def describe(r: dict[str, Any]) -> str:
    if "error" in r or "skipped" in r:
        return r.get("error") or f"skipped ({r['skipped']})"
    return (f"{'solved' if r['solved'] else 'NOT solved'} at {r['steps']:,} steps in {r['seconds']:.1f} s (evals "
            f"{r['eval_seconds']:.1f} s, start-up {fmt(r['startup_seconds'])} s, last eval {fmt(r['last_eval_mean'])})")


def run_solve(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    cfg = experiment.load_experiment(args.config, ["seed=0"])
    t = cfg.train
    if t.stop_return is None or t.eval_every <= 0:
        raise SystemExit(f"{args.config}: part 1 needs train.stop_return and train.eval_every > 0")
    print(f"Part 1: time to greedy eval mean >= {t.stop_return:g} over {t.eval_episodes} episodes on {ENV_ID}, "
          f"evaluated every {t.eval_every:,} env steps, confirmed on {t.stop_confirm_episodes} fresh episodes; "
          f"seeds {args.seeds} interleaved ours/SB3")
    print(f"  ours: {args.config} ({cfg.agent.mode}, {cfg.agent.num_workers} workers x {cfg.env.num_envs} envs, "
          f"budget {t.total_steps:,}); SB3 A2C: {ZOO_SOURCE}, budget {args.sb3_budget:,}", flush=True)
    rows, runs = [], []
    for seed in args.seeds:
        overrides = [f"seed={seed}", "train.device=cpu", "train.torch_threads=1"]
        ours = in_fresh_process(ours_solve, str(args.config), overrides, str(tmp / f"solve_ours_{seed}"),
                                args.kernel_cache)
        print(f"  seed {seed} ours: {describe(ours)}", flush=True)
        sb3: dict[str, Any] = {"skipped": SB3_IMPORT_ERROR, "solved": False}
        if SB3_IMPORT_ERROR is None:
            sb3 = in_fresh_process(sb3_solve, seed, args.sb3_budget, t.eval_every, t.eval_episodes, t.stop_return,
                                   t.stop_confirm_episodes)
            print(f"  seed {seed} SB3:  {describe(sb3)}", flush=True)
        runs.append({"seed": seed, "ours": ours, "sb3": sb3})
        rows.append([seed, *solve_cells(ours), *solve_cells(sb3)])
    s: dict[str, Any] = {side: {"solved": sum(bool(r[side].get("solved")) for r in runs), "runs": len(runs),
                                "median_seconds": med_time([r[side] for r in runs], "seconds"),
                                "median_steps": med_time([r[side] for r in runs], "steps")} for side in ("ours", "sb3")}
    value = ratio(s["ours"]["median_seconds"], s["sb3"]["median_seconds"])
    s.update(ratio_ours_over_sb3=value, target_ratio=SOLVE_TARGET,
             target_met=None if value is None else value <= SOLVE_TARGET)
    cols = ["solved", "steps", "time [s]", "excl. eval [s]", "start-up [s]"]
    print("\n" + format_table(["seed", *(f"ours {c}" for c in cols), *(f"SB3 {c}" for c in cols)], rows))
    print(f"median time to solve: ours {fmt(s['ours']['median_seconds'], unit=' s')} "
          f"({s['ours']['solved']}/{s['ours']['runs']} solved) | SB3 {fmt(s['sb3']['median_seconds'], unit=' s')} "
          f"({s['sb3']['solved']}/{s['sb3']['runs']} solved); ratio ours/SB3 "
          f"{fmt(s['ratio_ours_over_sb3'], '.3f', 'x')} (target <= {SOLVE_TARGET}x: {s['target_met']})\n")
    return {"config_seed0": cfg.to_dict(), "sb3_hyperparameters_source": ZOO_SOURCE,
            "sb3_hyperparameters": sb3_effective_hyperparameters() if SB3_IMPORT_ERROR is None else None,
            "sb3_budget_steps": args.sb3_budget, "runs": runs, "summary": s}


def run_sps(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    base = ["train.eval_every=0", "train.stop_return=null", "train.eval_episodes=1", "train.device=cpu",
            "train.torch_threads=1", f"train.total_steps={args.sps_steps}"]
    variants = {f"async {w} worker{'s' if w > 1 else ''}": ["agent.mode=async", f"agent.num_workers={w}"]
                for w in args.sps_workers}
    if args.sps_sync:
        variants["sync (A2C, 1 process)"] = ["agent.mode=sync"]
    print(f"Part 2: steady-state SPS, eval off, {args.sps_steps:,} steps, {args.sps_repeats} repeats interleaved",
          flush=True)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for repeat in range(args.sps_repeats):
        for index, (name, extra) in enumerate(variants.items()):
            run_dir = tmp / f"sps_{index}_{repeat}"
            result = in_fresh_process(ours_sps, str(args.config), [f"seed={repeat}", *base, *extra], str(run_dir))
            results[name].append(result)
            print(f"  repeat {repeat} {name}: {fmt(result.get('sps'), ',.0f')} steps/s", flush=True)
    medians = {name: median([r["sps"] for r in rs if "sps" in r]) for name, rs in results.items()}
    rows = [[name, *(fmt(r.get("sps"), ",.0f") for r in rs), fmt(medians[name], ",.0f")]
            for name, rs in results.items()]
    print("\n" + format_table(["variant", *(f"run {i}" for i in range(args.sps_repeats)), "median"], rows))
    one, two = medians.get("async 1 worker"), medians.get("async 2 workers")
    scaling = ratio(two, one)
    met = None if scaling is None else scaling >= SPS_TARGET
    print(f"2 workers / 1 worker: {fmt(scaling, '.2f', 'x')} (target >= {SPS_TARGET}x: {met})\n")
    return {"steps": args.sps_steps, "overrides": base, "variants": variants, "runs": results,
            "median_sps": medians, "scaling_2_over_1": scaling, "target": SPS_TARGET, "target_met": met}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    # 10 seeds by default: both sides' steps to solve spread over 3-30x, so a median of 3 moves by +-50% between runs.
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)), help="part 1 seeds (default 0-9)")
    parser.add_argument("--sb3-budget", type=int, default=ZOO_CARTPOLE_A2C["n_timesteps"],
                        help="SB3 step budget (default: the zoo's n_timesteps, 500000)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="ours' config (configs/a3c_cartpole.yaml)")
    parser.add_argument("--parts", nargs="+", choices=("solve", "sps"), default=["solve", "sps"])
    parser.add_argument("--sps-steps", type=int, default=600_000, help="env steps per SPS run (default 600000)")
    parser.add_argument("--sps-repeats", type=int, default=5, help="SPS rounds (default 5; the host is noisy)")
    parser.add_argument("--sps-workers", type=int, nargs="+", default=[1, 2], help="async worker counts (1 2)")
    parser.add_argument("--kernel-cache", action=argparse.BooleanOptionalAction, default=True,
                        help="part 1: ours loads its Numba kernels from the on-disk cache (default; warm after the "
                             "first run on a machine); --no-kernel-cache compiles them in every run")
    parser.add_argument("--sps-sync", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure sync A2C in one process (default on)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    data: dict[str, Any] = {"benchmark": "a3c_time_to_solve", "machine": machine_info(), "config_file": args.config,
                            "sb3_version": None if SB3_IMPORT_ERROR else stable_baselines3.__version__,
                            "sb3_skipped_reason": SB3_IMPORT_ERROR, "argv": sys.argv[1:],
                            "ours_kernel_cache": args.kernel_cache}
    with tempfile.TemporaryDirectory(prefix="a3c_bench_") as tmp:
        if "solve" in args.parts:
            data["time_to_solve"] = run_solve(args, Path(tmp))
        if "sps" in args.parts:
            data["sps"] = run_sps(args, Path(tmp))
    data["notes"] = ["Time to solve: from building envs/agent to the end of the first eval >= the threshold that a "
                     "confirmation eval on fresh episodes also puts >= the threshold, evals (confirmations too) "
                     "included; unsolved runs: time to the end of the budget (infinitely slow in medians). Each run "
                     "in a fresh process; ours includes worker start-up and loading (kernel_cache) or compiling "
                     "its Numba kernels.",
                     "SPS: (last - first step) / wall time between the first and last charts/sps events."]
    print(f"wrote {write_json(args.out, data)}")
    runs = [*(r[side] for r in data.get("time_to_solve", {}).get("runs", []) for side in ("ours", "sb3")),
            *(r for rs in data.get("sps", {}).get("runs", {}).values() for r in rs)]
    return 1 if any("error" in r for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
