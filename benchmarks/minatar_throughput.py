"""MinAtar throughput: env steps per second of our Numba MinAtar games against the `minatar` package and gymnax.

Per game (Breakout, Freeway, Asterix, SpaceInvaders), side by side in one run, every implementation
fed random actions from a cached table (drawn once, from the game's minimal action set), after an
untimed set-up and warm-up (Numba / XLA compilation, first steps). Each measurement runs for at least
`--seconds` of wall time; `--repeats` rounds run interleaved (every implementation once per round) and
the median is reported.

- `rlp step()`: `gymnasium.make_vec("rlp/MinAtar-<Game>-v1", num_envs=N)`, our NumbaVectorEnv, through
  its public `step()` (action checks on, the default), cycling 64 cached action arrays; it writes the
  observations, rewards, terminations, truncations and, on terminal steps, final observations.
- `rlp raw kernel`: the same env's compiled step kernel called directly on its arrays (the ceiling
  for `step()`), as in env_throughput.py.
- `minatar (1 env)`: the reference package, `minatar.Environment(<game>)` (sticky actions 0.1,
  difficulty ramping: its defaults, as ours), one env in a Python loop: `act(a)` then `state()` (the
  observation, which ours computes every step), and on a terminal step `reset()` and `state()` again.
- `gymnax`: `gymnax.make("<Game>-MinAtar")` with its default params, `jax.jit` of a `jax.lax.scan`
  over `--scan-steps` T steps (default 64) of `jax.vmap(env.step)` over N envs, which auto-resets
  as gymnax does (inside `step`). Per step the scan splits one key per env, and keeps the
  observations (in the carry), rewards, terminations and truncations (as outputs) so XLA cannot
  drop their computation; the actions are a cached (T, N) table. One call is N*T env steps, timed up
  to `jax.block_until_ready`, after a compile call. JAX runs on CPU (`JAX_PLATFORMS=cpu` unless set
  otherwise); the platform and devices are in the JSON. gymnax's MinAtar has no sticky actions and
  truncates episodes at `max_steps_in_episode` (1000; Freeway 2500): slightly less work per step than
  ours and the reference.

Output: a table (median env steps/s per game, ratios ours/minatar and ours/gymnax) and JSON (default
`benchmarks/results/minatar_throughput.json`) with every measurement, the per-game medians and
ratios, their geometric means over the games, whether the targets (geometric mean >= 50x minatar
and >= 3x gymnax) are met, and machine info. Timings are only meaningful on an otherwise idle machine.

    .venv/bin/python benchmarks/minatar_throughput.py                 # 4 games, 4096 envs, 3 repeats
    .venv/bin/python benchmarks/minatar_throughput.py --smoke         # < 1 minute, JSON to the temp dir
    .venv/bin/python benchmarks/minatar_throughput.py --games breakout --seconds 0.5 --repeats 1
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT, format_table, machine_info, write_json  # noqa: E402
from env_throughput import action_table, measure_raw_kernel, measure_vector_env, time_steps  # noqa: E402

import rl_platform.envs  # noqa: E402, F401  (registers rlp/ envs)

TARGETS = {"ours_over_minatar_geomean": 50.0, "ours_over_gymnax_geomean": 3.0}
MINATAR_CHUNK = 1024  # minatar steps per timed call, so the harness' per-call overhead is negligible
IMPLS = ("rlp step()", "rlp raw kernel", "minatar (1 env)", "gymnax")

# --games name -> (our id, minatar package game, gymnax id)
GAMES = {
    "breakout": ("rlp/MinAtar-Breakout-v1", "breakout", "Breakout-MinAtar"),
    "freeway": ("rlp/MinAtar-Freeway-v1", "freeway", "Freeway-MinAtar"),
    "asterix": ("rlp/MinAtar-Asterix-v1", "asterix", "Asterix-MinAtar"),
    "spaceinvaders": ("rlp/MinAtar-SpaceInvaders-v1", "space_invaders", "SpaceInvaders-MinAtar"),
}


@dataclass
class Runner:
    """One prepared implementation: `measure(seconds) -> (env steps, elapsed seconds)`, and its clean-up."""

    measure: Callable[[float], tuple[int, float]]
    setup_seconds: float
    close: Callable[[], None] = field(default=lambda: None)


@dataclass
class Result:
    game: str
    impl: str
    num_envs: int
    repeat: int | None = None
    env_steps: int | None = None
    seconds: float | None = None
    env_steps_per_s: float | None = None
    setup_seconds: float | None = None
    cpu_cores_used: float | None = None  # process CPU time / wall time over the measurement (warm-up included)
    note: str | None = None


def ours_runners(our_id: str, num_envs: int, seed: int) -> dict[str, Runner]:
    """`rlp step()` and `rlp raw kernel` on one shared vector env (the raw kernel bypasses the action checks)."""
    start = time.perf_counter()
    env = gym.make_vec(our_id, num_envs=num_envs)
    actions = action_table(env.single_action_space, num_envs, seed)
    measure_vector_env(env, actions, seconds=0.0)  # compiles the kernels (untimed)
    setup_seconds = time.perf_counter() - start

    def vector_steps(measure: Callable[..., tuple[int, float]]) -> Callable[[float], tuple[int, float]]:
        def run(seconds: float) -> tuple[int, float]:
            calls, elapsed = measure(env, actions, seconds)
            return calls * num_envs, elapsed

        return run

    return {"rlp step()": Runner(vector_steps(measure_vector_env), setup_seconds, env.close),
            "rlp raw kernel": Runner(vector_steps(measure_raw_kernel), setup_seconds)}


def minatar_runner(game: str, seed: int) -> Runner:
    """The reference package, one env stepped in a Python loop: act(), state(), auto reset on terminal."""
    from minatar import Environment

    start = time.perf_counter()
    env = Environment(game)  # sticky_action_prob=0.1, difficulty_ramping=True
    env.seed(seed)
    env.reset()
    minimal_actions = np.asarray(env.minimal_action_set())
    rng = np.random.default_rng(seed)
    actions = [int(a) for a in minimal_actions[rng.integers(0, len(minimal_actions), MINATAR_CHUNK)]]

    def chunk(_: int) -> None:
        for action in actions:
            _, terminal = env.act(action)
            env.state()
            if terminal:
                env.reset()
                env.state()

    def run(seconds: float) -> tuple[int, float]:
        calls, elapsed = time_steps(chunk, seconds)
        return calls * MINATAR_CHUNK, elapsed

    return Runner(run, time.perf_counter() - start)


def gymnax_runner(gymnax_id: str, num_envs: int, scan_steps: int, seed: int) -> Runner:
    """gymnax: jit(scan over `scan_steps` of vmap(env.step) over `num_envs`), auto-reset inside `step`."""
    import gymnax
    import jax

    start = time.perf_counter()
    env, params = gymnax.make(gymnax_id)
    vmap_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def rollout(carry: tuple[Any, Any, Any], actions: jax.Array) -> tuple[tuple[Any, Any, Any], Any]:
        def one_step(carry: tuple[Any, Any, Any], step_actions: jax.Array) -> tuple[tuple[Any, Any, Any], Any]:
            key, state, _ = carry
            key, step_key = jax.random.split(key)
            obs, state, reward, terminated, truncated, _ = vmap_step(
                jax.random.split(step_key, num_envs), state, step_actions, params)
            return (key, state, obs), (reward, terminated, truncated)

        return jax.lax.scan(one_step, carry, actions)

    compiled_rollout = jax.jit(rollout, donate_argnums=0)
    key, reset_key = jax.random.split(jax.random.key(seed))
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, num_envs), params)
    num_actions = env.action_space(params).n
    actions = jax.numpy.asarray(np.random.default_rng(seed).integers(0, num_actions, (scan_steps, num_envs)),
                                dtype=jax.numpy.int32)
    carry = [(key, state, obs)]

    def call(_: int) -> None:
        # Blocking on every call keeps time_steps' clock honest (dispatch is asynchronous); one call is
        # N*T env steps, so the wait costs nothing measurable.
        carry[0], outputs = compiled_rollout(carry[0], actions)
        jax.block_until_ready((carry[0], outputs))

    call(0)  # compiles (untimed)
    setup_seconds = time.perf_counter() - start

    def run(seconds: float) -> tuple[int, float]:
        calls, elapsed = time_steps(call, seconds)
        return calls * scan_steps * num_envs, elapsed

    return Runner(run, setup_seconds)


def jax_info() -> dict[str, Any]:
    """JAX's backend and devices (None entries when JAX is not installed)."""
    try:
        import jax
    except ImportError:
        return {"platform": None, "devices": None}
    return {"platform": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
            "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS"), "XLA_FLAGS": os.environ.get("XLA_FLAGS")}


