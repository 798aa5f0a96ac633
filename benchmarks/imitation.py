"""Imitation from 10 expert episodes, side by side in one run: our BC, GAIL, AIRL and SQIL against the `imitation`
library's GAIL and BC, on the fixed-horizon CartPole (rlp/CartPoleFixed-v0 = seals/CartPole-v0) with the same
expert dataset and env-step budget; and our GAIL on the fixed-horizon Pendulum.

* Expert: `configs/dqn_cartpole.yaml` (seed 0) trained on rlp/CartPole-v1, its 10 greedy episodes collected in
  rlp/CartPoleFixed-v0 (`rlp collect --from ... --env rlp/CartPoleFixed-v0`); for Pendulum `configs/a3c_pendulum.yaml`
  (seed 0) and 10 episodes in rlp/PendulumFixed-v0. The peer gets the same transitions
  (`imitation_common.write_peer_npz`).
* Score: normalised, (return - random) / (expert - random), with the expert's dataset mean and the uniform random
  policy's mean over 100 episodes (measured here). A run's score is its last evaluation (greedy, 20 episodes);
  `to_0.9` is the first evaluation at or above 0.9: env steps and wall-clock seconds since the run started
  (ours: process start to the evaluation's TensorBoard record, evaluations and start-up included; the peer's own
  clock excludes its evaluations: a handicap for ours).
* Ours: `rlp train configs/{gail,airl}_cartpole_fixed.yaml`, `configs/sqil_cartpole.yaml` with env.id
  rlp/CartPoleFixed-v0 and the fixed-horizon dataset, `rlp pretrain configs/bc_cartpole.yaml` on that dataset
  (BC steps no env: its score is `rlp eval`'s over 100 episodes). Peer: benchmarks/imitation_peer.py in the venv
  of benchmarks/setup_imitation_peer.sh (imitation 1.0.1; its GAIL tutorial's settings).
  Targets: ours >= 0.9 on CartPoleFixed within 300k env steps, and >= 0.8 on PendulumFixed within 1M; wall-clock
  to 0.9 <= 0.25x the imitation library's GAIL.

Usage:
    bash benchmarks/setup_imitation_peer.sh            # once: the peer's venv, .venv-imitation
    .venv/bin/python benchmarks/imitation.py [--seeds 0 1 2] [--sections cartpole pendulum] [--methods ...]
        [--peer-python .venv-imitation/bin/python] [--out benchmarks/results/imitation.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
from common import REPO_ROOT, format_table, machine_info, median, write_json
from imitation_common import write_peer_npz
from pretraining import Workspace

CONFIGS = REPO_ROOT / "configs"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "imitation.json"
PEER_SCRIPT = REPO_ROOT / "benchmarks" / "imitation_peer.py"
EPISODES = 10
SECTIONS = {
    "cartpole": {"env": "rlp/CartPoleFixed-v0", "dataset": "cartpolefixed/dqn-expert-v0", "budget": 300_000,
                 "target": 0.9, "expert_config": "dqn_cartpole.yaml",
                 "methods": ("bc", "gail", "gail-a3c", "airl", "sqil", "imitation-gail", "imitation-bc")},
    "pendulum": {"env": "rlp/PendulumFixed-v0", "dataset": "pendulumfixed/a3c-expert-v0", "budget": 1_000_000,
                 "target": 0.8, "expert_config": "a3c_pendulum.yaml", "methods": ("gail",)},
}
OUR_CONFIGS = {("cartpole", "gail"): "gail_cartpole_fixed.yaml", ("cartpole", "gail-a3c"): "gail_cartpole_fixed.yaml",
               ("cartpole", "airl"): "airl_cartpole_fixed.yaml",
               ("cartpole", "sqil"): "sqil_cartpole.yaml", ("pendulum", "gail"): "gail_pendulum_fixed.yaml"}
# `gail-a3c`: the same config with two A3C worker processes (one per core) in place of A2C's one process
VARIANT_OVERRIDES = {"gail-a3c": ["agent.mode=async", "agent.num_workers=2", "agent.start_method=fork"]}
WALL_CLOCK_TARGET = 0.25


def random_return(env_id: str, episodes: int = 100, seed: int = 0) -> float:
    """The uniform random policy's mean return over `episodes` seeded episodes."""
    import rl_platform.envs  # noqa: F401  (registers rlp/ envs)

    env, total = gym.make(env_id), 0.0
    env.action_space.seed(seed)
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
    return total / episodes


