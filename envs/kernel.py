"""One env, many targets: the definition of a Numba env and the batched CPU kernels built from it.

An env is three pure per-env functions written once in plain Python (math module only, no NumPy
calls inside, so they also compile as CUDA device functions; nor do they allocate arrays, since the serial
kernels are compiled without Numba's runtime, see `SERIAL_OPTIONS`):

- `reset_one(state, params, rng)`: write a fresh initial state into `state` (float64 vector);
- `step_one(state, action, params, rng) -> (reward, terminated)`: advance `state` in place;
- `observe_one(state, params, obs)`: write the observation of `state` into `obs`.

`rng` is a one-element uint64 array holding the env's own random stream
(:func:`~rl_platform.envs.rng.next_uniform`). Helpers they call must be Numba CPU functions (`@numba.njit`,
like `next_uniform` and :func:`clip`): the CUDA backend compiles their Python source again as device functions.

What a batched kernel does for env `i` (step, time limit, same-step autoreset, outputs) is written once,
in :func:`env_bodies`; the CPU kernels here run it in a (p)range loop, the CUDA kernels
(:mod:`rl_platform.envs.cuda`) one env per thread, and tabular Q's fused loop calls it too.

The batched CPU kernels are cached on disk (:mod:`rl_platform.envs.kernel_cache`), keyed by a fingerprint of
the env's functions and everything they reference, so a new process loads them instead of compiling them
again; `RLP_KERNEL_CACHE=0` turns the cache off.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import site
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numba
import numba.core.cpu
import numpy as np

from rl_platform.envs.kernel_cache import cached_njit, env_fingerprint

# Threading layer: TBB where it loads, else workqueue (Numba's "forksafe" choice on Linux). Measured through
# step() on 2 cores (AMD EPYC), CartPole at 4096 envs, 2 threads (benchmarks/env_threading.py): idle, TBB 66M
# steps/s, OpenMP 60M, workqueue 21M (its sleeping threads wake too late for a 60 us kernel); with one busy
# process on the cores, TBB 30M (work stealing: the caller takes the chunks a descheduled thread has not
# started), OpenMP 21M (its threads busy-wait for a descheduled one; 0.1-0.9M with two busy processes),
# workqueue 23M, one thread 40M. GNU OpenMP also aborts a forked child (A3C's workers) once the parent used it;
# TBB and workqueue are fork-safe. Since threads lose where the cores are busy, NumbaVectorEnv times its
# serial and parallel kernels and runs the faster (`vector.KernelChooser`). A user's own NUMBA_THREADING_LAYER
# is kept; the variable is set (not just the config) so that child processes agree.
os.environ.setdefault("NUMBA_THREADING_LAYER", "forksafe")
numba.config.THREADING_LAYER = os.environ["NUMBA_THREADING_LAYER"]


def _preload_tbb() -> None:
    """Load the `tbb` wheel's libtbb by path. The wheel puts it in `<prefix>/lib`, which the dynamic loader does
    not search in a virtualenv, so Numba's own lookup by name would miss it and fall back to workqueue; once
    loaded, that lookup finds it. Silent when TBB is absent: Numba then picks the next layer."""
    name = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib"}.get(sys.platform)  # Windows: found on PATH
    if name is None:
        return
    for prefix in dict.fromkeys((sys.prefix, sysconfig.get_path("data"), site.getuserbase())):
        path = os.path.join(prefix, "lib", name)
        if os.path.exists(path):
            with contextlib.suppress(OSError):
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                return


if numba.config.THREADING_LAYER.lower() in ("forksafe", "safe", "tbb", "default", "threadsafe"):
    _preload_tbb()

# Options of the serial kernels: without them a serial loop pays atomic reference counts on every `states[i]`
# view and a zero-division check on every float division (CartPole raw kernel, 4096 envs: 31M steps/s against
# 46M). The parallel kernels, compiled by Numba's parfor pass, have neither, which is why 2 threads measured 2.4-3x
# one serial thread. The env functions allocate nothing, so they need no NRT; `_nrt` is a private Numba
# option, used only where this Numba has it. Results are the same either way (tests/unit/test_numba_vector.py).
SERIAL_OPTIONS: dict[str, Any] = {"error_model": "numpy"}
if hasattr(numba.core.cpu.CPUTargetOptions, "_nrt"):
    SERIAL_OPTIONS["_nrt"] = False


@numba.njit(inline="always")
def clip(value, low, high):
    """`min(max(value, low), high)`, for floats and ints alike (NaN stays NaN). Per-env functions use it
    instead of the builtins: Numba's CUDA target (0.68) cannot compile two-argument `min` / `max`."""
    if value < low:
        return low
    if value > high:
        return high
    return value


@dataclass(frozen=True)
class NumbaEnvDef:
    """Everything that defines one Numba env; see the module docstring for the three functions."""

    name: str  # registered as rlp/<name>
    state_size: int
    observation_space: gym.Space
    action_space: gym.Space
    max_episode_steps: int
    reset_one: Callable
    step_one: Callable
    observe_one: Callable
    params: np.ndarray = field(default_factory=lambda: np.zeros(1))
    # The exact model (rl_platform.mdp.TransitionModel) when the env is a finite MDP that has one.
    transition_model: Any = None

    @property
    def functions(self) -> tuple[Callable, Callable, Callable]:
        """(reset_one, step_one, observe_one): kernels depend on these alone, so they are cached by them."""
        return self.reset_one, self.step_one, self.observe_one

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return tuple(self.observation_space.shape) if self.observation_space.shape else ()


