"""Wall-clock time to solve CartPole-v1 with DQN: rl_platform vs Stable-Baselines3.

"Solved" means a greedy (deterministic) evaluation over 20 episodes with mean return >= 475, confirmed
by a second greedy evaluation over `--confirm-episodes` (default 100) fresh episodes with mean >= 475.
Both sides evaluate every `--eval-every` environment steps, with the same number of episodes
spread over a 20-env vector env, confirm the same way (`train.stop_confirm_episodes` for ours), and stop
at the first confirmed evaluation; an unconfirmed one lets training go on.

* Ours: `rl_platform.experiment.train` on `--config` (default configs/dqn_cartpole.yaml) with
  seed, eval and stop settings overridden. Timed from the call to `experiment.train` to its
  return, so env creation, TensorBoard logging and checkpoint writing are included. Evaluation
  time is measured by wrapping `rl_platform.run.Run.evaluate_returns` with a timer.
* SB3: `stable_baselines3.DQN` with the rl-baselines3-zoo CartPole-v1 hyperparameters, a
  callback that evaluates with `evaluate_policy` on a 20-env `DummyVecEnv` and stops training
  at the threshold. Timed from env creation to the return of `learn()`. Step budget: the zoo's
  n_timesteps times `--sb3-budget-mult`.

Both sides use `torch.set_num_threads(--threads)` (default 1) and the CPU. An untimed warm-up
run of each side comes first (Numba JIT/cache load, torch initialisation); then the seeds run
interleaved (ours seed 0, SB3 seed 0, ours seed 1, ...) so machine noise hits both alike.

Usage:
    .venv/bin/python benchmarks/dqn_time_to_solve.py [--seeds 0 1 2] [--eval-every 2000]
        [--sb3-budget-mult 1] [--threads 1] [--config CFG] [--out JSON]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import REPO_ROOT, format_table, machine_info, median, write_json

from rl_platform import experiment
from rl_platform.run import Run, TrainingInterrupted

ENV_ID = "CartPole-v1"
SOLVE_RETURN = 475.0
EVAL_EPISODES = 20
CONFIRM_EPISODES = 100
TARGET_RATIO = 0.2
DEFAULT_CONFIG = REPO_ROOT / "configs" / "dqn_cartpole.yaml"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "dqn_time_to_solve.json"
WARMUP_STEPS = 2_000

# rl-baselines3-zoo, hyperparams/dqn.yml, entry "CartPole-v1" (checked against the zoo repository
# at commit ce95481b041fe5314c1b2f1a53940d169b9253fc). The zoo trains it on a single env.
ZOO_SOURCE = ("DLR-RM/rl-baselines3-zoo hyperparams/dqn.yml, CartPole-v1 "
              "(commit ce95481b041fe5314c1b2f1a53940d169b9253fc)")
ZOO_CARTPOLE_DQN: dict[str, Any] = {
    "n_timesteps": 50_000,
    "policy": "MlpPolicy",
    "learning_rate": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1_000,
    "gamma": 0.99,
    "target_update_interval": 10,
    "train_freq": 256,
    "gradient_steps": 128,
    "exploration_fraction": 0.16,
    "exploration_final_eps": 0.04,
    "policy_kwargs": {"net_arch": [256, 256]},
}

try:
    import stable_baselines3
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    SB3_IMPORT_ERROR: str | None = None
except ImportError as exc:  # the `bench` extra is not installed
    SB3_IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


@dataclass
class RunResult:
    """One training run of one side and seed. Unsolved runs keep the steps/time they stopped at."""

    side: str
    seed: int
    solved: bool
    steps: int
    seconds: float
    eval_seconds: float
    num_evals: int
    last_eval_mean: float | None
    budget_steps: int
    error: str | None = None

    @property
    def seconds_excl_eval(self) -> float:
        return self.seconds - self.eval_seconds

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds_excl_eval": self.seconds_excl_eval}


def eval_seed(seed: int, eval_index: int) -> int:
    """Seed of the `eval_index`-th evaluation of run `seed` (an independent 32-bit stream)."""
    return int(np.random.SeedSequence([seed, 1, eval_index]).generate_state(1)[0])


# -- ours ----------------------------------------------------------------------------------------


class EvalTimer:
    """Accumulates wall-clock time spent in `Run.evaluate_returns` while `installed()`."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    @contextlib.contextmanager
    def installed(self) -> Iterator[EvalTimer]:
        """Temporarily replace `Run.evaluate_returns` with a timed wrapper (restored on exit)."""
        original = Run.evaluate_returns

        def timed(run: Run, policy: Callable[[np.ndarray], np.ndarray], *args: Any) -> np.ndarray:
            start = time.perf_counter()
            try:
                return original(run, policy, *args)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        Run.evaluate_returns = timed  # type: ignore[method-assign]
        try:
            yield self
        finally:
            Run.evaluate_returns = original  # type: ignore[method-assign]


