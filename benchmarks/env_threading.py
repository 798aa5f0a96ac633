"""Threading set-ups of our Numba vector envs, on idle cores and with another process busy on them.

Env steps/s through the public `step()` (action checks on) of `rlp/CartPole-v1` and
`rlp/MinAtar-Breakout-v1` at `--num-envs` (1024 4096 16384 65536), with the cached random-action
table and timing loop of env_throughput.py, for each set-up below. Numba fixes its threading layer
once per process, so each set-up runs in its own subprocess (`--worker`).

- `default`: no NUMBA_THREADING_LAYER of ours (envs/kernel.py picks TBB where it loads, else
  workqueue) and no `num_threads`: from 512 envs up NumbaVectorEnv times its serial and parallel
  kernels every few hundred steps and runs the faster (`KernelChooser`);
- `<layer>, N threads`: the parallel kernel alone, `num_threads` = all usable cores, for the TBB,
  OpenMP (also with OMP_WAIT_POLICY=PASSIVE and GOMP_SPINCOUNT=10000) and workqueue layers;
- `workqueue, adaptive`: the default choice where TBB is missing;
- `1 thread`: `num_threads=1`, the serial kernel: the baseline a loaded machine must not fall below.

"Loaded": the benchmark starts `--load-procs` (default 1) other processes, unpinned, each a
single-threaded busy loop (`--load-kind python`: `while True`; `torch`: 256x256 float32 matmuls with
one torch thread, as a learner), before the set-up's subprocess, and kills them after it; each also
stops itself after `--load-limit` seconds. "Idle": none. Rounds run the set-ups interleaved,
`--repeats` (default 2) of them, and the table shows medians. Output: a table per env (M env steps/s)
and JSON (default `benchmarks/results/env_threading.json`) with every measurement (plus the worker's
CPU time / wall time, the threading layer Numba reports and, for the adaptive set-ups, how often the
parallel kernel won), ratios at 4096 envs and machine info.

    .venv/bin/python benchmarks/env_threading.py
    .venv/bin/python benchmarks/env_threading.py --envs cartpole --num-envs 4096 --seconds 0.3 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT, format_table, machine_info, write_json  # noqa: E402

ENVS = {"cartpole": "rlp/CartPole-v1", "breakout": "rlp/MinAtar-Breakout-v1"}
RATIO_AT = 4096
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

# name -> (environment variables, num_threads: None = NumbaVectorEnv's default, "all" = every usable core)
SETUPS: dict[str, tuple[dict[str, str], int | str | None]] = {
    "default": ({}, None),
    f"TBB, {CORES} threads": ({"NUMBA_THREADING_LAYER": "tbb"}, "all"),
    f"OpenMP, {CORES} threads": ({"NUMBA_THREADING_LAYER": "omp"}, "all"),
    f"OpenMP PASSIVE, {CORES} threads": ({"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "PASSIVE"}, "all"),
    f"OpenMP SPINCOUNT=10k, {CORES} thr.": ({"NUMBA_THREADING_LAYER": "omp", "GOMP_SPINCOUNT": "10000"}, "all"),
    f"workqueue, {CORES} threads": ({"NUMBA_THREADING_LAYER": "workqueue"}, "all"),
    "workqueue, adaptive": ({"NUMBA_THREADING_LAYER": "workqueue"}, None),
    "1 thread": ({}, 1),
}
THREAD_VARIABLES = ("NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_NUM_THREADS")

LOAD_SOURCES = {
    "python": "import time\nend = time.time() + {limit}\nwhile time.time() < end:\n    pass\n",
    "torch": ("import time, torch\ntorch.set_num_threads(1)\na = torch.randn(256, 256)\nend = time.time() + {limit}\n"
              "while time.time() < end:\n    a = torch.tanh(a @ a)\n"),
}


def run_worker(setup: str, envs: list[str], sizes: list[int], seconds: float) -> list[dict[str, Any]]:
    """In the set-up's own process: time step() for each env and size; one JSON record each."""
    import gymnasium as gym
    import numba
    from env_throughput import action_table, time_steps

    import rl_platform.envs  # noqa: F401  (registers rlp/ envs)

    threads = SETUPS[setup][1]
    num_threads = numba.config.NUMBA_NUM_THREADS if threads == "all" else threads
    records = []
    for key in envs:
        for n in sizes:
            env = gym.make_vec(ENVS[key], num_envs=n, num_threads=num_threads)
            actions = action_table(env.single_action_space, n)
            env.reset(seed=0)
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            steps, elapsed = time_steps(lambda k, env=env, actions=actions: env.step(actions[k % 64]), seconds)
            cpu_over_wall = (time.process_time() - cpu_start) / (time.perf_counter() - wall_start)  # with warm-up
            chooser = getattr(env, "kernel_chooser", None)
            records.append({
                "setup": setup, "env": key, "num_envs": n, "vector_steps": steps, "seconds": round(elapsed, 4),
                "env_steps_per_s": steps * n / elapsed, "cpu_over_wall": round(cpu_over_wall, 2),
                "threading_layer": numba.threading_layer() if num_threads != 1 else "(serial kernel)",
                "parallel_wins": None if chooser is None else f"{chooser.parallel_wins}/{chooser.trials}"})
            env.close()
    return records