@dataclass
class CPUKernels:
    """Each kernel compiled twice: multi-threaded (prange) and single-threaded, which is faster for
    a few hundred envs or fewer, where waking threads costs more than the steps."""

    reset_all: Callable
    step_all: Callable
    reset_all_serial: Callable
    step_all_serial: Callable


_kernel_cache: dict[tuple[Callable, ...], CPUKernels] = {}
_one_cache: dict[Callable, Callable] = {}


def compiled_one(function: Callable) -> Callable:
    """The CPU (njit) compilation of one per-env function, shared by every kernel that uses it."""
    if function not in _one_cache:
        _one_cache[function] = numba.njit(inline="always")(function)
    return _one_cache[function]


def compiled_functions(env: NumbaEnvDef) -> tuple[Callable, Callable, Callable]:
    """The CPU compilations of `env.functions`, for kernels that call them."""
    reset_one, step_one, observe_one = (compiled_one(function) for function in env.functions)
    return reset_one, step_one, observe_one


def env_bodies(reset_one: Callable, step_one: Callable, observe_one: Callable) -> tuple[Callable, Callable]:
    """`(reset_env, step_env)`: what a batched kernel does for env `i`, as plain Python over the env's functions.

    The one definition of the batched semantics, shared by the CPU kernels, the CUDA kernels (which recompile
    it, with the env's functions, as a device function) and fused training loops:

    - `reset_env(i, states, params, rng, elapsed, obs)`: reset env `i`, zero its clock, write its observation.
    - `step_env(i, states, actions, params, rng, elapsed, max_steps, obs, rewards, terminations, truncations,
      final_obs) -> done`: step env `i` with `actions[i]`, count the step, truncate at `max_steps`, write its
      reward and flags; if the episode ended, write its last observation to `final_obs[i]` and reset it
      (same-step autoreset); then write its (new episode's) observation to `obs[i]`.
    """

    def reset_env(i, states, params, rng, elapsed, obs):
        reset_one(states[i], params, rng[i:i + 1])
        elapsed[i] = 0
        observe_one(states[i], params, obs[i])

    def step_env(i, states, actions, params, rng, elapsed, max_steps, obs, rewards, terminations, truncations,
                 final_obs):
        reward, terminated = step_one(states[i], actions[i], params, rng[i:i + 1])
        elapsed[i] += 1
        truncated = elapsed[i] >= max_steps
        rewards[i] = reward
        terminations[i] = terminated
        truncations[i] = truncated
        done = terminated or truncated
        if done:
            observe_one(states[i], params, final_obs[i])
            reset_one(states[i], params, rng[i:i + 1])
            elapsed[i] = 0
        observe_one(states[i], params, obs[i])
        return done

    return reset_env, step_env


_bodies_cache: dict[tuple[Callable, ...], tuple[Callable, Callable]] = {}


def compiled_bodies(env: NumbaEnvDef) -> tuple[Callable, Callable]:
    """The CPU (njit, always inlined) compilations of :func:`env_bodies` for `env`, for kernels that loop
    over envs themselves; compiled once per process per set of env functions."""
    key = env.functions
    if key not in _bodies_cache:
        reset_env, step_env = env_bodies(*compiled_functions(env))
        _bodies_cache[key] = numba.njit(inline="always")(reset_env), numba.njit(inline="always")(step_env)
    return _bodies_cache[key]


def cpu_kernels(env: NumbaEnvDef) -> CPUKernels:
    """The batched, multi-threaded (prange) reset and step for `env`, compiled once per process (or
    loaded from the disk cache, see :func:`~rl_platform.envs.kernel_cache.cached_njit`).

    Kernels depend only on the env's functions, so variants that differ in `params` (maps, physics
    constants) share them.
    """
    key = env.functions
    if key in _kernel_cache:
        return _kernel_cache[key]
    reset_env, step_env = compiled_bodies(env)

    def reset_all(states, params, rng, elapsed, obs, mask):
        for i in numba.prange(states.shape[0]):
            if mask[i]:
                reset_env(i, states, params, rng, elapsed, obs)

    def step_all(states, actions, params, rng, elapsed, max_steps, obs, rewards, terminations,
                 truncations, final_obs):
        """Step every env; an env whose episode ends writes `final_obs` and resets (same-step autoreset)."""
        for i in numba.prange(states.shape[0]):
            step_env(i, states, actions, params, rng, elapsed, max_steps, obs, rewards, terminations, truncations,
                     final_obs)

    # The closures hold only the compiled bodies (which hold the env's functions), so their fingerprint keys
    # the on-disk cache.
    fingerprint = env_fingerprint((reset_env, step_env))
    kernels = CPUKernels(cached_njit(reset_all, fingerprint, parallel=True),
                         cached_njit(step_all, fingerprint, parallel=True),
                         cached_njit(reset_all, fingerprint, **SERIAL_OPTIONS),
                         cached_njit(step_all, fingerprint, **SERIAL_OPTIONS))
    _kernel_cache[key] = kernels
    return kernels