def eval_curve(run_dir: Path, start_time: float) -> list[dict[str, float]]:
    """The run's `eval/mean_return` records: env steps, seconds since `start_time`, mean return."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    return [{"env_steps": e.step, "wall_s": e.wall_time - start_time, "mean_return": e.value}
            for e in events.Scalars("eval/mean_return")]


def summarise(curve: list[dict[str, float]], normalise, target: float) -> dict[str, Any]:
    """Final and best normalised score of an evaluation curve, and the first evaluation at `target`."""
    scores = [normalise(point["mean_return"]) for point in curve]
    first = next((point for point, score in zip(curve, scores, strict=True) if score >= target
                  and point["env_steps"] > 0), None)
    return {"final": scores[-1], "best": max(scores), "final_return": curve[-1]["mean_return"],
            "to_target_steps": None if first is None else first["env_steps"],
            "to_target_seconds": None if first is None else first["wall_s"], "curve": curve}


def make_expert(work: Workspace, section: dict[str, Any]) -> dict[str, Any]:
    """Train the section's expert, collect its 10 greedy episodes in the fixed-horizon env."""
    work.train("expert", CONFIGS / section["expert_config"], "seed=0")
    summary = json.loads(work.rlp("collect", "--from", str(work.run_dir("expert")), "--env", section["env"],
                                  "--episodes", str(EPISODES), "--out", section["dataset"], "--seed", "1", "--json"))
    return {"expert_return": summary["mean_return"], "expert_episodes": summary["episodes"]}


def ours(work: Workspace, name: str, key: str, section: dict[str, Any], seed: int, normalise) -> dict[str, Any]:
    """One of our methods, one seed: its curve and summary."""
    run = f"{key}_{name}_{seed}"
    start = time.time()
    if name == "bc":
        work.train(run, CONFIGS / "bc_cartpole.yaml", f"pretrain.dataset={section['dataset']}",
                   f"env.id={section['env']}", f"seed={seed}", command="pretrain")
        report = json.loads(work.rlp("eval", str(work.run_dir(run)), "--episodes", "100", "--json"))
        score = normalise(report["mean_return"])
        return {"final": score, "best": score, "final_return": report["mean_return"], "to_target_steps": 0,
                "to_target_seconds": time.time() - start if score >= section["target"] else None}
    overrides = [f"seed={seed}", f"train.total_steps={section['budget']}", f"agent.expert={section['dataset']}",
                 f"env.id={section['env']}", "train.stop_return=null", *VARIANT_OVERRIDES.get(name, [])]
    work.train(run, CONFIGS / OUR_CONFIGS[(key, name)], *overrides)
    return summarise(eval_curve(work.run_dir(run), start), normalise, section["target"])


def peer(work: Workspace, name: str, npz: Path, seed: int, budget: int, expert_return: float, normalise,
         target: float, peer_python: str) -> dict[str, Any]:
    """The `imitation` library's GAIL or BC, one seed, in its own venv."""
    out = work.root / f"peer_{name}_{seed}.jsonl"
    algorithm = name.split("-")[1]
    args = [peer_python, str(PEER_SCRIPT), "--demos", str(npz), "--algorithm", algorithm, "--seed", str(seed),
            "--out", str(out)]
    args += ["--env-steps", str(budget), "--eval-every", "16384"] if algorithm == "gail" else \
        ["--bc-epochs", "20", "--eval-every", "156"]
    subprocess.run(args, check=True, capture_output=True, text=True)
    curve = [json.loads(line) for line in out.read_text().splitlines()]
    curve = [point for point in curve if "summary" not in point]
    if algorithm == "bc":  # no env steps: count batches as the x axis, wall-clock as measured
        curve = [{**point, "env_steps": point["batches"]} for point in curve]
    return summarise(curve, normalise, target)


