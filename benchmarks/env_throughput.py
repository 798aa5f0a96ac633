"""Environment throughput: env steps per second of our Numba vector envs against Gymnasium and EnvPool.

Every implementation is driven through its public `step()` API, side by side in one run, with the
same cached table of random actions (64 precomputed action arrays, cycled), after a warm-up
(compilation, process start-up). Each configuration is timed for at least `--seconds` of wall time
and at least 3 vector steps: slow ones (Gymnasium SyncVectorEnv at 65536 envs) are measured on few
steps, never extrapolated.

Implementations (per env and num_envs):

- `rlp step() checked` / `rlp step() unchecked`: `gymnasium.make_vec("rlp/<id>", num_envs=N)`, our
  NumbaVectorEnv, with `check_actions` on (the default) and off.
- `rlp raw kernel`: the same env's compiled `step_all` kernel called directly on its preallocated
  arrays: the ceiling for `step()`.
- `gym SyncVectorEnv` / `gym AsyncVectorEnv`: Gymnasium's reference env, vectorized by
  `gymnasium.make_vec(..., vectorization_mode="sync"/"async")`. Async runs one process per env, so it
  is measured up to `--async-max-envs` (default 64; more processes than that on a few cores measure
  the OS scheduler, not the env).
- `gym NumPy vector env` (CartPole only): Gymnasium's own vectorized NumPy `CartPoleVectorEnv`
  (`vectorization_mode="vector_entry_point"`); Gymnasium has none for FrozenLake.
- `EnvPool`: `envpool.make_gymnasium(id, num_envs=N, batch_size=N)` (synchronous mode); skipped with
  a note if EnvPool is not installed or fails.
- `rlp CUDA step()` (`--cuda`, needs a GPU visible to Numba and PyTorch): CudaVectorEnv at 2**20
  envs (and the largest `--num-envs`), actions as torch CUDA tensors, timed up to a final
  `torch.cuda.synchronize()`.

Output: a table per env (env steps/s), and JSON (default `benchmarks/results/env_throughput.json`)
with every measurement, ratios at 4096 envs (ours/EnvPool, ours/SyncVectorEnv, raw kernel/step())
and whether the targets (>= 50x EnvPool, >= 300x SyncVectorEnv, step() within 2x of the raw
kernel) are met, plus machine info. Timings are only meaningful on an otherwise idle machine.

    .venv/bin/python benchmarks/env_throughput.py
    .venv/bin/python benchmarks/env_throughput.py --envs cartpole --num-envs 64 4096 --seconds 0.5
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT, format_table, machine_info, write_json  # noqa: E402

import rl_platform.envs  # noqa: E402, F401  (registers rlp/ envs)

NUM_ACTION_ARRAYS = 64
RATIO_AT = 4096
TARGETS = {"ours_over_envpool": 50.0, "ours_over_sync": 300.0, "raw_over_ours_max": 2.0}
CUDA_NUM_ENVS = 2**20

# --envs name -> (our id, Gymnasium's id, EnvPool's id, Gymnasium has a NumPy vector env)
ENVS = {
    "cartpole": ("rlp/CartPole-v1", "CartPole-v1", "CartPole-v1", True),
    "frozenlake": ("rlp/FrozenLake-v1", "FrozenLake-v1", "FrozenLake-v1", False),
}


@dataclass
class Result:
    env: str
    impl: str
    num_envs: int
    vector_steps: int | None = None
    seconds: float | None = None
    env_steps_per_s: float | None = None
    note: str | None = None


def time_steps(step: Callable[[int], Any], seconds: float, min_steps: int = 3, warmup_seconds: float = 0.2,
               finish: Callable[[], Any] | None = None) -> tuple[int, float]:
    """Call `step(k)` for a warm-up, then for >= `seconds` and >= `min_steps` calls; (calls, seconds)."""
    start, k = time.perf_counter(), 0
    while k < 2 or time.perf_counter() - start < warmup_seconds:
        step(k)
        k += 1
    if finish is not None:
        finish()
    start, n, batch = time.perf_counter(), 0, 1
    while True:
        for _ in range(batch):  # check the clock every `batch` steps, at most ~0.1 s apart
            step(n)
            n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= min_steps:
            break
        batch = max(1, min(batch * 2, int(0.1 * n / max(elapsed, 1e-9))))
    if finish is not None:
        finish()
    return n, time.perf_counter() - start


def action_table(space: gym.Space, num_envs: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    assert isinstance(space, gym.spaces.Discrete)
    return [rng.integers(space.start, space.start + space.n, num_envs) for _ in range(NUM_ACTION_ARRAYS)]


def measure_vector_env(env: Any, actions: list[np.ndarray], seconds: float) -> tuple[int, float]:
    if any(cls.__module__.startswith("envpool") for cls in type(env).__mro__):
        env.reset()  # EnvPool takes its seed at creation (make_gymnasium's seed, default 42)
    else:
        env.reset(seed=0)
    mask = NUM_ACTION_ARRAYS - 1
    return time_steps(lambda k: env.step(actions[k & mask]), seconds)


def measure_raw_kernel(env: Any, actions: list[np.ndarray], seconds: float) -> tuple[int, float]:
    """Our step kernel called directly on the env's own preallocated arrays (same kernel step() uses)."""
    env.reset(seed=0)
    kernel, mask = env._step_all, NUM_ACTION_ARRAYS - 1
    outputs = (env._obs[0], env._rewards[0], env._terminations[0], env._truncations[0], env._final_obs[0])
    states, params, rng, elapsed, max_steps = env.states, env._params, env.rng, env.elapsed, env.max_episode_steps
    env._set_threads()

    def step(k: int) -> None:
        kernel(states, actions[k & mask], params, rng, elapsed, max_steps, *outputs)

    return time_steps(step, seconds)


