"""`NumbaVectorEnv`: a Gymnasium VectorEnv whose arrays are preallocated and written in place by a Numba kernel.

Auto-reset happens inside the kernel on the same step (`AutoresetMode.SAME_STEP`): an env whose
episode ended returns its first observation of the next episode in `obs`, and its true last
observation in `info["final_obs"]` (rows where `info["_final_obs"]` is True) for bootstrapping.

Output arrays are double-buffered: the arrays a step returns (obs, rewards, flags and `info`'s
`final_obs` / `_final_obs`) stay valid through the following step, so `obs, next_obs` pairs can be
stored without copying; the step after that overwrites them. Copy them to keep them longer.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import gymnasium as gym
import numba
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from rl_platform.envs.kernel import NumbaEnvDef, cpu_kernels
from rl_platform.envs.rng import seed_streams

PARALLEL_MIN_ENVS = 512
# From PARALLEL_MIN_ENVS envs up (default threads), every `KernelChooser.PERIOD` steps a few steps of each
# kernel are timed and the faster kernel runs until the next trial: threads win on idle cores and lose where
# other work holds them, and load comes and goes. CartPole, 4096 envs, 2 cores (benchmarks/env_threading.py):
# idle, 2 TBB threads 66M steps/s, one thread 40M, this choice 63M; with a busy process on the cores, 2 threads
# 30M, one thread 40M, this choice 39M.


class KernelChooser:
    """Runs the faster of a serial and a parallel step kernel, re-timing both every `PERIOD` steps.

    A trial runs `TRIAL` steps of each kernel in a row and times all but the first of each (which wakes the
    threads or finds them still spinning). The kernels compute the same thing (per-env RNG streams), so
    which one runs never changes results.
    """

    TRIAL = 5
    PERIOD = 500  # steps between trials: a trial costs at most TRIAL steps at the slower kernel's speed

    def __init__(self, serial, parallel) -> None:
        self.kernels = (serial, parallel)
        self.use_parallel = True
        self.trials = 0
        self.parallel_wins = 0
        self._step = 0
        self._seconds = [0.0, 0.0]

    def __call__(self, *args) -> None:
        step, self._step = self._step, (self._step + 1) % self.PERIOD
        if step >= 2 * self.TRIAL:
            self.kernels[self.use_parallel](*args)
            return
        which, index = divmod(step, self.TRIAL)  # which: 0 serial, 1 parallel
        if index == 0:
            self.kernels[which](*args)
            return
        start = time.perf_counter()
        self.kernels[which](*args)
        self._seconds[which] += time.perf_counter() - start
        if step == 2 * self.TRIAL - 1:
            self.use_parallel = self._seconds[1] < self._seconds[0]
            self._seconds = [0.0, 0.0]
            self.trials += 1
            self.parallel_wins += self.use_parallel


def init_vector_spaces(envs: gym.vector.VectorEnv, env_def: NumbaEnvDef, num_envs: int, check_actions: bool,
                       max_episode_steps: int | None) -> None:
    """The attributes every vector env of a NumbaEnvDef sets, on CPU or GPU: spaces, limits, ids."""
    envs.env_def = env_def
    envs.num_envs = num_envs
    envs.check_actions = check_actions
    envs.max_episode_steps = max_episode_steps or env_def.max_episode_steps
    envs.single_observation_space = env_def.observation_space
    envs.single_action_space = env_def.action_space
    envs.observation_space = batch_space(envs.single_observation_space, num_envs)
    envs.action_space = batch_space(envs.single_action_space, num_envs)
    envs.metadata = {**envs.metadata, "env_id": f"rlp/{env_def.name}"}
    envs._discrete_obs = isinstance(envs.single_observation_space, gym.spaces.Discrete)
    envs._discrete_actions = isinstance(envs.single_action_space, gym.spaces.Discrete)


@numba.njit(cache=True)
def _any_outside(values, low, high):
    """Whether any of the (1-D) `values` lies outside [low, high): one pass, stops at the first."""
    for v in values:  # noqa: SIM110  (a loop, not any(<generator>): this is Numba code)
        if v < low or v >= high:
            return True
    return False


@numba.njit(cache=True)
def _or_any(terminations, truncations, done):
    """`done[:] = terminations | truncations` and whether any is True, in one pass without allocating."""
    found = False
    for i in range(done.shape[0]):
        d = terminations[i] or truncations[i]
        done[i] = d
        found = found or d
    return found


def validate_actions(actions: Any, space: gym.Space, num_envs: int, env_id: str) -> np.ndarray:
    """`num_envs` actions of `space` as a kernel needs them (int64 / float64), or a ValueError that says
    what is wrong. Shared by the CPU and CUDA vector envs."""
    array = np.asarray(actions)
    expected = (num_envs, *space.shape)
    if array.shape != expected:
        raise ValueError(f"{env_id}: actions must have shape {expected} (num_envs={num_envs}), got {array.shape}")
    if isinstance(space, gym.spaces.Discrete):
        if array.dtype.kind not in "iu":  # same as np.issubdtype(dtype, np.integer), 10x cheaper
            raise ValueError(f"{env_id}: discrete actions must be integers, got dtype {array.dtype}")
        start, n = int(space.start), int(space.n)
        if array.size and _any_outside(array, start, start + n):
            raise ValueError(f"{env_id}: actions must be in [{start}, {start + n - 1}], "
                             f"got values in [{array.min()}, {array.max()}]")
        return array.astype(np.int64, copy=False)
    if array.dtype.kind not in "iuf":  # np.number less complex (which the kernels cannot take anyway)
        raise ValueError(f"{env_id}: actions must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if not (np.all(array >= space.low) and np.all(array <= space.high)):  # also catches NaN
        raise ValueError(f"{env_id}: actions must lie in [{space.low}, {space.high}] "
                         f"(clip them in the agent), got values in [{np.nanmin(array)}, {np.nanmax(array)}]")
    return array


class KernelState(NamedTuple):
    """What a loop that steps a :class:`NumbaVectorEnv`'s envs itself needs (see :meth:`NumbaVectorEnv.kernel_state`).

    The arrays are the env's own, not copies: a compiled loop that writes them in place (for instance with the
    bodies of :func:`~rl_platform.envs.kernel.compiled_bodies`) leaves the env as its own kernels would have.
    """

    states: np.ndarray  # float64 (num_envs, state_size): each env's state, written in place
    rng: np.ndarray  # uint64 (num_envs,): each env's random stream, written in place
    elapsed: np.ndarray  # int64 (num_envs,): steps into each env's episode, written in place
    params: np.ndarray  # float64: the env's parameters (read only)
    max_episode_steps: int  # truncation limit
    env_def: NumbaEnvDef  # the env's functions and spaces


class NumbaVectorEnv(gym.vector.VectorEnv):
    """`num_envs` copies of a :class:`NumbaEnvDef` env stepped by one compiled, multi-threaded kernel.

    Args:
        env_def: the env's pure functions and spaces.
        num_envs: number of parallel envs.
        num_threads: Numba threads for the kernel. Default: one below `PARALLEL_MIN_ENVS` envs (waking
            threads costs more than a few hundred steps); from there up, all cores or one, whichever
            :class:`KernelChooser` last timed faster (threads lose when other work holds the cores).
        check_actions: validate each action array (shape, dtype, bounds) before the kernel runs;
            costs a few microseconds per step; turn off for raw speed once your agent is correct.
        max_episode_steps: truncation limit (default: the env's, as registered with Gymnasium).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, env_def: NumbaEnvDef, num_envs: int, num_threads: int | None = None,
                 check_actions: bool = True, max_episode_steps: int | None = None) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.num_threads = num_threads
        init_vector_spaces(self, env_def, num_envs, check_actions, max_episode_steps)
        kernels = cpu_kernels(env_def)
        serial = num_threads == 1 or (num_threads is None and num_envs < PARALLEL_MIN_ENVS)
        self._reset_all = kernels.reset_all_serial if serial else kernels.reset_all
        self._step_all = kernels.step_all_serial if serial else kernels.step_all
        # The kernel step() runs: `_step_all`, or the faster of it and the serial one when threads are not fixed.
        adaptive = num_threads is None and not serial and numba.config.NUMBA_NUM_THREADS > 1
        self.kernel_chooser = KernelChooser(kernels.step_all_serial, kernels.step_all) if adaptive else None
        self._step_kernel = self.kernel_chooser or self._step_all
        self._params = np.ascontiguousarray(env_def.params, dtype=np.float64)
        self.states = np.zeros((num_envs, env_def.state_size), dtype=np.float64)
        self.rng = seed_streams(None, num_envs)
        self.elapsed = np.zeros(num_envs, dtype=np.int64)
        obs_row = (1,) if self._discrete_obs else env_def.obs_shape
        obs_dtype = np.int64 if self._discrete_obs else self.single_observation_space.dtype
        self._obs = np.zeros((2, num_envs, *obs_row), dtype=obs_dtype)
        self._final_obs = np.zeros((2, num_envs, *obs_row), dtype=obs_dtype)
        self._rewards = np.zeros((2, num_envs), dtype=np.float64)
        self._terminations = np.zeros((2, num_envs), dtype=np.bool_)
        self._truncations = np.zeros((2, num_envs), dtype=np.bool_)
        self._dones = np.zeros((2, num_envs), dtype=np.bool_)
        self._slot = 0
        self._all = np.ones(num_envs, dtype=np.bool_)
        # Per-slot views, made once: (kernel obs, rewards, terminations, truncations, kernel final_obs,
        # dones, returned obs, returned final_obs).
        self._slots = [(self._obs[s], self._rewards[s], self._terminations[s], self._truncations[s],
                        self._final_obs[s], self._dones[s], self._view(self._obs[s]), self._view(self._final_obs[s]))
                       for s in (0, 1)]
        self._has_reset = False

    @property
    def params(self) -> np.ndarray:
        """The env's parameter array as the kernels read it (for code that calls the env's functions itself)."""
        return self._params

    def kernel_state(self) -> KernelState:
        """The arrays and constants the env's kernels run on, for compiled loops that fuse the env's step into
        their own (tabular Q's fused loop). Call :meth:`reset` first; between such a loop's calls and
        :meth:`step`, the env's state stays consistent, but the observation buffers that :meth:`step` returns
        are not updated by the loop."""
        return KernelState(self.states, self.rng, self.elapsed, self._params, self.max_episode_steps, self.env_def)

    # -- outputs ------------------------------------------------------------------------------
    def _view(self, array: np.ndarray) -> np.ndarray:
        return array[..., 0] if self._discrete_obs else array

    def _set_threads(self) -> None:
        if self.num_threads is not None:
            numba.set_num_threads(min(self.num_threads, numba.config.NUMBA_NUM_THREADS))

    # -- Gymnasium API ------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset all envs (or those in `options["reset_mask"]`); a seed re-seeds every env's stream."""
        if seed is not None or not self._has_reset:
            self.rng[:] = seed_streams(seed, self.num_envs)
        mask = self._all
        if options and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"], dtype=np.bool_)
            if mask.shape != (self.num_envs,):
                raise ValueError(f"reset_mask must have shape ({self.num_envs},), got {mask.shape}")
        self._has_reset = True
        self._set_threads()
        obs = self._obs[self._slot]
        self._reset_all(self.states, self._params, self.rng, self.elapsed, obs, mask)
        return self._view(obs), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        actions = self._checked(actions) if self.check_actions else np.asarray(actions)
        self._slot = slot = 1 - self._slot  # the other buffer: last step's outputs stay valid
        obs, rewards, terminations, truncations, final_obs, done, obs_out, final_obs_out = self._slots[slot]
        self._set_threads()
        self._step_kernel(self.states, actions, self._params, self.rng, self.elapsed, self.max_episode_steps,
                          obs, rewards, terminations, truncations, final_obs)
        info = {"final_obs": final_obs_out, "_final_obs": done} if _or_any(terminations, truncations, done) else {}
        return obs_out, rewards, terminations, truncations, info

    def _checked(self, actions: Any) -> np.ndarray:
        """Actions as the kernel needs them, or a ValueError that says what is wrong (state untouched)."""
        return validate_actions(actions, self.single_action_space, self.num_envs, self.metadata["env_id"])

    # -- state for parity tests and checkpoints ------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """A copy of every env's full state: physics, elapsed steps and RNG stream."""
        return {"states": self.states.copy(), "elapsed": self.elapsed.copy(), "rng": self.rng.copy()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`get_state` output (or set chosen physics states for parity tests)."""
        self.states[:] = state["states"]
        if "elapsed" in state:
            self.elapsed[:] = state["elapsed"]
        if "rng" in state:
            self.rng[:] = state["rng"]
        self._has_reset = True