def ours_overrides(seed: int | str, eval_every: int, threads: int, confirm: int) -> list[str]:
    """The overrides applied on top of `--config` for a timed run of ours."""
    return [f"seed={seed}", f"train.eval_episodes={EVAL_EPISODES}",
            f"train.stop_return={SOLVE_RETURN:g}", f"train.stop_confirm_episodes={confirm}",
            f"train.eval_every={eval_every}", f"train.torch_threads={threads}", "train.device=cpu"]


def run_ours(config: Path, overrides: Sequence[str], run_dir: Path, seed: int) -> RunResult:
    """Train ours once; time the `experiment.train` call and the evaluations inside it."""
    cfg = experiment.load_experiment(config, list(overrides))
    timer = EvalTimer()
    with timer.installed():
        start = time.perf_counter()
        metrics = experiment.train(cfg, run_dir, quiet=True)
        seconds = time.perf_counter() - start
    return RunResult(side="ours", seed=seed, solved=bool(metrics["reached_stop_return"]),
                     steps=int(metrics["global_step"]), seconds=seconds, eval_seconds=timer.seconds,
                     num_evals=timer.calls, last_eval_mean=metrics["mean_return"],
                     budget_steps=cfg.train.total_steps)


# -- Stable-Baselines3 ---------------------------------------------------------------------------


def sb3_kwargs(budget_steps: int) -> dict[str, Any]:
    """`DQN(...)` keyword arguments: the zoo's, with epsilon decaying over the zoo's absolute steps.

    SB3 decays epsilon over `exploration_fraction` of the `total_timesteps` given to `learn()`, so
    with a larger budget the fraction is scaled down to keep the zoo schedule (0.16 * 50k steps).
    A longer-budget run is then identical to the zoo run up to the zoo's n_timesteps.
    """
    kwargs = {k: v for k, v in ZOO_CARTPOLE_DQN.items() if k not in ("n_timesteps", "policy")}
    kwargs["exploration_fraction"] = (ZOO_CARTPOLE_DQN["exploration_fraction"]
                                      * ZOO_CARTPOLE_DQN["n_timesteps"] / budget_steps)
    kwargs["policy_kwargs"] = dict(ZOO_CARTPOLE_DQN["policy_kwargs"])
    return kwargs


def make_solve_callback(seed: int, eval_every: int, budget_steps: int, confirm: int) -> Any:
    """A fresh SB3 callback: greedy eval every `eval_every` env steps; stops when solved (and confirmed on
    `confirm` fresh episodes, as ours).

    It also stops at exactly `budget_steps`: SB3's own check runs only between rollouts of
    `train_freq` steps, so it would overshoot the budget (50,000 -> 50,176).
    """

    class SolveCallback(BaseCallback):
        """Greedy eval over `EVAL_EPISODES` episodes on a vector env; times the evaluations."""

        def __init__(self) -> None:
            super().__init__(verbose=0)
            self.eval_env: Any = None
            self.next_eval = eval_every
            self.eval_seconds = 0.0
            self.num_evals = 0
            self.last_mean: float | None = None
            self.solved_step: int | None = None

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next_eval:
                return self.num_timesteps < budget_steps
            self.next_eval = (self.num_timesteps // eval_every + 1) * eval_every
            start = time.perf_counter()
            if self.eval_env is None:  # built lazily, like ours, so it counts as eval time
                self.eval_env = make_vec_env(ENV_ID, n_envs=min(EVAL_EPISODES, 32))
            self.num_evals += 1
            self.eval_env.seed(eval_seed(seed, self.num_evals))
            mean, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=EVAL_EPISODES,
                                      deterministic=True)
            if mean >= SOLVE_RETURN and confirm > 0:  # ours' confirmation seeds: seed_for(seed, 5, eval index)
                self.eval_env.seed(int(np.random.SeedSequence([seed, 5, self.num_evals]).generate_state(1)[0]))
                mean, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=confirm, deterministic=True)
            self.eval_seconds += time.perf_counter() - start
            self.last_mean = float(mean)
            if self.last_mean >= SOLVE_RETURN:
                self.solved_step = self.num_timesteps
                return False
            return self.num_timesteps < budget_steps

        def _on_training_end(self) -> None:
            if self.eval_env is not None:
                self.eval_env.close()

    return SolveCallback()