def run_env(key: str, sizes: list[int], args: argparse.Namespace, results: list[Result]) -> None:
    ours_id, gym_id, envpool_id, has_numpy_vector = ENVS[key]
    if ours_id not in gym.registry:
        results.append(Result(key, "all", 0, note=f"{ours_id} is not registered (yet): skipped"))
        print(f"\n{ours_id} is not registered: skipped")
        return
    try:
        import envpool
    except ImportError:
        envpool = None

    def record(impl: str, n: int, make: Callable[[], Any] | None, measure=measure_vector_env,
               note: str | None = None) -> None:
        if make is None:
            results.append(Result(key, impl, n, note=note))
            print(f"  {impl:24s} N={n:>6}: skipped ({note})", flush=True)
            return
        env = None
        try:
            env = make()
            space = getattr(env, "single_action_space", None) or env.action_space
            steps, elapsed = measure(env, action_table(space, n), args.seconds)
        except Exception as error:  # report and go on: one broken reference must not stop the run
            results.append(Result(key, impl, n, note=f"failed: {type(error).__name__}: {error}"))
            print(f"  {impl:24s} N={n:>6}: failed ({error})", flush=True)
            return
        finally:
            if env is not None and hasattr(env, "close"):
                env.close()
            del env
            gc.collect()
        sps = steps * n / elapsed
        results.append(Result(key, impl, n, steps, round(elapsed, 4), sps, note))
        print(f"  {impl:24s} N={n:>6}: {sps:>14,.0f} env steps/s ({steps} steps in {elapsed:.2f} s)", flush=True)

    print(f"\n== {ours_id} vs Gymnasium {gym_id} / EnvPool {envpool_id}", flush=True)
    for n in sizes:
        record("rlp step() checked", n, lambda n=n: gym.make_vec(ours_id, num_envs=n))
        record("rlp step() unchecked", n, lambda n=n: gym.make_vec(ours_id, num_envs=n, check_actions=False))
        record("rlp raw kernel", n, lambda n=n: gym.make_vec(ours_id, num_envs=n, check_actions=False),
               measure=measure_raw_kernel)
        record("gym SyncVectorEnv", n, lambda n=n: gym.make_vec(gym_id, num_envs=n, vectorization_mode="sync"))
        if n <= args.async_max_envs:
            record("gym AsyncVectorEnv", n, lambda n=n: gym.make_vec(gym_id, num_envs=n, vectorization_mode="async"))
        else:
            record("gym AsyncVectorEnv", n, None, note=f"one process per env: capped at {args.async_max_envs} envs")
        if has_numpy_vector:
            record("gym NumPy vector env", n,
                   lambda n=n: gym.make_vec(gym_id, num_envs=n, vectorization_mode="vector_entry_point"))
        if envpool is None:
            record("EnvPool", n, None, note="envpool is not installed")
        elif envpool_id not in envpool.list_all_envs():
            record("EnvPool", n, None, note=f"EnvPool has no {envpool_id}")
        else:
            record("EnvPool", n, lambda n=n: envpool.make_gymnasium(envpool_id, num_envs=n, batch_size=n))