def prepare(game: str, args: argparse.Namespace, results: list[Result]) -> dict[str, Runner]:
    """Set up (and warm up) every implementation for `game`; a missing or failing one is recorded as skipped."""
    our_id, minatar_game, gymnax_id = GAMES[game]
    builders: list[tuple[tuple[str, ...], Callable[[], dict[str, Runner]], str | None]] = [
        (("rlp step()", "rlp raw kernel"), lambda: ours_runners(our_id, args.num_envs, args.seed),
         None if our_id in gym.registry else f"{our_id} is not registered (yet)"),
        (("minatar (1 env)",), lambda: {"minatar (1 env)": minatar_runner(minatar_game, args.seed)},
         None if _installed("minatar") else "minatar is not installed"),
        (("gymnax",), lambda: {"gymnax": gymnax_runner(gymnax_id, args.num_envs, args.scan_steps, args.seed)},
         None if _installed("gymnax") else "gymnax is not installed"),
    ]
    runners: dict[str, Runner] = {}
    for impls, build, missing in builders:
        note = f"skipped: {missing}" if missing else None
        if note is None:
            try:
                runners.update(build())
            except Exception as error:  # report and go on: one broken implementation must not stop the run
                note = f"failed: {type(error).__name__}: {error}"
        for impl in impls:
            if impl in runners:
                print(f"  {impl:16s} set-up and warm-up {runners[impl].setup_seconds:.1f} s", flush=True)
            else:
                results.append(Result(game, impl, _num_envs(impl, args), note=note))
                print(f"  {impl:16s} {note}", flush=True)
    return runners


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _num_envs(impl: str, args: argparse.Namespace) -> int:
    return 1 if impl.startswith("minatar") else args.num_envs