def run_sb3(seed: int, budget_steps: int, eval_every: int, threads: int, confirm: int) -> RunResult:
    """Train SB3 DQN once (zoo hyperparameters, one env, CPU); time env creation through learn()."""
    torch.set_num_threads(threads)
    callback = make_solve_callback(seed, eval_every, budget_steps, confirm)
    start = time.perf_counter()
    env = make_vec_env(ENV_ID, n_envs=1, seed=seed)
    try:
        model = DQN(ZOO_CARTPOLE_DQN["policy"], env, seed=seed, device="cpu", verbose=0,
                    **sb3_kwargs(budget_steps))
        model.learn(total_timesteps=budget_steps, callback=callback)
        seconds = time.perf_counter() - start
    finally:
        env.close()
    solved = callback.solved_step is not None
    return RunResult(side="sb3", seed=seed, solved=solved,
                     steps=int(callback.solved_step if solved else model.num_timesteps),
                     seconds=seconds, eval_seconds=callback.eval_seconds,
                     num_evals=callback.num_evals, last_eval_mean=callback.last_mean,
                     budget_steps=budget_steps)


# -- driver --------------------------------------------------------------------------------------


def guarded(side: str, seed: int, budget_steps: int, fn: Callable[[], RunResult]) -> RunResult:
    """Run `fn`; a failure becomes an unsolved result carrying the error (Ctrl-C still aborts)."""
    start = time.perf_counter()
    try:
        return fn()
    except (KeyboardInterrupt, TrainingInterrupted):
        raise
    except Exception as exc:  # noqa: BLE001 - report it and keep benchmarking the other runs
        traceback.print_exc()
        return RunResult(side=side, seed=seed, solved=False, steps=0,
                         seconds=time.perf_counter() - start, eval_seconds=0.0, num_evals=0,
                         last_eval_mean=None, budget_steps=budget_steps,
                         error=f"{type(exc).__name__}: {exc}")


def summarize(results: Sequence[RunResult]) -> dict[str, Any]:
    """Medians over seeds; an unsolved run counts as infinitely slow (None if the median is)."""
    if not results:
        return {"runs": 0, "solved": 0, "median_seconds": None, "median_seconds_excl_eval": None,
                "median_steps": None}
    inf = math.inf

    def med(values: list[float]) -> float | None:
        value = median(values)
        return None if value is None or math.isinf(value) else value

    return {
        "runs": len(results),
        "solved": sum(r.solved for r in results),
        "median_seconds": med([r.seconds if r.solved else inf for r in results]),
        "median_seconds_excl_eval": med([r.seconds_excl_eval if r.solved else inf
                                         for r in results]),
        "median_steps": med([float(r.steps) if r.solved else inf for r in results]),
    }


def ratio(ours: float | None, sb3: float | None) -> float | None:
    return None if ours is None or sb3 is None or sb3 <= 0 else ours / sb3


def fmt_row(result: RunResult | None) -> list[str]:
    if result is None:
        return ["skipped", "-", "-", "-"]
    solved = "ERROR" if result.error else ("yes" if result.solved else "no")
    return [solved, f"{result.steps:,}", f"{result.seconds:.1f}", f"{result.seconds_excl_eval:.1f}"]


def describe(result: RunResult) -> str:
    """One progress line for a finished run."""
    if result.error:
        return f"ERROR after {result.seconds:.1f} s: {result.error}"
    state = "solved" if result.solved else "not solved"
    last = "-" if result.last_eval_mean is None else f"{result.last_eval_mean:.1f}"
    return (f"{state} at {result.steps:,} steps in {result.seconds:.1f} s "
            f"({result.seconds_excl_eval:.1f} s excl. {result.num_evals} evals); last eval {last}")


