"""A3C on one machine: torch.multiprocessing workers update one shared-memory model lock-free (Hogwild).

Each worker process runs its own vector env and local copy of the model: collect a rollout,
compute gradients, apply them to the shared parameters with the shared optimizer, refresh the
local copy. The main process supervises: it receives episode returns and losses through one
pipe per worker, logs, evaluates the shared model and checkpoints it. A worker that dies (killed,
crashed) is detected at once through its process sentinel and restarted, up to `agent.max_restarts`
times in all; after that, or when a worker raises an error, training stops with a checkpoint and
a `TrainingFailed` error. Ctrl-C stops every worker, then checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing import forkserver
from multiprocessing.connection import Connection, wait
from typing import Any

import numba
import numpy as np
import threadpoolctl
import torch
import torch.multiprocessing as mp

from rl_platform.agents.a3c.a3c import A3CAgent, annealed_lr, build_model, build_optimizer, make_agent
from rl_platform.agents.a3c.shared_optim import SharedState
from rl_platform.config import ExperimentConfig
from rl_platform.env_factory import make_vector_env
from rl_platform.errors import TrainingFailed, UserError
from rl_platform.logger import Progress
from rl_platform.nn import ActorCritic
from rl_platform.nn.pretrained import initialize
from rl_platform.rollout import RolloutCollector
from rl_platform.run import Run, seed_for
from rl_platform.trainer import Advance, TrainLoop, fit

THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
WARMUP_ENV = "RLP_A3C_WARMUP_ENV"  # read by rl_platform.agents.a3c.warmup in the forkserver
REPORT_INTERVAL_S = 0.2  # how often a worker sends its finished episodes and latest losses
# How long the trainer waits for reports before it looks at the shared step counters again: with evaluations on,
# a due one (every train.eval_every steps, some 30 ms apart on CartPole) starts at most this late; without, the
# trainer wakes less often and leaves the cores to the workers (death is seen at once either way: sentinels).
POLL_INTERVAL_S = 0.005
IDLE_POLL_INTERVAL_S = 0.05
STOP_TIMEOUT_S = 5.0
# A worker killed by the same Ctrl-C / SIGTERM as this process (the whole process group gets it) can be seen
# dead before this process runs its own handler: wait this long for such a signal before restarting a worker.
SIGNAL_GRACE_S = 0.2


@dataclass
class WorkerSetup:
    """What every worker process gets (picklable, so `spawn` works as well as `fork`)."""

    cfg: ExperimentConfig
    shared_model: ActorCritic
    optimizer_state: SharedState
    step_counts: torch.Tensor  # shared int64, env steps done in worker slot i since start (restarts included)
    start_step: int
    # Shared int8, 1 = stop. Not a multiprocessing.Event: a worker killed inside `is_set()` would keep its lock
    # forever and the trainer's `set()` would hang; a plain shared flag is read without any lock.
    stop_flag: torch.Tensor
    # Builds a worker's agent in place of a plain A3CAgent (an agent with more to learn, e.g. GAIL's
    # discriminator): `extension.worker_agent(cfg, local_model, shared_model, optimizer, seed)`. Its rollouts then
    # keep env actions and next observations.
    extension: Any = None

    def global_step(self) -> int:
        return self.start_step + int(self.step_counts.sum())


@dataclass
class Report:
    worker: int
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    stats: dict[str, float]


def use_one_core() -> None:
    """One thread each for torch, Numba and NumPy's BLAS in this worker, so workers do not oversubscribe cores.

    A forked worker inherits the trainer's thread pools, set up before THREAD_VARIABLES could apply: with two
    workers on two cores, OpenBLAS threads in the NumPy actor's matmuls (from 128 envs) cut SPS three-fold.
    """
    if numba.config.NUMBA_NUM_THREADS > 1:
        numba.set_num_threads(1)  # first: starting Numba's threading layer may reset OpenMP's thread count
    threadpoolctl.threadpool_limits(limits=1)
    torch.set_num_threads(1)


def worker_main(index: int, incarnation: int, setup: WorkerSetup, conn: Connection) -> None:
    """Entry point of worker process `index` (restarted workers get a higher `incarnation`, a fresh seed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the main process decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker would inherit the trainer's handler
    use_one_core()
    try:
        cfg = setup.cfg
        torch.manual_seed(seed_for(cfg.seed, 4, setup.start_step, index, incarnation))
        envs = make_vector_env(cfg.env, training=True)
        local = build_model(cfg.agent, cfg.model, envs.single_observation_space, envs.single_action_space)
        initialize(local, None, (), cfg.model.freeze)  # no gradients for frozen parameters
        optimizer = build_optimizer(cfg.agent, setup.shared_model, setup.optimizer_state)
        if setup.extension is None:
            agent = A3CAgent(cfg.agent, local, setup.shared_model, optimizer)
        else:
            agent = setup.extension.worker_agent(cfg, local, setup.shared_model, optimizer,
                                                 seed_for(cfg.seed, 5, setup.start_step, index, incarnation))
        agent.pull()
        collector = RolloutCollector(envs, cfg.agent.n_steps, seed_for(cfg.seed, 0, setup.start_step, index,
                                                                       incarnation), setup.extension is not None)
        total = cfg.train.total_steps
        returns: list[np.ndarray] = []
        lengths: list[np.ndarray] = []
        stats: dict[str, float] = {}
        last_report = -math.inf  # the first update is reported at once: the trainer sees the worker running
        parent = mp.parent_process()
        while not setup.stop_flag[0] and (parent is None or parent.is_alive()):
            global_step = setup.global_step()
            if global_step >= total:
                break
            rollout = collector.collect(agent)
            agent.set_lr_for(global_step, total)
            stats = agent.update(rollout)
            setup.step_counts[index] += rollout.rewards.size
            returns.append(rollout.episode_returns)
            lengths.append(rollout.episode_lengths)
            if time.monotonic() - last_report >= REPORT_INTERVAL_S:
                conn.send(Report(index, np.concatenate(returns), np.concatenate(lengths), stats))
                returns, lengths, last_report = [], [], time.monotonic()
        conn.send(Report(index, np.concatenate(returns or [np.zeros(0)]),
                         np.concatenate(lengths or [np.zeros(0, np.int64)]), stats))
        conn.send("done")
        envs.close()
    except UserError as exc:  # e.g. the env broke its API: the message says it all
        conn.send(("error", str(exc)))
        raise SystemExit(1) from None
    except Exception:
        conn.send(("error", traceback.format_exc()))
        raise SystemExit(1) from None


@contextlib.contextmanager
def child_environment(**extra: str) -> Iterator[None]:
    """Processes started inside see THREAD_VARIABLES=1 (one core per worker)
    and the `extra` variables.

    (The thread variables are read when those libraries load, so they must be in the environment a
    worker, or the forkserver it forks from, starts with; this process's own settings are unaffected.)
    """
    wanted = {**dict.fromkeys(THREAD_VARIABLES, "1"), **extra}
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class WorkerHandle:
    process: Any
    reader: Connection
    incarnation: int
    done: bool = False


def describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"was killed by {signal.Signals(-exitcode).name}"
    return f"exited with code {exitcode}"


class WorkerPool:
    """Starts, watches, restarts and stops the worker processes."""

    def __init__(self, setup: WorkerSetup, num_workers: int, max_restarts: int, start_method: str,
                 progress: Progress, stopping: Callable[[], bool]) -> None:
        self.context = mp.get_context(start_method)
        self.stopping = stopping  # True once a stop signal arrived: dead workers are then not restarted
        self.setup = setup
        self.num_workers = num_workers
        self.restarts_left = max_restarts
        self.progress = progress
        self.workers: list[WorkerHandle] = []
        self.stopped = False

    def start(self) -> None:
        self.workers = [self._spawn(i, 0) for i in range(self.num_workers)]

    def _spawn(self, index: int, incarnation: int) -> WorkerHandle:
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(target=worker_main, args=(index, incarnation, self.setup, writer),
                                       name=f"a3c-worker-{index}", daemon=True)
        with child_environment():
            process.start()
        writer.close()  # the worker holds the only write end: its death reads as EOF here
        return WorkerHandle(process, reader, incarnation)

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers]

    @property
    def all_done(self) -> bool:
        return all(w.done for w in self.workers)

    def poll(self, timeout: float) -> list[Report]:
        """Reports that arrived within `timeout` seconds; restarts dead workers or raises TrainingFailed."""
        reports = self._read(timeout)
        for index, worker in enumerate(self.workers):
            if not worker.done and worker.process.exitcode is not None:
                self._replace(index, worker)
        return reports

    def _read(self, timeout: float) -> list[Report]:
        """The reports that arrive within `timeout` seconds (marking workers done); TrainingFailed on an error."""
        waiting = [w.reader for w in self.workers if not w.done] + [w.process.sentinel for w in self.workers]
        ready = set(wait(waiting, timeout))
        reports: list[Report] = []
        for index, worker in enumerate(self.workers):
            while worker.reader in ready and not worker.done and self._readable(worker.reader):
                message = self._receive(worker)
                if message is None:
                    break
                if isinstance(message, Report):
                    reports.append(message)
                elif message == "done":
                    worker.done = True
                else:
                    raise TrainingFailed(f"a3c worker {index} raised an error:\n{message[1].rstrip()}")
        return reports

    @staticmethod
    def _readable(reader: Connection) -> bool:
        try:
            return reader.poll()
        except (EOFError, OSError):
            return False

    @staticmethod
    def _receive(worker: WorkerHandle) -> Any:
        try:
            return worker.reader.recv()
        except (EOFError, OSError):
            return None

    def _replace(self, index: int, worker: WorkerHandle) -> None:
        worker.process.join()
        time.sleep(SIGNAL_GRACE_S)  # a pending stop signal runs its handler here
        if self.stopping():
            return  # stopping anyway; the caller checkpoints
        how = describe_exit(worker.process.exitcode)
        if self.restarts_left <= 0:
            raise TrainingFailed(f"a3c worker {index} (pid {worker.process.pid}) {how}, and no restarts are left "
                                 f"(agent.max_restarts={self.setup.cfg.agent.max_restarts}).")
        self.restarts_left -= 1
        self.progress.message(f"a3c worker {index} (pid {worker.process.pid}) {how}; restarting it "
                              f"({self.restarts_left} restarts left)")
        worker.reader.close()
        try:
            self.workers[index] = self._spawn(index, worker.incarnation + 1)
        except (EOFError, OSError) as exc:  # e.g. the forkserver is gone
            raise TrainingFailed(f"a3c worker {index} could not be restarted: {type(exc).__name__}: {exc}") from None

    def stop(self) -> list[Report]:
        """Ask every worker to stop and return their last reports; after STOP_TIMEOUT_S terminate the rest."""
        if self.stopped:
            return []
        self.stopped = True
        self.setup.stop_flag[0] = 1
        deadline = time.monotonic() + STOP_TIMEOUT_S
        reports: list[Report] = []
        with contextlib.suppress(TrainingFailed):  # stopping anyway: a worker's last error changes nothing
            while not all(w.done or w.process.exitcode is not None for w in self.workers) \
                    and time.monotonic() < deadline:
                reports += self._read(0.05)  # reading while they finish: a full pipe would block a worker's send
            reports += self._read(0.0)
        for worker in self.workers:
            worker.process.join(max(deadline - time.monotonic(), 0.0))
            if worker.process.exitcode is None:
                worker.process.kill()
                worker.process.join()
            worker.reader.close()
        return reports


