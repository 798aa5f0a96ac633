"""Transitions per second written to a Minari dataset: `rlp collect` vs Minari's own DataCollector.

* Ours: `rl_platform.collect.collect` with the random policy on `rlp/CartPole-v1`, `--num-envs` (1024) envs,
  `--ours-steps` (200k) steps of complete episodes: env creation, stepping, cutting the streams into
  episodes and writing the dataset (HDF5 through its C API) all timed. An untimed warm-up collection first
  loads the compiled env kernels (a cold cache would otherwise be timed once).
* Minari: `minari.DataCollector(gymnasium.make("CartPole-v1"))` stepped with `action_space.sample()` (reset
  at every episode end) for `--minari-steps` (20k) steps, then `create_dataset`: wrapper creation, stepping
  and writing all timed. Needs jax (the `bench` extra).

Runs are interleaved (ours, Minari, ours, ...) `--repeats` times, each into a fresh temporary
MINARI_DATASETS_PATH. Reported: each side's median transitions/s and their ratio (target: ours >= 20x).
Output: a table and JSON (default benchmarks/results/collection.json) with the machine, CPU and commit. Only
meaningful on an idle machine.

    .venv/bin/python benchmarks/collection.py
    .venv/bin/python benchmarks/collection.py --quick --out /tmp/collection.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT, format_table, machine_info, median, write_json  # noqa: E402

ENV_ID = "CartPole-v1"


@contextmanager
def _fresh_dataset_root() -> Iterator[None]:
    """A temporary MINARI_DATASETS_PATH for one run, removed afterwards."""
    saved = os.environ.get("MINARI_DATASETS_PATH")
    with tempfile.TemporaryDirectory(prefix="collection-bench-") as root:
        os.environ["MINARI_DATASETS_PATH"] = root
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop("MINARI_DATASETS_PATH", None)
            else:
                os.environ["MINARI_DATASETS_PATH"] = saved


def measure_ours(steps: int, num_envs: int, seed: int) -> dict[str, Any]:
    """One end-to-end `rlp collect --policy random` run on rlp/CartPole-v1."""
    from rl_platform.collect import collect

    with _fresh_dataset_root():
        started = time.perf_counter()
        result = collect("bench/ours-v0", policy="random", env_id=f"rlp/{ENV_ID}", num_envs=num_envs, steps=steps,
                         seed=seed)
        seconds = time.perf_counter() - started
    return {"transitions": result["steps"], "episodes": result["episodes"], "seconds": seconds,
            "transitions_per_second": result["steps"] / seconds,
            "collect_and_write_seconds": result["seconds"]}  # without env creation


def measure_minari(steps: int, seed: int) -> dict[str, Any]:
    """One end-to-end DataCollector run: random actions on Gymnasium's CartPole, then create_dataset."""
    import gymnasium as gym
    from minari import DataCollector

    with _fresh_dataset_root(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Minari warns about every metadata field left out
        started = time.perf_counter()
        env = DataCollector(gym.make(ENV_ID))
        env.reset(seed=seed)
        env.action_space.seed(seed)
        for _ in range(steps):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        dataset = env.create_dataset("bench/minari-v0", algorithm_name="random")
        seconds = time.perf_counter() - started
        env.close()
    # the episode in progress at the end is written too (as Minari does), so count what the dataset holds
    return {"transitions": dataset.total_steps, "episodes": dataset.total_episodes, "seconds": seconds,
            "transitions_per_second": dataset.total_steps / seconds}


def measure_collection(ours_steps: int = 200_000, minari_steps: int = 20_000, repeats: int = 3,
                       num_envs: int = 1024, seed: int = 0,
                       progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Interleaved runs of both sides; each side's runs and median transitions/s, and the ratio ours / Minari."""
    measure_ours(min(ours_steps, 10 * num_envs), num_envs, seed)  # warm-up: compiled kernels, imports
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "minari": []}
    for repeat in range(repeats):
        for side in ("ours", "minari"):
            runs[side].append(measure_ours(ours_steps, num_envs, seed + repeat) if side == "ours"
                              else measure_minari(minari_steps, seed + repeat))
            if progress is not None:
                progress(f"repeat {repeat + 1}/{repeats} {side}: {runs[side][-1]['transitions_per_second']:,.0f} "
                         "transitions/s")
    medians = {side: median([run["transitions_per_second"] for run in side_runs])
               for side, side_runs in runs.items()}
    return {"settings": {"env": ENV_ID, "ours_env": f"rlp/{ENV_ID}", "ours_steps": ours_steps,
                         "minari_steps": minari_steps, "repeats": repeats, "num_envs": num_envs, "seed": seed},
            "runs": runs, "median_transitions_per_second": medians, "ratio": medians["ours"] / medians["minari"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50k / 5k steps, 2 repeats")
    parser.add_argument("--ours-steps", type=int, default=200_000)
    parser.add_argument("--minari-steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "collection.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.ours_steps, args.minari_steps, args.repeats = 50_000, 5_000, 2
    info = machine_info(packages=("rl_platform", "numpy", "gymnasium", "minari", "h5py", "jax", "numba"))
    result = measure_collection(args.ours_steps, args.minari_steps, args.repeats, args.num_envs,
                                progress=lambda line: print(line, file=sys.stderr))
    rows = [[side, f"{len(runs)}", f"{median([r['transitions'] for r in runs]):,.0f}",
             f"{median([r['seconds'] for r in runs]):.2f}", f"{result['median_transitions_per_second'][side]:,.0f}"]
            for side, runs in result["runs"].items()]
    print(format_table(["side", "runs", "transitions", "seconds", "transitions/s (median)"], rows))
    print(f"ratio ours / Minari: {result['ratio']:.1f}x (target >= 20x) on {info['cpu_model']}")
    path = write_json(args.out, {"benchmark": "collection", "machine": info, **result})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
