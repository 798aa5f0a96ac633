"""CUDA backend: the same per-env Python functions as the CPU kernels, compiled as CUDA device functions.

Nothing is written twice. :func:`device_function` rebuilds an env's `reset_one` / `step_one` /
`observe_one` (plain Python, see :mod:`rl_platform.envs.kernel`) with every Numba CPU function it
calls as a global or closure variable (`next_uniform`, `next_uint64`, helpers of the env module)
swapped for a `cuda.jit(device=True)` compilation of that function's own Python source, then
compiles the result as a device function. The per-env kernel bodies (:func:`~rl_platform.envs.kernel.env_bodies`)
are rebuilt the same way, and :func:`cuda_kernels` runs them in batched `reset_all` / `step_all` kernels,
one thread per env, with exactly the semantics of `cpu_kernels` (they run the same bodies): same-step
autoreset, truncation at `max_steps`, and the same SplitMix64 streams, so a seed gives the same
episodes on CPU and GPU (up to floating-point contraction on real GPUs, see below).

:class:`CudaVectorEnv` keeps every buffer (states, RNG streams, observations, rewards, flags) on the
GPU as Numba device arrays and returns PyTorch CUDA tensors that share their memory (zero copy,
through `__cuda_array_interface__`). Create it with
`gymnasium.make_vec("rlp/CartPole-v1", num_envs=2**20, device="cuda")`.

Under the Numba CUDA simulator (`NUMBA_ENABLE_CUDASIM=1`, set before Numba is imported) everything
runs on the CPU in Python, slowly but with the same code path; outputs are then NumPy copies,
because there is no CUDA memory to share. This is how the CUDA path is tested without a GPU.

Floating point: the simulator computes exactly what the CPU kernels compute. A real GPU may fuse
multiply-adds and use its own `sin`/`cos`, so physics trajectories agree with the CPU to rounding
error at first and may drift apart in chaotic envs; the random streams are bit-identical.
"""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numba
import numpy as np
from gymnasium.vector import AutoresetMode
from numba import cuda
from numba.core.registry import CPUDispatcher

from rl_platform.envs.kernel import NumbaEnvDef, compiled_bodies
from rl_platform.envs.rng import seed_streams
from rl_platform.envs.vector import init_vector_spaces, validate_actions

SIMULATOR = bool(numba.config.ENABLE_CUDASIM)
"""True when Numba runs CUDA kernels in its Python simulator (no GPU needed)."""

THREADS_PER_BLOCK = 128

_device_cache: dict[Callable, Callable] = {}


# -- compiling the same Python source for the GPU ----------------------------------------------------
def _to_device(value: Any) -> Any:
    """`value` with a Numba CPU function swapped for its CUDA device twin; anything else unchanged."""
    return device_function(value) if isinstance(value, CPUDispatcher) else value


def device_function(function: Callable) -> Callable:
    """The CUDA device compilation of a per-env function (or a Numba CPU function's `py_func`).

    The function is rebuilt from its own code object with globals and closure cells that refer to
    Numba CPU functions (`next_uniform`, `next_uint64`, env helpers) replaced, recursively, by their
    device compilations; everything else (math, constants, NumPy scalar types) is shared as is.
    """
    py_func = getattr(function, "py_func", function)
    if py_func in _device_cache:
        return _device_cache[py_func]
    code = py_func.__code__
    globals_ = dict(py_func.__globals__)
    for name in code.co_names:
        if name in globals_:
            globals_[name] = _to_device(globals_[name])
    closure = None
    if py_func.__closure__ is not None:
        closure = tuple(types.CellType(_to_device(cell.cell_contents)) for cell in py_func.__closure__)
    rebuilt = types.FunctionType(code, globals_, py_func.__name__, py_func.__defaults__, closure)
    rebuilt.__kwdefaults__ = py_func.__kwdefaults__
    compiled = cuda.jit(device=True)(rebuilt)
    _device_cache[py_func] = compiled
    return compiled


def kernel_functions(env: NumbaEnvDef) -> tuple[Callable, Callable]:
    """The Python source of the batched `(reset_all, step_all)` kernels for `env` (not yet compiled).

    One thread per env runs the per-env bodies the CPU kernels run (:func:`~rl_platform.envs.kernel.env_bodies`),
    compiled as device functions. Exposed so that tests can compile the kernels to PTX
    (`numba.cuda.compile_ptx`) on a machine without a GPU.
    """
    reset_env, step_env = (device_function(body) for body in compiled_bodies(env))

    def reset_all(states, params, rng, elapsed, obs, mask):
        i = cuda.grid(1)
        if i < states.shape[0] and mask[i]:
            reset_env(i, states, params, rng, elapsed, obs)

    def step_all(states, actions, params, rng, elapsed, max_steps, obs, rewards, terminations,
                 truncations, final_obs, dones):
        """`cpu_kernels`' step_all, one thread per env; also writes `dones = terminations | truncations`."""
        i = cuda.grid(1)
        if i < states.shape[0]:
            dones[i] = step_env(i, states, actions, params, rng, elapsed, max_steps, obs, rewards, terminations,
                                truncations, final_obs)

    return reset_all, step_all