def start_forkserver(cfg: ExperimentConfig) -> None:
    """With `forkserver`, start the server now: it imports torch and Numba and compiles the env (see `warmup.py`)
    while this process sets up, and every worker forks from it warm. No-op if it is running already."""
    if cfg.agent.start_method != "forkserver":
        return
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["rl_platform.agents.a3c.warmup"])
    with child_environment(**{WARMUP_ENV: json.dumps(dataclasses.asdict(cfg.env))}):
        forkserver.ensure_running()


def merge_reports(step: int, reports: list[Report], stats: dict[str, float], cfg: ExperimentConfig) -> Advance:
    """The workers' reports as one trainer record: their episodes, the latest losses and the learning rate."""
    for report in reports:
        stats = report.stats or stats
    returns = np.concatenate([r.episode_returns for r in reports] or [np.zeros(0)])
    lengths = np.concatenate([r.episode_lengths for r in reports] or [np.zeros(0, np.int64)])
    return Advance(step, returns, lengths, {**stats, "charts/learning_rate": annealed_lr(cfg.agent, step,
                                                                                        cfg.train.total_steps)})


class HogwildLoop(TrainLoop):
    """A3C: `agent.num_workers` processes, each with its own vector env, on one shared model and optimizer.
    `advance` waits for the workers' reports; evaluations run on a snapshot (the shared parameters keep changing)."""

    def __init__(self, run: Run, agent_factory: Callable[..., A3CAgent] = make_agent) -> None:
        """`agent_factory(cfg, envs, device)` builds the trainer's agent (the shared model's holder)."""
        self.cfg = cfg = run.cfg
        start_forkserver(cfg)
        probe = run.make_envs(1)
        try:
            self.agent = agent_factory(cfg, probe, run.device)
            probe.reset(seed=0)  # compiles a Numba env's kernels once, before the workers fork
            probe.step(probe.action_space.sample())
        finally:
            probe.close()
        run.init_model(self.agent.model)
        self.policy = self.evaluator = A3CAgent(cfg.agent, copy.deepcopy(self.agent.model))
        self.run = run
        self.pool: WorkerPool | None = None
        self.setup: WorkerSetup | None = None
        self.stats: dict[str, float] = {}
        self.started = False  # the SPS clock starts with the first report, after start-up
        self.poll_interval = POLL_INTERVAL_S if cfg.train.eval_every > 0 else IDLE_POLL_INTERVAL_S

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])

    def start(self) -> None:
        cfg, agent = self.cfg, self.agent
        self.evaluator.model.load_state_dict(agent.model.state_dict())
        agent.model.share_memory()
        optimizer = agent.optimizers["actor_critic"]
        optimizer.share_memory()
        step_counts = torch.zeros(cfg.agent.num_workers, dtype=torch.int64).share_memory_()
        self.setup = WorkerSetup(cfg, agent.model, optimizer.shared, step_counts, self.run.start_step,
                                 stop_flag=torch.zeros(1, dtype=torch.int8).share_memory_(),
                                 extension=self.worker_extension())
        self.pool = WorkerPool(self.setup, cfg.agent.num_workers, cfg.agent.max_restarts, cfg.agent.start_method,
                               self.run.progress, stopping=lambda: self.run.stop_signal is not None)
        self.pool.start()
        self.run.progress.message(f"a3c: {cfg.agent.num_workers} worker processes started (pids "
                                  f"{', '.join(map(str, self.pool.pids))})")

    def worker_extension(self) -> Any:
        """What `WorkerSetup.extension` gets (None: workers run plain A3C agents)."""
        return None

    def advance(self, step: int, max_steps: int) -> Advance | None:
        reports = self.pool.poll(timeout=self.poll_interval)
        self.started = self.started or bool(reports)
        if not self.started:
            return None
        advance = merge_reports(self.setup.global_step(), reports, self.stats, self.cfg)
        self.stats = advance.stats
        return advance

    @property
    def done(self) -> bool:
        return self.pool is not None and self.pool.all_done

    def before_eval(self) -> None:
        self.evaluator.model.load_state_dict(self.agent.model.state_dict())

    def snapshot(self) -> dict:  # the evaluated parameters, not the shared ones that keep changing
        return {"agent": self.evaluator.state_dict(), "model": self.evaluator.model.state_dict()}

    def state_dict(self) -> dict:
        return {"agent": self.agent.state_dict(), "model": self.agent.model.state_dict()}

    def interrupt(self) -> None:
        self.pool.stop()

    def stop(self, solved_step: int | None) -> Advance:
        """The workers' last reports (a run shorter than one report interval has all its episodes in them); a
        solved run keeps the parameters that reached train.stop_return."""
        last_reports = self.pool.stop()
        if solved_step is not None:
            self.agent.model.load_state_dict(self.evaluator.model.state_dict())
            step = solved_step
        else:
            step = self.setup.global_step()
            self.evaluator.model.load_state_dict(self.agent.model.state_dict())
        return merge_reports(step, last_reports, self.stats, self.cfg)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.stop()


def train_async(run: Run) -> dict:
    return fit(run, HogwildLoop(run))