def run_cuda(sizes: list[int], args: argparse.Namespace, results: list[Result]) -> None:
    """Our CudaVectorEnv (CartPole) with torch CUDA actions, when a GPU is visible."""
    print("\n== rlp/CartPole-v1 on CUDA", flush=True)
    try:
        import torch
        from numba import cuda

        available = torch.cuda.is_available() and cuda.is_available()
    except Exception as error:  # no CUDA driver, no torch CUDA build
        available, error_note = False, str(error)
    else:
        error_note = "no GPU visible to PyTorch and Numba"
    if not available:
        results.append(Result("cartpole", "rlp CUDA step()", CUDA_NUM_ENVS, note=f"skipped: {error_note}"))
        print(f"  skipped: {error_note}")
        return
    for n in sorted({max(sizes), CUDA_NUM_ENVS}):
        for check in (True, False):
            impl = f"rlp CUDA step() {'checked' if check else 'unchecked'}"
            try:
                env = gym.make_vec("rlp/CartPole-v1", num_envs=n, device="cuda", check_actions=check)
                env.reset(seed=0)
                actions = [torch.randint(0, 2, (n,), device="cuda") for _ in range(NUM_ACTION_ARRAYS)]
                steps, elapsed = time_steps(lambda k, env=env, actions=actions:
                                            env.step(actions[k % NUM_ACTION_ARRAYS]),
                                            args.seconds, finish=torch.cuda.synchronize)
            except Exception as error:
                results.append(Result("cartpole", impl, n, note=f"failed: {type(error).__name__}: {error}"))
                print(f"  {impl} N={n}: failed ({error})")
                continue
            sps = steps * n / elapsed
            results.append(Result("cartpole", impl, n, steps, round(elapsed, 4), sps))
            print(f"  {impl:24s} N={n:>7}: {sps:>16,.0f} env steps/s ({steps} steps in {elapsed:.2f} s)", flush=True)


def ratios(results: list[Result], env: str) -> dict[str, Any]:
    """Ratios at RATIO_AT envs between measured throughputs, and whether the targets are met."""
    sps = {r.impl: r.env_steps_per_s for r in results if r.env == env and r.num_envs == RATIO_AT}
    ours, unchecked, raw = sps.get("rlp step() checked"), sps.get("rlp step() unchecked"), sps.get("rlp raw kernel")
    envpool, sync = sps.get("EnvPool"), sps.get("gym SyncVectorEnv")

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a and b else None

    out = {
        "num_envs": RATIO_AT,
        "ours_over_envpool": ratio(ours, envpool),
        "ours_over_sync": ratio(ours, sync),
        "raw_over_ours": ratio(raw, ours),
        "ours_unchecked_over_envpool": ratio(unchecked, envpool),
        "ours_unchecked_over_sync": ratio(unchecked, sync),
        "raw_over_ours_unchecked": ratio(raw, unchecked),
    }
    met = {
        "ours_over_envpool >= 50": None if out["ours_over_envpool"] is None
        else out["ours_over_envpool"] >= TARGETS["ours_over_envpool"],
        "ours_over_sync >= 300": None if out["ours_over_sync"] is None
        else out["ours_over_sync"] >= TARGETS["ours_over_sync"],
        "raw_over_ours <= 2": None if out["raw_over_ours"] is None
        else out["raw_over_ours"] <= TARGETS["raw_over_ours_max"],
    }
    return {**out, "targets_met": met}


def print_table(results: list[Result], env: str, sizes: list[int]) -> None:
    rows: dict[str, dict[int, str]] = {}
    for r in results:
        if r.env != env or r.impl == "all":
            continue
        cell = f"{r.env_steps_per_s:,.0f}" if r.env_steps_per_s else ("skipped" if r.note else "-")
        if r.note and r.note.startswith("failed"):
            cell = "failed"
        rows.setdefault(r.impl, {})[r.num_envs] = cell
    columns = sorted({n for cells in rows.values() for n in cells} | set(sizes))
    print(f"\n{env}: env steps/s (num_envs across)")
    print(format_table(["impl", *[str(n) for n in columns]],
                       [[impl, *[cells.get(n, "") for n in columns]] for impl, cells in rows.items()]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", choices=sorted(ENVS), default=sorted(ENVS))
    parser.add_argument("--num-envs", nargs="+", type=int, default=[1, 64, 1024, 4096, 65536])
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum timed wall time per configuration")
    parser.add_argument("--async-max-envs", type=int, default=64,
                        help="largest num_envs for AsyncVectorEnv (one process per env)")
    parser.add_argument("--cuda", action="store_true", help="also time CudaVectorEnv (skipped without a GPU)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "env_throughput.json")
    args = parser.parse_args(argv)

    info = machine_info(("rl_platform", "numpy", "gymnasium", "numba", "envpool", "torch"))
    print(f"{info['cpu_model']}, {info['usable_cpu_count']} usable CPUs, load {info['load_average_at_start']}")
    results: list[Result] = []
    for key in sorted(args.envs, key=list(ENVS).index):
        run_env(key, args.num_envs, args, results)
    if args.cuda:
        run_cuda(args.num_envs, args, results)

    summary = {}
    for key in args.envs:
        print_table(results, key, args.num_envs)
        if RATIO_AT in args.num_envs:
            summary[key] = ratios(results, key)
            print(f"ratios at {RATIO_AT} envs: {summary[key]}")
    if args.cuda:
        print_table(results, "cartpole", [])  # includes the CUDA rows
    path = write_json(args.out, {
        "benchmark": "env_throughput",
        "description": "env steps/s through the public step() API (raw kernel: ceiling); cached random actions",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "targets": TARGETS,
        "ratios": summary,
        "results": [asdict(r) for r in results],
        "machine": info,
    })
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
