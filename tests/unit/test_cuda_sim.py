"""The CUDA backend (envs/cuda.py) without a GPU, plus zero-copy checks that run where there is one.

The Numba CUDA simulator must be switched on before Numba is first imported, so the simulator checks
run this file as a script in a subprocess with `NUMBA_ENABLE_CUDASIM=1`:

- `parity`: CudaVectorEnv and the CPU NumbaVectorEnv, same seed and same random actions, give
  identical observations, rewards, terminations, truncations, final observations (autoresets by
  termination and by truncation) and end states; bad actions raise and leave the state untouched.
  One subprocess per env family (envs/ sub-package), so that each stays well inside its time limit.
- `ptx`: the real (non-simulated) CUDA compiler turns the reset and step kernels of every registered
  env into PTX; needs libNVVM but no GPU (skipped without it). The simulator runs code that the real
  compiler rejects (e.g. two-argument `min` / `max`), so this check is the one that catches it.

`test_zero_copy_on_a_real_gpu` runs in-process and only where PyTorch and Numba both see a GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SKIP_MARK = "SKIP: "


SUBPROCESS_TIMEOUT_S = 120  # the slowest family (minatar, simulated) takes about 47 s on two busy CPU cores


def _run_self(mode: str, env_ids: list[str], simulator: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), mode, *env_ids], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)


def _registered_ids_by_family() -> dict[str, list[str]]:
    """Every registered Numba env id (rlp/<name>; not rlp/WorldModel-v0, a learned model), grouped by the envs/
    sub-package that defines its step (classic_control, toy_text, minatar, ...). An env whose reset, step and
    observe functions and parameters are another's (rlp/PendulumFixed-v0 is rlp/Pendulum-v1 renamed) compiles to
    the same kernels and is left out."""
    import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
    from rl_platform.envs.registration import ENV_FACTORIES

    families, kernels = defaultdict(list), set()
    for env_id in sorted(f"rlp/{name}" for name in ENV_FACTORIES):
        definition = ENV_FACTORIES[env_id.removeprefix("rlp/")]()
        key = (definition.reset_one, definition.step_one, definition.observe_one, definition.params.tobytes())
        if key in kernels:
            continue
        kernels.add(key)
        families[definition.step_one.__module__.removeprefix("rl_platform.envs.").split(".")[0]].append(env_id)
    return dict(families)


ENV_FAMILIES = _registered_ids_by_family()


@pytest.mark.parametrize("family", sorted(ENV_FAMILIES))
def test_cuda_env_matches_cpu_env_under_the_simulator(family):
    result = _run_self("parity", ENV_FAMILIES[family], simulator=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PARITY OK" in result.stdout, result.stdout


def test_every_registered_env_compiles_to_ptx_without_a_gpu():
    result = _run_self("ptx", [], simulator=False)
    if result.stdout.startswith(SKIP_MARK):
        pytest.skip(result.stdout.strip()[len(SKIP_MARK):])
    assert result.returncode == 0, result.stdout + result.stderr
    from rl_platform.envs.registration import ENV_FACTORIES

    assert f"PTX OK ({len(ENV_FACTORIES)} envs)" in result.stdout, result.stdout  # every env, renamed ones too


def _real_gpu() -> bool:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False
    import torch

    if not torch.cuda.is_available():
        return False
    from numba import cuda

    return cuda.is_available()


@pytest.mark.skipif(not _real_gpu(), reason="needs a CUDA GPU visible to PyTorch and Numba")
def test_zero_copy_on_a_real_gpu():
    import gymnasium as gym
    import torch

    import rl_platform.envs  # noqa: F401  (registers rlp/ envs)

    n = 1024
    gpu = gym.make_vec("rlp/CartPole-v1", num_envs=n, device="cuda")
    cpu = gym.make_vec("rlp/CartPole-v1", num_envs=n)
    obs, _ = gpu.reset(seed=5)
    cpu_obs, _ = cpu.reset(seed=5)
    assert isinstance(obs, torch.Tensor) and obs.is_cuda and obs.shape == (n, 4)
    np.testing.assert_allclose(obs.cpu().numpy(), cpu_obs, rtol=0, atol=1e-6)
    assert np.array_equal(gpu.get_state()["rng"], cpu.get_state()["rng"])  # same streams, bit for bit

    actions = torch.randint(0, 2, (n,), device="cuda")
    first = gpu.step(actions)
    slot = gpu.unwrapped._slot
    buffers = gpu.unwrapped._slots[slot]
    for tensor, buffer in zip((*first[:4], first[4]["final_obs"], first[4]["_final_obs"]), buffers, strict=True):
        assert tensor.is_cuda
        assert tensor.data_ptr() == buffer.__cuda_array_interface__["data"][0]  # zero copy
    cpu_first = cpu.step(actions.cpu().numpy())
    np.testing.assert_allclose(first[0].cpu().numpy(), cpu_first[0], rtol=0, atol=1e-5)
    assert torch.equal(first[1].cpu(), torch.as_tensor(cpu_first[1]))

    kept = first[0].clone()
    second = gpu.step(np.zeros(n, dtype=np.int64))  # NumPy actions are copied to the GPU
    assert torch.equal(first[0], kept)  # double buffering: the previous step's outputs are untouched
    assert second[0].data_ptr() != first[0].data_ptr()
    from numba import cuda

    third = gpu.step(cuda.to_device(np.ones(n, dtype=np.int64)))  # Numba device array actions
    assert third[0].data_ptr() == first[0].data_ptr()  # the step after next reuses the buffer
    torch.cuda.synchronize()

    state = gpu.get_state()
    with pytest.raises(ValueError, match="must be in"):
        gpu.step(torch.full((n,), 2, device="cuda"))
    with pytest.raises(ValueError, match="integers"):
        gpu.step(torch.zeros(n, device="cuda"))
    assert np.array_equal(gpu.get_state()["states"], state["states"])


# -- subprocess checks ----------------------------------------------------------------------------------
def _random_actions(space, num_envs: int, rng: np.random.Generator) -> np.ndarray:
    import gymnasium as gym

    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.start, space.start + space.n, num_envs)
    return rng.uniform(space.low, space.high, (num_envs, *space.shape))


def _assert_same(actual, desired, err_msg: str) -> None:
    """Exact for integers/flags/RNG states; floats to a few ulps (Numba's CPU code and the simulator's
    Python may round an operation such as `x ** 2` differently in the last bit)."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    if desired.dtype.kind == "f":
        np.testing.assert_allclose(actual, desired, rtol=1e-12, atol=1e-12, err_msg=err_msg)
    else:
        np.testing.assert_array_equal(actual, desired, err_msg=err_msg)