def run_game(game: str, args: argparse.Namespace, results: list[Result]) -> None:
    print(f"\n== {game}: {', '.join(GAMES[game])}", flush=True)
    runners = prepare(game, args, results)
    for repeat in range(args.repeats):
        for impl in IMPLS:
            if impl not in runners:
                continue
            runner = runners[impl]
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            try:
                env_steps, elapsed = runner.measure(args.seconds)
            except Exception as error:
                results.append(Result(game, impl, _num_envs(impl, args), repeat,
                                      note=f"failed: {type(error).__name__}: {error}"))
                print(f"  {impl:16s} repeat {repeat}: failed ({error})", flush=True)
                continue
            cores = (time.process_time() - cpu_start) / (time.perf_counter() - wall_start)
            sps = env_steps / elapsed
            results.append(Result(game, impl, _num_envs(impl, args), repeat, env_steps, round(elapsed, 4), sps,
                                  round(runner.setup_seconds, 2), round(cores, 2)))
            print(f"  {impl:16s} repeat {repeat}: {sps:>14,.0f} env steps/s ({env_steps:,} steps in {elapsed:.2f} s, "
                  f"{cores:.1f} cores busy)", flush=True)
    for runner in runners.values():
        runner.close()
    del runners
    gc.collect()


def summarize(results: list[Result], games: list[str]) -> dict[str, Any]:
    """Median env steps/s per game and implementation, ratios, their geometric means, and the targets."""

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    def geomean(values: list[float | None]) -> float | None:
        present = [v for v in values if v]
        return math.exp(statistics.fmean(math.log(v) for v in present)) if present else None

    per_game: dict[str, Any] = {}
    for game in games:
        medians = {impl: statistics.median(sps) if (sps := [r.env_steps_per_s for r in results
                                                           if r.game == game and r.impl == impl
                                                           and r.env_steps_per_s]) else None
                   for impl in IMPLS}
        ours = medians["rlp step()"]
        per_game[game] = {"median_env_steps_per_s": medians,
                          "ours_over_minatar": ratio(ours, medians["minatar (1 env)"]),
                          "ours_over_gymnax": ratio(ours, medians["gymnax"]),
                          "raw_over_ours": ratio(medians["rlp raw kernel"], ours)}
    over_minatar = [g["ours_over_minatar"] for g in per_game.values()]
    over_gymnax = [g["ours_over_gymnax"] for g in per_game.values()]
    geomeans = {"ours_over_minatar_geomean": geomean(over_minatar),
                "ours_over_gymnax_geomean": geomean(over_gymnax),
                "games_in_ours_over_minatar_geomean": [g for g, r in zip(games, over_minatar, strict=True) if r],
                "games_in_ours_over_gymnax_geomean": [g for g, r in zip(games, over_gymnax, strict=True) if r]}
    targets_met = {f"{name} >= {target:g}": None if geomeans[name] is None else geomeans[name] >= target
                   for name, target in TARGETS.items()}
    return {"per_game": per_game, **geomeans, "targets_met": targets_met}