def fmt_seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds (default 0 1 2)")
    parser.add_argument("--eval-every", type=int, default=2_000,
                        help="env steps between greedy evaluations, both sides (default 2000)")
    parser.add_argument("--confirm-episodes", type=int, default=CONFIRM_EPISODES,
                        help="fresh episodes that confirm a solving evaluation, both sides (default 100; 0: off)")
    parser.add_argument("--sb3-budget-mult", type=float, default=1.0,
                        help="SB3 step budget = zoo n_timesteps (50k) times this (default 1)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="config for ours (default configs/dqn_cartpole.yaml)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads, both sides (default 1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="JSON results file "
                             "(default benchmarks/results/dqn_time_to_solve.json)")
    args = parser.parse_args(argv)
    if args.eval_every < 1 or args.threads < 1 or args.sb3_budget_mult <= 0 or args.confirm_episodes < 0:
        parser.error("--eval-every and --threads must be >= 1, --sb3-budget-mult > 0, --confirm-episodes >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    torch.set_num_threads(args.threads)
    sb3_budget = int(round(ZOO_CARTPOLE_DQN["n_timesteps"] * args.sb3_budget_mult))
    timed_cfg = experiment.load_experiment(
        args.config, ours_overrides(0, args.eval_every, args.threads, args.confirm_episodes))
    ours_budget = timed_cfg.train.total_steps

    print(f"DQN time to solve {ENV_ID}: greedy eval mean >= {SOLVE_RETURN:g} over {EVAL_EPISODES} "
          f"episodes, checked every {args.eval_every:,} env steps, confirmed on {args.confirm_episodes} fresh "
          "episodes (both sides)")
    print(f"torch threads: {torch.get_num_threads()} (torch.set_num_threads({args.threads}), both "
          f"sides); device: cpu; seeds {args.seeds}, interleaved ours/SB3")
    print(f"ours: {args.config} (budget {ours_budget:,} steps, {timed_cfg.env.num_envs} envs)")
    if SB3_IMPORT_ERROR is None:
        print(f"SB3 {stable_baselines3.__version__}: zoo hyperparameters ({ZOO_SOURCE}); "
              f"budget {sb3_budget:,} steps")
    else:
        print(f"SB3: SKIPPED, stable_baselines3 is not importable ({SB3_IMPORT_ERROR})")
    sys.stdout.flush()

    ours_runs: list[RunResult] = []
    sb3_runs: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="dqn_time_to_solve_") as tmp:
        tmp_dir = Path(tmp)
        print("warm-up (untimed) ...", flush=True)
        warmup = ours_overrides(0, 1_000, args.threads, args.confirm_episodes) + [f"train.total_steps={WARMUP_STEPS}"]
        run_ours(args.config, warmup, tmp_dir / "warmup_ours", seed=0)
        if SB3_IMPORT_ERROR is None:
            run_sb3(seed=0, budget_steps=WARMUP_STEPS, eval_every=1_000, threads=args.threads,
                    confirm=args.confirm_episodes)
        for seed in args.seeds:
            overrides = ours_overrides(seed, args.eval_every, args.threads, args.confirm_episodes)
            result = guarded("ours", seed, ours_budget, functools.partial(
                run_ours, args.config, overrides, tmp_dir / f"ours_seed{seed}", seed))
            ours_runs.append(result)
            print(f"  seed {seed} ours: {describe(result)}", flush=True)
            if SB3_IMPORT_ERROR is None:
                result = guarded("sb3", seed, sb3_budget, functools.partial(
                    run_sb3, seed, sb3_budget, args.eval_every, args.threads, args.confirm_episodes))
                sb3_runs.append(result)
                print(f"  seed {seed} SB3:  {describe(result)}", flush=True)

    sb3_by_seed = {r.seed: r for r in sb3_runs}
    headers = ["seed", "ours solved", "steps", "time [s]", "excl. eval [s]",
               "SB3 solved", "steps", "time [s]", "excl. eval [s]"]
    rows = [[r.seed, *fmt_row(r), *fmt_row(sb3_by_seed.get(r.seed))] for r in ours_runs]
    ours_sum, sb3_sum = summarize(ours_runs), summarize(sb3_runs)
    ratio_total = ratio(ours_sum["median_seconds"], sb3_sum["median_seconds"])
    ratio_excl = ratio(ours_sum["median_seconds_excl_eval"], sb3_sum["median_seconds_excl_eval"])

    def met(value: float | None) -> bool | None:
        return None if value is None else value <= TARGET_RATIO

    print()
    print(format_table(headers, rows))
    print()
    print(f"median time to solve: ours {fmt_seconds(ours_sum['median_seconds'])} "
          f"(excl. eval {fmt_seconds(ours_sum['median_seconds_excl_eval'])}, "
          f"{ours_sum['solved']}/{ours_sum['runs']} solved) | SB3 "
          f"{fmt_seconds(sb3_sum['median_seconds'])} "
          f"(excl. eval {fmt_seconds(sb3_sum['median_seconds_excl_eval'])}, "
          f"{sb3_sum['solved']}/{sb3_sum['runs']} solved)")
    verdict = {True: "met", False: "NOT met", None: "n/a"}
    print(f"ratio ours/SB3: {fmt_ratio(ratio_total)} (excl. eval {fmt_ratio(ratio_excl)}); "
          f"target <= {TARGET_RATIO:.2f}x: {verdict[met(ratio_total)]} "
          f"(excl. eval: {verdict[met(ratio_excl)]})")
    notes = [
        "Unsolved rows show the steps and seconds at which the run stopped (budget exhausted or "
        "error); for medians an unsolved run counts as infinitely slow (n/a if the median is).",
        "Ours is timed from the experiment.train call to its return: env creation, TensorBoard "
        "logging, periodic/final checkpoint writing and metrics.json are included.",
        "SB3 is timed from training-env creation to the return of learn(); it writes no logs "
        "or checkpoints.",
        "Evaluation time includes building the 20-env eval vector env on first use (both sides), and the "
        "confirmation evaluations.",
    ]
    for note in notes:
        print(f"note: {note}")

    data = {
        "benchmark": "dqn_time_to_solve",
        "task": {"env_id": ENV_ID, "solve_return": SOLVE_RETURN, "eval_episodes": EVAL_EPISODES,
                 "confirm_episodes": args.confirm_episodes, "eval_every": args.eval_every, "greedy_eval": True},
        "settings": {"seeds": args.seeds, "torch_threads": args.threads, "device": "cpu",
                     "sb3_budget_mult": args.sb3_budget_mult,
                     "order": "interleaved ours/sb3 per seed",
                     "warmup_steps_untimed": WARMUP_STEPS},
        "ours": {"config_file": str(args.config),
                 "overrides": ours_overrides("<seed>", args.eval_every, args.threads, args.confirm_episodes),
                 "config_seed0": timed_cfg.to_dict(), "budget_steps": ours_budget},
        "sb3": {"available": SB3_IMPORT_ERROR is None, "skipped_reason": SB3_IMPORT_ERROR,
                "hyperparameters_source": ZOO_SOURCE, "zoo_hyperparameters": ZOO_CARTPOLE_DQN,
                "dqn_kwargs_used": sb3_kwargs(sb3_budget), "n_envs": 1, "budget_steps": sb3_budget,
                "eval": "evaluate_policy(deterministic=True) on a 20-env DummyVecEnv"},
        "runs": [{"seed": r.seed, "ours": r.to_dict(),
                  "sb3": sb3_by_seed[r.seed].to_dict() if r.seed in sb3_by_seed else None}
                 for r in ours_runs],
        "summary": {"ours": ours_sum, "sb3": sb3_sum,
                    "ratio_ours_over_sb3": ratio_total, "ratio_ours_over_sb3_excl_eval": ratio_excl,
                    "target_ratio": TARGET_RATIO, "target_met": met(ratio_total),
                    "target_met_excl_eval": met(ratio_excl)},
        "machine": machine,
        "notes": notes,
    }
    out = write_json(args.out, data)
    print(f"wrote {out}")
    return 1 if any(r.error for r in [*ours_runs, *sb3_runs]) else 0


if __name__ == "__main__":
    sys.exit(main())