def _parity(env_id: str, num_envs: int, steps: int) -> None:
    import gymnasium as gym
    from numba import cuda

    gpu = gym.make_vec(env_id, num_envs=num_envs, device="cuda")
    cpu = gym.make_vec(env_id, num_envs=num_envs)
    rng = np.random.default_rng(0)
    obs_gpu, _ = gpu.reset(seed=7)
    obs_cpu, _ = cpu.reset(seed=7)
    _assert_same(obs_gpu, obs_cpu, f"{env_id}: reset obs")
    # Spread the episode clocks so that envs truncate during the run (autoreset by truncation).
    state = cpu.get_state()
    state["elapsed"] = cpu.max_episode_steps - 1 - (np.arange(num_envs) * 7) % (steps // 3)
    cpu.set_state(state)
    gpu.set_state(state)

    seen = {"terminated": 0, "truncated": 0}
    for t in range(steps):
        actions = _random_actions(cpu.single_action_space, num_envs, rng)
        if t == steps // 2:  # a mid-run reset of half the envs, with a new seed
            mask = np.arange(num_envs) % 2 == 0
            _assert_same(gpu.reset(seed=11, options={"reset_mask": mask})[0],
                         cpu.reset(seed=11, options={"reset_mask": mask})[0], f"{env_id}: masked reset")
        # Actions as NumPy (other dtypes too) and as device arrays, as a learner might pass them.
        given = cuda.to_device(actions) if t % 3 == 0 else actions.astype(np.int32) if t % 3 == 1 \
            and actions.dtype.kind == "i" else actions
        o_g, r_g, term_g, trunc_g, info_g = gpu.step(given)
        o_c, r_c, term_c, trunc_c, info_c = cpu.step(actions)
        for name, a, b in [("obs", o_g, o_c), ("rewards", r_g, r_c), ("terminations", term_g, term_c),
                           ("truncations", trunc_g, trunc_c)]:
            _assert_same(a, b, f"{env_id} step {t}: {name}")
        mask_c = info_c["_final_obs"] if info_c else np.zeros(num_envs, dtype=bool)
        _assert_same(info_g["_final_obs"], mask_c, f"{env_id} step {t}: _final_obs")
        if info_c:
            _assert_same(info_g["final_obs"][mask_c], info_c["final_obs"][mask_c], f"{env_id} step {t}: final_obs")
        seen["terminated"] += int(term_c.sum())
        seen["truncated"] += int(trunc_c.sum())
    end_gpu, end_cpu = gpu.get_state(), cpu.get_state()
    for key in end_cpu:
        _assert_same(end_gpu[key], end_cpu[key], f"{env_id}: end state {key}")
    assert seen["terminated"] > 0 or env_id != "rlp/CartPole-v1", seen
    assert seen["truncated"] > 0, (env_id, seen)

    # Invalid actions: a ValueError and nothing stepped.
    before = gpu.get_state()
    bad = np.full(num_envs, 99) if isinstance(cpu.single_action_space, gym.spaces.Discrete) \
        else np.full((num_envs, *cpu.single_action_space.shape), np.nan)
    for actions in (bad, np.zeros(num_envs + 1, dtype=np.int64)):
        try:
            gpu.step(actions)
        except ValueError:
            pass
        else:
            raise AssertionError(f"{env_id}: invalid actions {actions[:3]}... were accepted")
    after = gpu.get_state()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])
    print(f"{env_id}: {steps} steps x {num_envs} envs identical ({seen})")