def print_table(summary: dict[str, Any]) -> None:
    def number(value: float | None) -> str:
        return f"{value:,.0f}" if value else "-"

    def times(value: float | None) -> str:
        return f"{value:.1f}x" if value else "-"

    rows = [[game, *(number(g["median_env_steps_per_s"][impl]) for impl in IMPLS),
             times(g["ours_over_minatar"]), times(g["ours_over_gymnax"])]
            for game, g in summary["per_game"].items()]
    rows.append(["geometric mean", *[""] * len(IMPLS), times(summary["ours_over_minatar_geomean"]),
                 times(summary["ours_over_gymnax_geomean"])])
    print("\nmedian env steps/s")
    print(format_table(["game", *IMPLS, "ours/minatar", "ours/gymnax"], rows))
    print(f"targets (geometric means): {summary['targets_met']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", nargs="+", choices=list(GAMES), default=None,
                        help="default: all four (--smoke: breakout)")
    parser.add_argument("--num-envs", type=int, default=4096, help="envs of ours and of gymnax (minatar: always 1)")
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum timed wall time per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--scan-steps", type=int, default=64, help="gymnax: env steps per jitted lax.scan call")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true",
                        help="a quick check that everything runs (< 1 minute): breakout only unless --games is "
                             "given, --seconds 0.1 --repeats 1 --scan-steps 16, JSON to the temp dir unless --out")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON path (default benchmarks/results/minatar_throughput.json)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.repeats, args.scan_steps = 0.1, 1, 16
    if args.games is None:
        args.games = ["breakout"] if args.smoke else list(GAMES)
    if args.out is None:
        args.out = (Path(tempfile.gettempdir()) / "minatar_throughput_smoke.json" if args.smoke
                    else REPO_ROOT / "benchmarks" / "results" / "minatar_throughput.json")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # the comparison is JAX on CPU

    info = machine_info(("rl_platform", "numpy", "gymnasium", "numba", "minatar", "gymnax", "jax", "jaxlib"))
    print(f"{info['cpu_model']}, {info['usable_cpu_count']} usable CPUs, load {info['load_average_at_start']}")
    results: list[Result] = []
    for game in args.games:
        run_game(game, args, results)
    summary = summarize(results, args.games)
    print_table(summary)
    path = write_json(args.out, {
        "benchmark": "minatar_throughput",
        "description": "env steps/s of MinAtar games: ours (step() and raw kernel) vs minatar (1 env, act+state) "
                       "vs gymnax (jit+vmap+scan); cached random actions; medians over interleaved repeats",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "targets": TARGETS,
        "summary": summary,
        "results": [asdict(r) for r in results],
        "jax": jax_info(),
        "machine": info,
    })
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
