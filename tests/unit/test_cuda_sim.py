"""The CUDA backend (envs/cuda.py) without a GPU, plus zero-copy checks that run where there is one.

The Numba CUDA simulator must be switched on before Numba is first imported, so the simulator checks
run this file as a script in a subprocess with `NUMBA_ENABLE_CUDASIM=1`:

- `parity`: CudaVectorEnv and the CPU NumbaVectorEnv, same seed and same random actions, give
  identical observations, rewards, terminations, truncations, final observations (autoresets by
  termination and by truncation) and end states; bad actions raise and leave the state untouched.
- `ptx`: the real (non-simulated) CUDA compiler turns the kernels into PTX; needs libNVVM but no GPU
  (skipped without it).

`test_zero_copy_on_a_real_gpu` runs in-process and only where PyTorch and Numba both see a GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SKIP_MARK = "SKIP: "


def _run_self(mode: str, simulator: bool, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), mode], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_cuda_env_matches_cpu_env_under_the_simulator():
    result = _run_self("parity", simulator=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PARITY OK" in result.stdout, result.stdout


def test_cuda_kernels_compile_to_ptx_without_a_gpu():
    result = _run_self("ptx", simulator=False)
    if result.stdout.startswith(SKIP_MARK):
        pytest.skip(result.stdout.strip()[len(SKIP_MARK):])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PTX OK" in result.stdout, result.stdout


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


def _main_parity() -> None:
    import time

    import gymnasium as gym

    import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
    from rl_platform.envs import cuda as cuda_backend

    assert cuda_backend.SIMULATOR, "run with NUMBA_ENABLE_CUDASIM=1"
    start = time.perf_counter()
    _parity("rlp/CartPole-v1", num_envs=64, steps=200)
    # Other built-in envs (written by other modules; checked when registered), fewer steps.
    for env_id in sorted(k for k in gym.registry if k.startswith("rlp/") and k != "rlp/CartPole-v1"):
        _parity(env_id, num_envs=16, steps=45)
    print(f"PARITY OK in {time.perf_counter() - start:.1f} s")


def _main_ptx() -> None:
    from types import SimpleNamespace
    from unittest import mock

    import numba
    from numba import cuda, types

    import rl_platform.envs  # noqa: F401
    from rl_platform.envs.classic_control.cartpole import CARTPOLE
    from rl_platform.envs.cuda import kernel_functions

    # Device functions are compiled for the current device's compute capability: pretend there is one.
    mock.patch("numba.cuda.dispatcher.get_current_device",
               lambda: SimpleNamespace(compute_capability=(8, 0))).start()
    n = 8
    states, params = np.zeros((n, 4)), np.zeros(8)
    rng, elapsed = np.zeros(n, np.uint64), np.zeros(n, np.int64)
    obs, flags, actions, rewards = np.zeros((n, 4), np.float32), np.zeros(n, bool), np.zeros(n, np.int64), np.zeros(n)
    typ = numba.typeof
    reset_all, step_all = kernel_functions(CARTPOLE)
    try:
        cuda.compile_ptx(reset_all, types.void(typ(states), typ(params), typ(rng), typ(elapsed), typ(obs),
                                               typ(flags)), cc=(8, 0))
    except Exception as error:  # no libNVVM on this machine
        if "NVVM" in str(error) or "nvvm" in str(error):
            print(f"{SKIP_MARK}libNVVM not available: {error}")
            return
        raise
    ptx, _ = cuda.compile_ptx(step_all, types.void(
        typ(states), typ(actions), typ(params), typ(rng), typ(elapsed), types.int64, typ(obs), typ(rewards),
        typ(flags), typ(flags), typ(obs), typ(flags)), cc=(8, 0))
    assert ".entry" in ptx
    print("PTX OK")


if __name__ == "__main__":
    {"parity": _main_parity, "ptx": _main_ptx}[sys.argv[1]]()