def _main_parity(env_ids: list[str]) -> None:
    """Simulated GPU against CPU for each of `env_ids` (all registered rlp/ envs if empty)."""
    import time

    import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
    from rl_platform.envs import cuda as cuda_backend
    from rl_platform.envs.registration import ENV_FACTORIES

    assert cuda_backend.SIMULATOR, "run with NUMBA_ENABLE_CUDASIM=1"
    start = time.perf_counter()
    for env_id in env_ids or sorted(f"rlp/{name}" for name in ENV_FACTORIES):
        if env_id == "rlp/CartPole-v1":  # the reference env of the backend: more envs, longer
            _parity(env_id, num_envs=64, steps=200)
        else:
            _parity(env_id, num_envs=16, steps=45)
    print(f"PARITY OK in {time.perf_counter() - start:.1f} s")


def _kernel_signatures(env_def) -> tuple:
    """The `(reset_all, step_all)` argument types CudaVectorEnv launches the kernels of `env_def` with:
    its buffer layout (discrete observations as an (n, 1) int64 column, discrete actions int64,
    continuous ones float64), for a compilation that needs no GPU."""
    import gymnasium as gym
    import numba
    from numba import types

    n = 8
    discrete_obs = isinstance(env_def.observation_space, gym.spaces.Discrete)
    obs_row, obs_dtype = ((1,), np.int64) if discrete_obs else (env_def.obs_shape, env_def.observation_space.dtype)
    if isinstance(env_def.action_space, gym.spaces.Discrete):
        actions = np.zeros(n, np.int64)
    else:
        actions = np.zeros((n, *env_def.action_space.shape), np.float64)
    states, params = np.zeros((n, env_def.state_size)), np.zeros(len(env_def.params))
    rng, elapsed, obs = np.zeros(n, np.uint64), np.zeros(n, np.int64), np.zeros((n, *obs_row), obs_dtype)
    rewards, flags = np.zeros(n), np.zeros(n, np.bool_)
    typ = numba.typeof
    reset_types = types.void(*map(typ, (states, params, rng, elapsed, obs, flags)))
    step_types = types.void(*map(typ, (states, actions, params, rng, elapsed)), types.int64,
                            *map(typ, (obs, rewards, flags, flags, obs, flags)))
    return reset_types, step_types


def compile_ptx(env_ids: list[str]) -> None:
    """Compile the reset and step kernels of each of `env_ids` (all registered rlp/ envs if empty) to PTX
    with the real CUDA compiler, which rejects code the simulator runs (e.g. two-argument `min` / `max`).
    Prints "PTX OK", a skip line without libNVVM, or every env that failed with its error (exit code 1)."""
    from types import SimpleNamespace
    from unittest import mock

    from numba import cuda
    from numba.cuda.cudadrv.error import NvvmSupportError
    from numba.cuda.cudadrv.nvvm import NVVM

    import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
    from rl_platform.envs.cuda import kernel_functions
    from rl_platform.envs.registration import ENV_FACTORIES

    try:
        NVVM()  # loads libNVVM
    except (NvvmSupportError, OSError) as error:
        print(f"{SKIP_MARK}libNVVM not available: {error}")
        return
    # Device functions are compiled for the current device's compute capability: pretend there is one.
    mock.patch("numba.cuda.dispatcher.get_current_device",
               lambda: SimpleNamespace(compute_capability=(8, 0))).start()
    env_ids = env_ids or sorted(f"rlp/{name}" for name in ENV_FACTORIES)
    failures = []
    for env_id in env_ids:
        env_def = ENV_FACTORIES[env_id.removeprefix("rlp/")]()
        reset_all, step_all = kernel_functions(env_def)
        reset_types, step_types = _kernel_signatures(env_def)
        try:
            for kernel, signature in ((reset_all, reset_types), (step_all, step_types)):
                ptx, _ = cuda.compile_ptx(kernel, signature, cc=(8, 0))
                assert ".entry" in ptx, f"no kernel entry in the PTX of {kernel.__name__}"
        except Exception as error:  # report every env that fails, not only the first
            failures.append(f"{env_id}: {type(error).__name__}: {error}")
        else:
            print(f"{env_id}: reset_all and step_all compiled to PTX")
    if failures:
        print("PTX FAILED\n" + "\n".join(failures))
        sys.exit(1)
    print(f"PTX OK ({len(env_ids)} envs)")


if __name__ == "__main__":
    {"parity": _main_parity, "ptx": compile_ptx}[sys.argv[1]](sys.argv[2:])
