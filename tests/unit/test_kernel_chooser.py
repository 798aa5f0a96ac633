"""NumbaVectorEnv's choice between its serial and threaded kernels: same results, the faster one kept."""

from __future__ import annotations

import time

import gymnasium as gym
import numba
import numpy as np
import pytest

import rl_platform.envs  # noqa: F401  (registers rlp/ envs)
from rl_platform.envs.vector import KernelChooser


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one core: no threaded kernel to choose")
@pytest.mark.parametrize("env_id", ["rlp/CartPole-v1", "rlp/MinAtar-Breakout-v1", "rlp/Taxi-v4"])
def test_default_threads_give_the_same_transitions_as_one_thread(env_id):
    chosen = gym.make_vec(env_id, num_envs=1024)
    single = gym.make_vec(env_id, num_envs=1024, num_threads=1)
    assert chosen.kernel_chooser is not None and single.kernel_chooser is None
    rng = np.random.default_rng(0)
    for envs in (chosen, single):
        envs.reset(seed=3)
    for _ in range(3 * KernelChooser.PERIOD // 2):  # through trials of both kernels
        actions = rng.integers(0, chosen.single_action_space.n, 1024)
        a = [np.array(x, copy=True) for x in chosen.step(actions)[:4]]
        b = single.step(actions)[:4]
        for left, right in zip(a, b, strict=True):
            np.testing.assert_array_equal(left, right)
    assert chosen.kernel_chooser.trials >= 2


def test_the_faster_kernel_is_kept_until_the_next_trial():
    calls = {"slow": 0, "fast": 0}

    def slow() -> None:
        calls["slow"] += 1
        time.sleep(0.02)

    def fast() -> None:
        calls["fast"] += 1

    for serial, parallel, wins in ((slow, fast, True), (fast, slow, False)):
        chooser = KernelChooser(serial, parallel)
        for _ in range(2 * KernelChooser.TRIAL):  # one trial: each kernel TRIAL times, interleaved
            chooser()
        assert chooser.use_parallel is wins and chooser.trials == 1
        calls.update(slow=0, fast=0)
        for _ in range(KernelChooser.PERIOD - 2 * KernelChooser.TRIAL):
            chooser()
        assert calls == {"slow": 0, "fast": KernelChooser.PERIOD - 2 * KernelChooser.TRIAL}
