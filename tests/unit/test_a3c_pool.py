"""How the A3C worker pool treats a dead worker (restart it, stop with a clear error, or leave it during a stop), and
the one-core-per-worker thread limits."""

from __future__ import annotations

import multiprocessing
import sys
from types import SimpleNamespace

import numba
import pytest
import threadpoolctl
import torch

from rl_platform.agents.a3c.hogwild import WorkerHandle, WorkerPool, use_one_core
from rl_platform.errors import TrainingFailed
from rl_platform.logger import Progress

CONTEXT = multiprocessing.get_context("fork")  # the dead "workers" below run nothing but sys.exit


def dead_worker(exitcode: int) -> WorkerHandle:
    process = CONTEXT.Process(target=sys.exit, args=(exitcode,))
    process.start()
    process.join()
    reader, writer = CONTEXT.Pipe(duplex=False)
    writer.close()  # as a dead worker's pipe: EOF
    return WorkerHandle(process, reader, incarnation=0)


def pool_with(worker: WorkerHandle, max_restarts: int, stopping: bool) -> WorkerPool:
    setup = SimpleNamespace(cfg=SimpleNamespace(agent=SimpleNamespace(max_restarts=max_restarts)),
                            stop_flag=torch.zeros(1, dtype=torch.int8).share_memory_())
    pool = WorkerPool(setup, num_workers=1, max_restarts=max_restarts, start_method="fork",
                      progress=Progress(1, quiet=True), stopping=lambda: stopping)
    pool.workers = [worker]
    return pool


def test_dead_worker_is_restarted_while_restarts_are_left():
    worker = dead_worker(3)
    pool = pool_with(worker, max_restarts=2, stopping=False)
    replacement = dead_worker(0)
    pool._spawn = lambda index, incarnation: replacement if (index, incarnation) == (0, 1) else None
    assert pool.poll(timeout=1.0) == []
    assert pool.workers == [replacement] and pool.restarts_left == 1


def test_dead_worker_without_restarts_left_stops_training():
    pool = pool_with(dead_worker(3), max_restarts=0, stopping=False)
    with pytest.raises(TrainingFailed, match=r"a3c worker 0 \(pid \d+\) exited with code 3, and no restarts"):
        pool.poll(timeout=1.0)


def test_dead_worker_is_left_alone_once_a_stop_signal_arrived():
    """Ctrl-C / SIGTERM reach the whole process group: a worker may die of it before the trainer's handler
    runs. That worker is not restarted (its forkserver may be gone too); the trainer checkpoints and stops."""
    worker = dead_worker(255)
    pool = pool_with(worker, max_restarts=2, stopping=True)
    pool._spawn = lambda index, incarnation: pytest.fail("restarted a worker during a stop")
    assert pool.poll(timeout=1.0) == []
    assert pool.workers == [worker] and pool.restarts_left == 2


def test_failed_restart_is_a_clear_error():
    pool = pool_with(dead_worker(1), max_restarts=2, stopping=False)

    def forkserver_gone(index: int, incarnation: int) -> WorkerHandle:
        raise EOFError("unexpected EOF")

    pool._spawn = forkserver_gone
    with pytest.raises(TrainingFailed, match="a3c worker 0 could not be restarted: EOFError: unexpected EOF"):
        pool.poll(timeout=1.0)


def loop_until_stopped(stop_flag: torch.Tensor) -> None:
    while not stop_flag[0]:  # as worker_main checks it, once per rollout
        pass


def test_stop_reaches_a_running_worker_after_another_was_killed():
    """Workers read the stop flag without a lock, so one killed mid-check (SIGKILL, SIGTERM) cannot leave a lock
    held that the trainer's stop would then wait on forever; the living worker sees the flag and exits by itself."""
    pool = pool_with(dead_worker(0), max_restarts=0, stopping=True)
    for index in range(2):
        process = CONTEXT.Process(target=loop_until_stopped, args=(pool.setup.stop_flag,))
        process.start()
        pool.workers[index:index + 1] = [WorkerHandle(process, CONTEXT.Pipe(duplex=False)[0], incarnation=0)]
    killed, running = (w.process for w in pool.workers)
    killed.kill()
    killed.join()
    pool.stop()
    assert killed.exitcode == -9 and running.exitcode == 0  # stopped by the flag, not terminated by stop()


def thread_counts_after_use_one_core(queue) -> None:
    use_one_core()
    blas = [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]
    queue.put((torch.get_num_threads(), numba.get_num_threads(), blas))


def test_forked_worker_gets_one_thread_in_torch_numba_and_numpy_blas():
    threads_before = torch.get_num_threads()
    torch.set_num_threads(2)  # as a trainer with train.torch_threads=2: a forked worker inherits its pools
    queue = CONTEXT.Queue()
    try:
        process = CONTEXT.Process(target=thread_counts_after_use_one_core, args=(queue,))
        process.start()
        torch_threads, numba_threads, blas_threads = queue.get(timeout=30)
        process.join()
    finally:
        torch.set_num_threads(threads_before)
    assert (torch_threads, numba_threads) == (1, 1)
    assert blas_threads and set(blas_threads) == {1}, blas_threads
