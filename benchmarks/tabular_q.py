"""Tabular Q-learning on slippery FrozenLake 8x8: our Numba-fused loop vs the textbook Python/NumPy loop.

Both sides take the hyperparameters of `--config` (default configs/tabular_q_frozenlake8x8.yaml): gamma 0.995,
lr linear 0.1 -> 0.001 over the whole schedule, epsilon linear 1.0 -> 0.1 over its first half, Q = 0 at the
start, epsilon-greedy with random tie-breaking; truncated transitions bootstrap, terminated ones do not.

* Ours: `FusedLoop` (act -> step -> learn in one compiled kernel) on `gymnasium.make_vec("rlp/FrozenLake8x8-v1",
  num_envs=64)`. An untimed warm-up compiles the kernels first (reported as compile time); each timed run
  starts at env creation (env creation, reset and agent set-up included).
* Textbook: a plain Python loop over Gymnasium's `gymnasium.make("FrozenLake8x8-v1")` (default wrappers), a
  NumPy Q-table and `np.random.default_rng`, reset on termination or truncation. Also timed from env creation.

Measured per seed, interleaved (ours, textbook, ours, ...):

1. Q-updates/s (one env step = one update): ours over `--ours-steps` (default: the config's total_steps,
   20M), the textbook over `--textbook-throughput-steps` (200k); each run's schedule spans its own steps.
   Target: ours >= 100x the textbook.
2. Wall-clock to the threshold: the greedy policy's exact success probability within the 200-step limit
   (`rl_platform.mdp.evaluate_policy`) >= the best stationary policy's (`best_stationary_policy`, about
   0.894) minus `--tolerance` (0.03), at the first check that reaches it. Checked every `--ours-check-every` /
   `--textbook-check-every` env steps (both 50k: the exact value fluctuates, so a side checked less often
   would reach it later); check time is excluded from the seconds and reported apart. The schedules span
   each side's budget: ours `--ours-steps` (20M), the textbook `--textbook-budget` (2M), which also stops
   after `--textbook-cap-seconds` (300 s). A side that misses the threshold is reported "not reached" with its
   best exact value and time spent (infinitely slow for medians). The final greedy policies' success rate
   is also sampled over `--sample-episodes` (4000) episodes of our env.

Output: a table and JSON (default benchmarks/results/tabular_q.json). Only meaningful on an idle machine.

    .venv/bin/python benchmarks/tabular_q.py
    .venv/bin/python benchmarks/tabular_q.py --seeds 0 --textbook-budget 500000 --out /tmp/smoke.json
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT, format_table, machine_info, median, write_json  # noqa: E402

import rl_platform.envs  # noqa: E402, F401  (registers rlp/ envs)
from rl_platform import experiment  # noqa: E402
from rl_platform.agents.tabular_q.tabular_q import (  # noqa: E402
    FusedLoop,
    TabularQAgent,
    TabularQConfig,
    schedule_params,
)
from rl_platform.envs.toy_text import transition_model  # noqa: E402
from rl_platform.mdp import TransitionModel, best_stationary_policy, evaluate_policy, model_from_gymnasium  # noqa: E402
from rl_platform.policy import FunctionPolicy  # noqa: E402
from rl_platform.run import evaluate, seed_for  # noqa: E402

DEFAULT_CONFIG = REPO_ROOT / "configs" / "tabular_q_frozenlake8x8.yaml"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "tabular_q.json"
TARGET_RATIO = 100.0


def linear(start: float, end: float, duration: float, t: int) -> float:
    """`start` at t = 0, linearly to `end` at t = duration, then constant (the agent's schedule)."""
    return end + (start - end) * max(0.0, 1.0 - t / duration)


class Ours:
    """Our agent and `FusedLoop` on a fresh `rlp/` vector env; the schedule spans `total_steps`."""

    def __init__(self, cfg: TabularQConfig, env_id: str, num_envs: int, seed: int, total_steps: int) -> None:
        self.envs = gym.make_vec(env_id, num_envs=num_envs)
        self.agent = TabularQAgent(cfg, self.envs.single_observation_space, self.envs.single_action_space,
                                   num_envs, seed_for(seed, 2))
        self.loop = FusedLoop(self.envs, self.agent, seed_for(seed, 0, 0), total_steps)

    def run(self, step: int, n: int) -> None:
        end = step + n
        while step < end:  # FusedLoop.run does at most FUSED_CHUNK env steps per call
            step += self.loop.run(step, end - step).env_steps

    def greedy(self) -> np.ndarray:
        return self.agent.q.sum(axis=0).argmax(axis=1)


class Textbook:
    """Plain Python Q-learning over Gymnasium's FrozenLake with a NumPy table; schedule spans `total_steps`."""

    def __init__(self, cfg: TabularQConfig, env_id: str, seed: int, total_steps: int) -> None:
        self.cfg, self.total = cfg, total_steps
        self.env = gym.make(env_id)
        self.q = np.full((self.env.observation_space.n, self.env.action_space.n), cfg.q_init)
        self.rng = np.random.default_rng(seed)
        self.s, _ = self.env.reset(seed=seed)

    def run(self, step: int, n: int) -> None:
        cfg, env, q, rng, s = self.cfg, self.env, self.q, self.rng, self.s
        eps_start, eps_end, eps_steps, lr_start, lr_end, lr_steps = schedule_params(cfg, self.total).tolist()
        num_actions, gamma = q.shape[1], cfg.gamma
        for t in range(step, step + n):
            eps = linear(eps_start, eps_end, eps_steps, t)
            lr = linear(lr_start, lr_end, lr_steps, t)
            if rng.random() < eps:
                a = int(rng.integers(num_actions))
            else:
                best = np.flatnonzero(q[s] == q[s].max())
                a = int(best[rng.integers(len(best))])
            s2, r, terminated, truncated, _ = env.step(a)
            q[s, a] += lr * (r + gamma * (not terminated) * q[s2].max() - q[s, a])
            s = env.reset()[0] if terminated or truncated else s2
        self.s = s

    def greedy(self) -> np.ndarray:
        return self.q.argmax(axis=1)


@dataclass
class Result:
    """One side and seed: throughput run and time-to-threshold run."""

    side: str
    seed: int
    throughput_steps: int
    throughput_seconds: float
    updates_per_s: float
    budget_steps: int  # the step budget the time-to-threshold run's schedules span
    reached: bool
    steps: int  # at the first check >= threshold, else where the run stopped
    seconds: float  # excluding checks
    check_seconds: float
    num_checks: int
    best_exact: float
    final_exact: float
    sampled_success: float | None
    stopped_by: str  # "threshold", "budget" or "cap"


def time_to_threshold(make: Callable[[], Ours | Textbook], model: TransitionModel, horizon: int, threshold: float,
                      check_every: int, budget: int, cap: float) -> dict[str, Any]:
    """Train until a check of the greedy policy's exact return reaches `threshold`, `budget` steps or `cap` s."""
    check_seconds, num_checks, best, step, stopped_by = 0.0, 0, -math.inf, 0, "budget"
    start = time.perf_counter()
    learner = make()
    exact = -math.inf
    while step < budget:
        n = min(check_every, budget - step)
        learner.run(step, n)
        step += n
        tick = time.perf_counter()
        exact = evaluate_policy(model, learner.greedy(), horizon)
        check_seconds += time.perf_counter() - tick
        num_checks, best = num_checks + 1, max(best, exact)
        if exact >= threshold:
            stopped_by = "threshold"
            break
        if step < budget and time.perf_counter() - start >= cap:
            stopped_by = "cap"
            break
    seconds = time.perf_counter() - start - check_seconds
    return {"learner": learner, "reached": stopped_by == "threshold", "steps": step, "seconds": seconds,
            "check_seconds": check_seconds, "num_checks": num_checks, "best_exact": best, "final_exact": exact,
            "stopped_by": stopped_by}


def throughput(make: Callable[[], Ours | Textbook], steps: int) -> float:
    """Seconds for `steps` updates, from creating the learner (env creation and reset included)."""
    start = time.perf_counter()
    make().run(0, steps)
    return time.perf_counter() - start


def sampled_success(policy: np.ndarray, env_id: str, episodes: int, seed: int) -> float | None:
    """Mean return (success rate) of the greedy `policy` over `episodes` episodes of our vector env."""
    if episodes <= 0:
        return None
    envs = gym.make_vec(env_id, num_envs=64)
    try:
        table_policy = FunctionPolicy(lambda obs: policy[np.asarray(obs)])
        return float(evaluate(table_policy, envs, episodes, seed_for(seed, 3)).mean())
    finally:
        envs.close()


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("--ours-steps", type=int, default=None, help="ours: steps of both runs (default: total_steps)")
    p.add_argument("--ours-check-every", type=int, default=50_000)
    p.add_argument("--textbook-throughput-steps", type=int, default=200_000)
    p.add_argument("--textbook-budget", type=int, default=2_000_000, help="textbook: steps its schedule spans")
    p.add_argument("--textbook-check-every", type=int, default=50_000)
    p.add_argument("--textbook-cap-seconds", type=float, default=300.0, help="textbook: wall-clock cap per seed")
    p.add_argument("--tolerance", type=float, default=0.03, help="threshold = best stationary return - this")
    p.add_argument("--sample-episodes", type=int, default=4000, help="sampled greedy success (0: skip)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine_info()
    cfg = experiment.load_experiment(args.config)
    hp: TabularQConfig = cfg.agent
    if hp.rule != "q_learning" or hp.discretization != "none":
        raise SystemExit(f"{args.config}: the textbook side is plain Q-learning on a table; got {hp.rule}")
    ours_id, gym_id, num_envs = cfg.env.id, cfg.env.id.removeprefix("rlp/"), cfg.env.num_envs
    ours_steps = args.ours_steps or cfg.train.total_steps
    model = transition_model(gym_id)
    gym_env = gym.make(gym_id)
    horizon = int(gym_env.spec.max_episode_steps)
    same_model = all(np.array_equal(a, b) for a, b in zip(model, model_from_gymnasium(gym_env), strict=True))
    gym_env.close()
    reference = best_stationary_policy(model, horizon)
    threshold = reference.expected_return - args.tolerance
    print(f"{info['cpu_model']}, {info['usable_cpu_count']} usable CPUs, load {info['load_average_at_start']}")
    print(f"{gym_id}: best stationary policy (gamma {reference.gamma}) succeeds with p = "
          f"{reference.expected_return:.4f} within {horizon} steps; threshold {threshold:.4f}; "
          f"our model == Gymnasium's P: {same_model}")
    print(f"schedules span: ours {ours_steps:,} steps ({num_envs} envs), textbook {args.textbook_budget:,} steps "
          f"(throughput runs: their own {ours_steps:,} / {args.textbook_throughput_steps:,} steps)")

    def make_ours(seed: int, total: int) -> Ours:
        return Ours(hp, ours_id, num_envs, seed, total)

    def make_textbook(seed: int, total: int) -> Textbook:
        return Textbook(hp, gym_id, seed, total)

    start = time.perf_counter()
    make_ours(0, 10_000).run(0, num_envs * 100)  # compiles the env's and the fused kernels
    compile_seconds = time.perf_counter() - start
    make_textbook(0, 1000).run(0, 1000)
    print(f"ours: compile warm-up {compile_seconds:.2f} s (not counted below)", flush=True)

    results: list[Result] = []
    sides: dict[str, tuple[Callable[[int, int], Ours | Textbook], int, int, int, float]] = {
        "ours": (make_ours, ours_steps, ours_steps, args.ours_check_every, math.inf),
        "textbook": (make_textbook, args.textbook_throughput_steps, args.textbook_budget,
                     args.textbook_check_every, args.textbook_cap_seconds)}
    for seed in args.seeds:
        for side, (make, tp_steps, budget, every, cap) in sides.items():
            tp_seconds = throughput(lambda: make(seed, tp_steps), tp_steps)  # noqa: B023
            run = time_to_threshold(lambda: make(seed, budget), model, horizon, threshold, every,  # noqa: B023
                                    budget, cap)
            success = sampled_success(run.pop("learner").greedy(), ours_id, args.sample_episodes, seed)
            r = Result(side, seed, tp_steps, tp_seconds, tp_steps / tp_seconds, budget, sampled_success=success,
                       **run)
            results.append(r)
            state = "reached" if r.reached else f"NOT reached ({r.stopped_by})"
            print(f"seed {seed} {side:8s}: {r.updates_per_s:>12,.0f} updates/s; {state} at {r.steps:,} steps in "
                  f"{r.seconds:.3f} s (+{r.check_seconds:.3f} s checks); best exact {r.best_exact:.4f}, "
                  f"final {r.final_exact:.4f}, sampled {fmt(success)}", flush=True)

    by = {(r.side, r.seed): r for r in results}
    ratios = [by["ours", s].updates_per_s / by["textbook", s].updates_per_s for s in args.seeds]
    rows, per_seed = [], []
    for s in args.seeds:
        o, t = by["ours", s], by["textbook", s]
        speedup = t.seconds / o.seconds if o.reached else None
        per_seed.append({"seed": s, "updates_ratio": o.updates_per_s / t.updates_per_s,
                         "time_ratio_textbook_over_ours": speedup if t.reached else None,
                         "time_ratio_lower_bound": speedup if not t.reached else None})
        for r in (o, t):
            rows.append([s, r.side, f"{r.updates_per_s:,.0f}", f"{r.budget_steps:,}",
                         "yes" if r.reached else f"no ({r.stopped_by})", f"{r.steps:,}", f"{r.seconds:.3f}",
                         f"{r.check_seconds:.2f}", f"{r.best_exact:.4f}", f"{r.final_exact:.4f}",
                         fmt(r.sampled_success)])
    summary: dict[str, Any] = {"compile_seconds": compile_seconds, "median_updates_ratio": median(ratios),
                               "target_updates_ratio": TARGET_RATIO,
                               "target_met": (median(ratios) or 0.0) >= TARGET_RATIO}
    for side in ("ours", "textbook"):
        rs = [r for r in results if r.side == side]
        secs = median([r.seconds if r.reached else math.inf for r in rs])
        ups = median([r.updates_per_s for r in rs])
        summary[side] = {"median_updates_per_s": ups, "reached": sum(r.reached for r in rs), "runs": len(rs),
                         "median_seconds_to_threshold": secs, "median_best_exact": median([r.best_exact for r in rs])}
        rows.append(["median", side, f"{ups:,.0f}", "", f"{summary[side]['reached']}/{len(rs)}", "",
                     fmt(secs, ".3f"), "", fmt(summary[side]["median_best_exact"], ".4f"), "", ""])
    o_sec, t_sec = summary["ours"]["median_seconds_to_threshold"], summary["textbook"]["median_seconds_to_threshold"]
    time_ratio = t_sec / o_sec if math.isfinite(o_sec) and math.isfinite(t_sec) else None
    summary["median_time_ratio_textbook_over_ours"] = time_ratio

    print("\nupdates/s: timed from env creation; time to threshold: seconds excluding exact checks")
    print(format_table(["seed", "side", "updates/s", "budget", "reached", "steps", "seconds", "check s",
                        "best exact", "final exact", "sampled"], rows))
    print(f"\nupdates/s ours / textbook: {', '.join(f'{x:.0f}x' for x in ratios)} (median {median(ratios):.0f}x; "
          f"target >= {TARGET_RATIO:.0f}x: {'met' if summary['target_met'] else 'NOT met'})")
    for p in per_seed:
        ratio = p["time_ratio_textbook_over_ours"] or p["time_ratio_lower_bound"]
        note = " (textbook not reached: its time spent / ours)" if p["time_ratio_lower_bound"] else ""
        print(f"seed {p['seed']}: time to threshold textbook / ours: {'>= ' if note else ''}{fmt(ratio, '.0f')}x{note}")
    print(f"median time to threshold textbook / ours: {'n/a' if time_ratio is None else f'{time_ratio:.0f}x'}")
    path = write_json(args.out, {
        "benchmark": "tabular_q",
        "description": "tabular Q-learning on FrozenLake8x8: Numba-fused loop vs textbook Python/NumPy loop",
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "hyperparameters": asdict(hp),
        "env": {"ours": ours_id, "textbook": gym_id, "ours_num_envs": num_envs, "time_limit": horizon,
                "models_identical": same_model},
        "schedule_spans": {"ours": ours_steps, "textbook": args.textbook_budget,
                           "textbook_throughput": args.textbook_throughput_steps},
        "reference": {"best_stationary_return": reference.expected_return, "best_gamma": reference.gamma,
                      "tolerance": args.tolerance, "threshold": threshold},
        "results": [asdict(r) for r in results],
        "per_seed": per_seed,
        "summary": summary,
        "machine": info,
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