def start_load(kind: str, procs: int, limit: float) -> list[subprocess.Popen]:
    source = LOAD_SOURCES[kind].format(limit=limit)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    load = [subprocess.Popen([sys.executable, "-c", source], env=env) for _ in range(procs)]
    time.sleep(1.0 if kind == "torch" else 0.3)  # torch's import; the scheduler settles
    return load


def stop_load(load: list[subprocess.Popen]) -> None:
    for process in load:
        process.kill()
    for process in load:
        process.wait()


def run_setup(setup: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    variables, _ = SETUPS[setup]
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update(variables)
    command = [sys.executable, __file__, "--worker", setup, "--envs", *args.envs,
               "--num-envs", *map(str, args.num_envs), "--seconds", str(args.seconds)]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.load_limit)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        print(f"  {setup}: failed\n{done.stderr[-2000:]}", flush=True)
        return [{"setup": setup, "note": f"failed: {done.stderr.strip().splitlines()[-1:]}"}]
    records = json.loads(done.stdout.strip().splitlines()[-1])
    for r in records:
        print(f"  {setup:30s} {r['env']:9s} N={r['num_envs']:>6}: {r['env_steps_per_s'] / 1e6:8.2f}M env steps/s"
              f"  cpu/wall {r['cpu_over_wall']:.2f} ({r['threading_layer']}"
              f"{', parallel won ' + r['parallel_wins'] if r['parallel_wins'] else ''})",
              flush=True)
    print(f"  ({setup}: {wall:.1f} s)", flush=True)
    return records


def medians(records: list[dict[str, Any]]) -> dict[tuple[str, str, str, int], float]:
    groups: dict[tuple[str, str, str, int], list[float]] = {}
    for r in records:
        if "env_steps_per_s" in r:
            groups.setdefault((r["load"], r["setup"], r["env"], r["num_envs"]), []).append(r["env_steps_per_s"])
    return {key: statistics.median(values) for key, values in groups.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", choices=sorted(ENVS), default=list(ENVS))
    parser.add_argument("--num-envs", nargs="+", type=int, default=[1024, 4096, 16384, 65536])
    parser.add_argument("--setups", nargs="+", choices=list(SETUPS), default=list(SETUPS))
    parser.add_argument("--seconds", type=float, default=0.5, help="minimum timed wall time per measurement")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds of every set-up")
    parser.add_argument("--loads", nargs="+", choices=("idle", "loaded"), default=["idle", "loaded"])
    parser.add_argument("--load-kind", choices=sorted(LOAD_SOURCES), default="python")
    parser.add_argument("--load-procs", type=int, default=1, help="busy processes in the loaded runs")
    parser.add_argument("--load-limit", type=float, default=300.0,
                        help="seconds after which a busy process (and a set-up's subprocess) stops itself")
    parser.add_argument("--worker", choices=list(SETUPS), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "env_threading.json")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.envs, args.num_envs, args.seconds)))
        return

    info = machine_info(("rl_platform", "numpy", "gymnasium", "numba", "tbb", "torch"))
    print(f"{info['cpu_model']}, {info['usable_cpu_count']} usable CPUs, load {info['load_average_at_start']}")
    records: list[dict[str, Any]] = []
    for round_index in range(args.repeats):
        for load_state in args.loads:
            print(f"\n== round {round_index + 1}/{args.repeats}, {load_state}"
                  + (f" ({args.load_procs} x {args.load_kind} busy loop)" if load_state == "loaded" else ""))
            for setup in args.setups:
                load = start_load(args.load_kind, args.load_procs, args.load_limit) if load_state == "loaded" else []
                load_average = round(os.getloadavg()[0], 2)  # what else ran: the 1-minute average includes ours
                try:
                    for r in run_setup(setup, args):
                        records.append({**r, "load": load_state, "round": round_index, "load_average": load_average})
                finally:
                    stop_load(load)

    table = medians(records)
    summary: dict[str, Any] = {}
    for key in args.envs:
        columns = [(n, load) for n in args.num_envs for load in args.loads]
        rows = [[setup, *[f"{table[(load, setup, key, n)] / 1e6:.1f}" if (load, setup, key, n) in table else "-"
                          for n, load in columns]] for setup in args.setups]
        print(f"\n{ENVS[key]}: M env steps/s, median of {args.repeats} (num_envs, idle/loaded across)")
        print(format_table(["setup", *[f"{n} {load}" for n, load in columns]], rows))
        ours = {load: table.get((load, "default", key, RATIO_AT)) for load in args.loads}
        single = {load: table.get((load, "1 thread", key, RATIO_AT)) for load in args.loads}
        summary[key] = {f"default_over_1_thread_{load}": round(ours[load] / single[load], 2)
                        for load in args.loads if ours[load] and single[load]}
        print(f"at {RATIO_AT} envs, default / 1 thread: {summary[key]}")
    path = write_json(args.out, {
        "benchmark": "env_threading",
        "description": "env steps/s through step() per threading set-up, idle and with busy processes on the cores",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "setups": {name: {"environment": v, "num_threads": t} for name, (v, t) in SETUPS.items()},
        "medians": [{"load": load, "setup": setup, "env": env, "num_envs": n, "env_steps_per_s": sps}
                    for (load, setup, env, n), sps in table.items()],
        "ratios_at_4096": summary,
        "results": records,
        "machine": info,
    })
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