@dataclass
class CUDAKernels:
    """The batched kernels of one env; launch with `kernel[blocks, THREADS_PER_BLOCK, stream](...)`."""

    reset_all: Any
    step_all: Any


_kernel_cache: dict[tuple[Callable, ...], CUDAKernels] = {}


def cuda_kernels(env: NumbaEnvDef) -> CUDAKernels:
    """The CUDA `reset_all` / `step_all` for `env`, built once per process (compiled at first launch)."""
    key = env.functions
    if key not in _kernel_cache:
        reset_all, step_all = kernel_functions(env)
        _kernel_cache[key] = CUDAKernels(cuda.jit(reset_all), cuda.jit(step_all))
    return _kernel_cache[key]


@contextmanager
def _simulated_wraparound() -> Iterator[None]:
    """Silence NumPy's overflow warnings for the RNG's intended uint64 wrap-around (simulator only:
    there the kernels run as Python on NumPy scalars). Warning filters are process-wide, so this
    also covers the simulator's per-CUDA-thread Python threads."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
        yield


# -- the vector env -----------------------------------------------------------------------------------
def _torch_cuda() -> Any:
    """The torch module when it can hold CUDA tensors (never under the simulator), else None."""
    if SIMULATOR:
        return None
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    return torch if torch.cuda.is_available() else None


class CudaVectorEnv(gym.vector.VectorEnv):
    """`num_envs` copies of a :class:`NumbaEnvDef` env stepped on the GPU, one CUDA thread per env.

    Same semantics as :class:`~rl_platform.envs.vector.NumbaVectorEnv` (same-step autoreset, same
    RNG streams for a seed, `get_state` / `set_state`), with these differences:

    - Outputs are PyTorch CUDA tensors sharing memory with the env's device buffers (Numba device
      arrays if PyTorch has no CUDA; NumPy copies under the simulator).
    - Outputs are double-buffered like NumbaVectorEnv's: the tensors a step returns are overwritten by
      the step after next. `.clone()` them to keep them longer.
    - `info` always holds `final_obs` and the mask `_final_obs` (all False when no episode ended):
      asking the GPU whether any episode ended would cost a synchronisation every step.
    - `step()` takes actions as a torch CUDA tensor, a Numba device array (or any object with
      `__cuda_array_interface__`) or a NumPy array / CPU tensor, which is copied to the GPU.
    - Kernels run on PyTorch's current CUDA stream, so results are ordered with the caller's torch ops
      without any synchronisation. With `check_actions=True`, validating device actions reads their
      min/max back to the host (one synchronisation per step); turn it off for full speed.

    Args:
        env_def: the env's pure functions and spaces.
        num_envs: number of parallel envs (millions are fine).
        check_actions: validate actions (shape, dtype, bounds) before stepping.
        max_episode_steps: truncation limit (default: the env's).
        threads_per_block: CUDA block size.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, env_def: NumbaEnvDef, num_envs: int, check_actions: bool = True,
                 max_episode_steps: int | None = None, threads_per_block: int = THREADS_PER_BLOCK) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        if not cuda.is_available():
            raise RuntimeError("CudaVectorEnv needs a CUDA GPU visible to Numba (or NUMBA_ENABLE_CUDASIM=1)")
        self.device = "cuda"
        init_vector_spaces(self, env_def, num_envs, check_actions, max_episode_steps)
        self._kernels = cuda_kernels(env_def)
        self._threads = threads_per_block
        self._blocks = math.ceil(num_envs / threads_per_block)
        self._torch = _torch_cuda()

        obs_row = (1,) if self._discrete_obs else env_def.obs_shape
        obs_dtype = np.int64 if self._discrete_obs else self.single_observation_space.dtype
        self._action_dtype = np.int64 if self._discrete_actions else np.float64
        self._params = cuda.to_device(np.ascontiguousarray(env_def.params, dtype=np.float64))
        self.states = cuda.to_device(np.zeros((num_envs, env_def.state_size), dtype=np.float64))
        self.rng = cuda.to_device(seed_streams(None, num_envs))
        self.elapsed = cuda.to_device(np.zeros(num_envs, dtype=np.int64))
        self._obs = cuda.to_device(np.zeros((2, num_envs, *obs_row), dtype=obs_dtype))
        self._final_obs = cuda.to_device(np.zeros((2, num_envs, *obs_row), dtype=obs_dtype))
        self._rewards = cuda.to_device(np.zeros((2, num_envs), dtype=np.float64))
        self._terminations = cuda.to_device(np.zeros((2, num_envs), dtype=np.bool_))
        self._truncations = cuda.to_device(np.zeros((2, num_envs), dtype=np.bool_))
        self._dones = cuda.to_device(np.zeros((2, num_envs), dtype=np.bool_))
        self._actions = cuda.to_device(np.zeros(self.action_space.shape, dtype=self._action_dtype))
        self._mask = cuda.to_device(np.ones(num_envs, dtype=np.bool_))
        # Per-slot device views (slicing a device array costs microseconds: do it once) and the
        # matching zero-copy outputs.
        self._slots = [(self._obs[s], self._rewards[s], self._terminations[s], self._truncations[s],
                        self._final_obs[s], self._dones[s]) for s in (0, 1)]
        self._outputs = None if SIMULATOR else [self._export(slot) for slot in self._slots]
        self._slot = 0
        self._has_reset = False
        self._launch_cache: dict[int, tuple[Any, Any, Any]] = {}

    # -- device plumbing ----------------------------------------------------------------------
    def _export(self, arrays: tuple[Any, ...]) -> tuple[Any, ...]:
        """Zero-copy outputs for one slot's device buffers: torch CUDA tensors, else the device arrays."""
        if self._torch is not None:
            arrays = tuple(self._torch.as_tensor(a, device="cuda") for a in arrays)
        return self._squeeze(arrays)

    def _squeeze(self, outputs: tuple[Any, ...]) -> tuple[Any, ...]:
        """Discrete observations are stored as (num_envs, 1) and returned as (num_envs,)."""
        if not self._discrete_obs:
            return outputs
        obs, rewards, terminations, truncations, final_obs, dones = outputs
        return obs[:, 0], rewards, terminations, truncations, final_obs[:, 0], dones

    def _outputs_of(self, slot: int) -> tuple[Any, ...]:
        if self._outputs is not None:
            return self._outputs[slot]
        # Simulator: host copies (there is no device memory to share).
        return self._squeeze(tuple(a.copy_to_host() for a in self._slots[slot]))

    @staticmethod
    def _launch_context() -> Any:
        return _simulated_wraparound() if SIMULATOR else nullcontext()

    def _launchers(self) -> tuple[Any, Any, Any]:
        """(reset launcher, step launcher, stream) for PyTorch's current stream (cached per stream)."""
        if self._torch is None:
            key, stream = 0, 0
        else:
            key = self._torch.cuda.current_stream().cuda_stream
            stream = cuda.external_stream(key) if key else cuda.default_stream()
        if key not in self._launch_cache:
            self._launch_cache[key] = (self._kernels.reset_all[self._blocks, self._threads, stream],
                                       self._kernels.step_all[self._blocks, self._threads, stream], stream)
        return self._launch_cache[key]

    def _device_actions(self, actions: Any, stream: Any) -> Any:
        """`actions` as a device array of the kernel's dtype; ValueError (state untouched) if invalid."""
        torch = self._torch
        if torch is not None and isinstance(actions, torch.Tensor) and actions.is_cuda:
            return self._from_tensor(actions)
        if getattr(actions, "__cuda_ndarray__", False) or hasattr(actions, "__cuda_array_interface__"):
            if torch is not None:  # any CUDA array: view it as a tensor (zero copy) and go that way
                return self._from_tensor(torch.as_tensor(actions, device="cuda"))
            if getattr(actions, "dtype", None) == self._action_dtype and not self.check_actions \
                    and tuple(actions.shape) == self.action_space.shape:
                return actions if SIMULATOR else cuda.as_cuda_array(actions, sync=False)
            actions = actions.copy_to_host()  # no torch: validate / convert on the host
        if hasattr(actions, "detach"):  # a CPU tensor
            actions = actions.detach().numpy()
        if self.check_actions:
            array = validate_actions(actions, self.single_action_space, self.num_envs, self.metadata["env_id"])
        else:
            array = np.asarray(actions)
        array = np.ascontiguousarray(array, dtype=self._action_dtype)
        if array.shape != self.action_space.shape:
            raise ValueError(f"{self.metadata['env_id']}: actions must have shape {self.action_space.shape}, "
                             f"got {array.shape}")
        self._actions.copy_to_device(array, stream=stream)
        return self._actions

    def _from_tensor(self, tensor: Any) -> Any:
        """A torch CUDA tensor of actions as a (zero-copy where possible) Numba device array."""
        torch = self._torch
        env_id = self.metadata["env_id"]
        if tuple(tensor.shape) != self.action_space.shape:
            raise ValueError(f"{env_id}: actions must have shape {self.action_space.shape} "
                             f"(num_envs={self.num_envs}), got {tuple(tensor.shape)}")
        if self._discrete_actions:
            if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
                raise ValueError(f"{env_id}: discrete actions must be integers, got dtype {tensor.dtype}")
            tensor = tensor.to(torch.int64)
            if self.check_actions:
                low, high = (int(v) for v in torch.aminmax(tensor))  # one synchronisation
                start, n = int(self.single_action_space.start), int(self.single_action_space.n)
                if low < start or high >= start + n:
                    raise ValueError(f"{env_id}: actions must be in [{start}, {start + n - 1}], "
                                     f"got values in [{low}, {high}]")
        else:
            if tensor.is_complex() or tensor.dtype == torch.bool:
                raise ValueError(f"{env_id}: actions must be real numbers, got dtype {tensor.dtype}")
            tensor = tensor.to(torch.float64)
            if self.check_actions:
                space = self.single_action_space
                low = torch.as_tensor(space.low, dtype=torch.float64, device=tensor.device)
                high = torch.as_tensor(space.high, dtype=torch.float64, device=tensor.device)
                if not bool(((tensor >= low) & (tensor <= high)).all()):  # also catches NaN
                    raise ValueError(f"{env_id}: actions must lie in [{space.low}, {space.high}] "
                                     "(clip them in the agent)")
        return cuda.as_cuda_array(tensor.contiguous(), sync=False)

    # -- Gymnasium API ------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset all envs (or those in `options["reset_mask"]`); a seed re-seeds every env's stream.

        The streams are generated on the host with `seed_streams`, exactly as on the CPU, and copied once.
        """
        launch_reset, _, stream = self._launchers()
        if seed is not None or not self._has_reset:
            self.rng.copy_to_device(seed_streams(seed, self.num_envs), stream=stream)
        mask = np.ones(self.num_envs, dtype=np.bool_)
        if options and "reset_mask" in options:
            given = options["reset_mask"]
            if hasattr(given, "detach"):
                given = given.detach().cpu().numpy()
            elif hasattr(given, "copy_to_host"):
                given = given.copy_to_host()
            mask = np.ascontiguousarray(given, dtype=np.bool_)
            if mask.shape != (self.num_envs,):
                raise ValueError(f"reset_mask must have shape ({self.num_envs},), got {mask.shape}")
        self._mask.copy_to_device(mask, stream=stream)
        self._has_reset = True
        with self._launch_context():
            launch_reset(self.states, self._params, self.rng, self.elapsed, self._slots[self._slot][0], self._mask)
        return self._outputs_of(self._slot)[0], {}

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        """Step every env on the GPU; returns (obs, rewards, terminations, truncations, info), see the class doc."""
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        _, launch_step, stream = self._launchers()
        device_actions = self._device_actions(actions, stream)
        self._slot = slot = 1 - self._slot  # the other buffer: last step's outputs stay valid
        obs, rewards, terminations, truncations, final_obs, dones = self._slots[slot]
        with self._launch_context():
            launch_step(self.states, device_actions, self._params, self.rng, self.elapsed, self.max_episode_steps,
                        obs, rewards, terminations, truncations, final_obs, dones)
        obs, rewards, terminations, truncations, final_obs, dones = self._outputs_of(slot)
        return obs, rewards, terminations, truncations, {"final_obs": final_obs, "_final_obs": dones}

    # -- state for parity tests and checkpoints ------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """A host copy of every env's full state: physics, elapsed steps and RNG stream."""
        return {"states": self.states.copy_to_host(), "elapsed": self.elapsed.copy_to_host(),
                "rng": self.rng.copy_to_host()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`get_state` output (from this env or from a NumbaVectorEnv)."""
        self.states.copy_to_device(np.ascontiguousarray(state["states"], dtype=np.float64))
        if "elapsed" in state:
            self.elapsed.copy_to_device(np.ascontiguousarray(state["elapsed"], dtype=np.int64))
        if "rng" in state:
            self.rng.copy_to_device(np.ascontiguousarray(state["rng"], dtype=np.uint64))
        self._has_reset = True