def run(seeds: tuple[int, ...] = (0, 1, 2), sections: tuple[str, ...] = ("cartpole", "pendulum"),
        methods: tuple[str, ...] | None = None, peer_python: str | None = None) -> dict[str, Any]:
    """Every section's figures (JSON-serialisable)."""
    results: dict[str, Any] = {"machine": machine_info(), "seeds": list(seeds), "episodes": EPISODES}
    for key in sections:
        section = SECTIONS[key]
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"rlp_imitation_{key}_") as tmp:
            work = Workspace(Path(tmp))
            figures: dict[str, Any] = {"env": section["env"], "budget": section["budget"],
                                       "random_return": random_return(section["env"]), **make_expert(work, section)}
            low, high = figures["random_return"], figures["expert_return"]
            normalise = lambda value, low=low, high=high: (value - low) / (high - low)  # noqa: E731
            npz = Path(tmp) / "expert.npz"
            for name in section["methods"] if methods is None else [m for m in methods if m in section["methods"]]:
                if name.startswith("imitation-"):
                    if peer_python is None:
                        continue
                    if not npz.exists():
                        write_peer_npz(str(Path(tmp) / "datasets" / section["dataset"]), npz)
                    per_seed = [peer(work, name, npz, seed, section["budget"], high, normalise, section["target"],
                                     peer_python) for seed in seeds]
                else:
                    per_seed = [ours(work, name, key, section, seed, normalise) for seed in seeds]
                figures[name] = {"seeds": per_seed,
                                 "median_final": median([r["final"] for r in per_seed]),
                                 "reached": sum(r["to_target_steps"] is not None for r in per_seed),
                                 "median_to_target_seconds": median([r["to_target_seconds"] for r in per_seed
                                                                     if r["to_target_seconds"] is not None])}
        figures["section_seconds"] = time.perf_counter() - started
        results[key] = figures
    cartpole = results.get("cartpole", {})
    for name in ("gail", "gail-a3c"):
        if name in cartpole and "imitation-gail" in cartpole:
            ours_s = cartpole[name]["median_to_target_seconds"]
            theirs_s = cartpole["imitation-gail"]["median_to_target_seconds"]
            cartpole[f"{name}_wall_clock_ratio"] = None if ours_s is None or theirs_s is None else ours_s / theirs_s
    return results


def print_table(results: dict[str, Any]) -> None:
    for key in SECTIONS:
        if key not in results:
            continue
        figures = results[key]
        print(f"{figures['env']}: random {figures['random_return']:.1f}, expert {figures['expert_return']:.1f}, "
              f"budget {figures['budget']:,} env steps")
        rows = []
        for name in SECTIONS[key]["methods"]:
            if name not in figures:
                continue
            entry = figures[name]
            finals = " ".join(f"{r['final']:.2f}" for r in entry["seeds"])
            to_target = " ".join("-" if r["to_target_steps"] is None else
                                 f"{r['to_target_steps'] / 1000:.0f}k/{r['to_target_seconds']:.0f}s"
                                 for r in entry["seeds"])
            rows.append([name, finals, f"{entry['median_final']:.2f}", f"{entry['reached']}/{len(entry['seeds'])}",
                         to_target])
        print(format_table(["method", "normalised (final, per seed)", "median", "reached", "to target (steps/s)"],
                           rows))
    for name in ("gail", "gail-a3c"):
        ratio = results.get("cartpole", {}).get(f"{name}_wall_clock_ratio")
        if ratio is not None:
            print(f"{name} wall-clock to 0.9 / imitation's GAIL (medians over the seeds that reached it): "
                  f"{ratio:.3f} (target <= {WALL_CLOCK_TARGET})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    parser.add_argument("--methods", nargs="+", help="a subset of the sections' methods")
    parser.add_argument("--peer-python", default=str(REPO_ROOT / ".venv-imitation" / "bin" / "python"),
                        help="the imitation peer's python ('' to skip the peer)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    peer_python = args.peer_python if args.peer_python and Path(args.peer_python).exists() else None
    results = run(tuple(args.seeds), tuple(args.sections), tuple(args.methods) if args.methods else None,
                  peer_python)
    print_table(results)
    write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
