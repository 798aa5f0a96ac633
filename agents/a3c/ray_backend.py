"""A3C on a Ray cluster (or a local Ray instance): workers are Ray actors, the driver is the parameter server.

The driver holds the global model and the optimizer (with its RMSProp/Adam statistics). Each actor
runs its own vector env and local copy of the model: it receives the current weights through the
Ray object store, collects one rollout, computes the gradients and returns them (with its finished
episodes and losses). The driver applies each actor's gradients as they arrive, puts the new weights
into the object store and sends that actor its next call, so every actor always has one call in
flight and none waits for another (asynchronous, like A3C: a gradient may be a few updates stale).
The core trainer (:func:`rl_platform.trainer.fit`) logs, evaluates and checkpoints, as for every agent.

An actor that dies (its process killed, its node lost) is noticed when its call fails and is
replaced by a new actor with a fresh seed, up to `agent.max_restarts` times in all; after that, or
when an actor raises an error, training stops with a checkpoint and a `TrainingFailed` error.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rl_platform.agents.a3c.a3c import A3CAgent, build_model, make_agent
from rl_platform.agents.a3c.hogwild import THREAD_VARIABLES, use_one_core
from rl_platform.config import ExperimentConfig
from rl_platform.env_factory import make_vector_env
from rl_platform.errors import ConfigError, TrainingFailed
from rl_platform.logger import Progress
from rl_platform.nn import ActorCritic
from rl_platform.nn.pretrained import initialize
from rl_platform.rollout import RolloutCollector
from rl_platform.run import Run, seed_for
from rl_platform.trainer import Advance, TrainLoop, fit

POLL_TIMEOUT_S = 0.5  # longest wait for a result before the loop looks at signals again

Weights = list[np.ndarray]


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("agent.backend", "'ray' needs Ray installed: pip install 'rl_platform[ray]'.") from None
    return ray


def get_weights(model: ActorCritic) -> Weights:
    return [p.detach().numpy() for p in model.parameters()]


def set_weights(model: ActorCritic, weights: Weights) -> None:
    with torch.no_grad():  # torch.tensor copies: arrays from the object store are read-only
        torch._foreach_copy_(list(model.parameters()), [torch.tensor(w) for w in weights])


@dataclass
class Result:
    """One actor call: the gradients of one rollout and what the driver logs."""

    gradients: list[np.ndarray | None]  # None for frozen parameters
    stats: dict[str, float]
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    num_steps: int


class RolloutWorker:
    """A Ray actor (wrapped by `ray.remote` in `ActorPool`): vector env + local model; returns gradients."""

    def __init__(self, cfg: ExperimentConfig, index: int, incarnation: int, start_step: int) -> None:
        with contextlib.suppress(ValueError):  # Ctrl-C is for the driver, which stops the actors
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        use_one_core()
        torch.manual_seed(seed_for(cfg.seed, 4, start_step, index, incarnation))
        self.envs = make_vector_env(cfg.env, training=True)
        model = build_model(cfg.agent, cfg.model, self.envs.single_observation_space, self.envs.single_action_space)
        initialize(model, None, (), cfg.model.freeze)  # no gradients for frozen parameters
        self.agent = A3CAgent(cfg.agent, model)
        self.collector = RolloutCollector(self.envs, cfg.agent.n_steps,
                                          seed_for(cfg.seed, 0, start_step, index, incarnation))

    def compute(self, weights: Weights) -> Result:
        set_weights(self.agent.model, weights)
        rollout = self.collector.collect(self.agent)
        stats = self.agent.compute_gradients(rollout)
        gradients = [None if g is None else g.numpy() for g in self.agent.gradients()]
        return Result(gradients, stats, rollout.episode_returns, rollout.episode_lengths, int(rollout.rewards.size))


class ActorPool:
    """Starts, calls, watches, restarts and kills the actors; one `compute` call in flight per actor."""

    def __init__(self, ray: Any, cfg: ExperimentConfig, start_step: int, progress: Progress) -> None:
        self.ray = ray
        self.cfg = cfg
        self.start_step = start_step
        self.progress = progress
        self.remote_cls = ray.remote(num_cpus=1, max_restarts=0)(RolloutWorker)
        self.runtime_env = {"env_vars": dict.fromkeys(THREAD_VARIABLES, "1")}
        self.restarts_left = cfg.agent.max_restarts
        self.actors: list[Any] = []
        self.incarnations: list[int] = []
        self.in_flight: dict[Any, int] = {}  # ObjectRef of a pending call -> actor index
        self.weights: Any = None  # ObjectRef of the latest weights

    def start(self, weights: Any) -> None:
        for index in range(self.cfg.agent.num_workers):
            self.actors.append(self._spawn(index, 0))
            self.incarnations.append(0)
            self.dispatch(index, weights)

    def _spawn(self, index: int, incarnation: int) -> Any:
        return self.remote_cls.options(runtime_env=self.runtime_env).remote(self.cfg, index, incarnation,
                                                                             self.start_step)

    def dispatch(self, index: int, weights: Any) -> None:
        """Call actor `index` on `weights`, an ObjectRef of the driver's latest weights."""
        self.weights = weights
        self.in_flight[self.actors[index].compute.remote(weights)] = index

    def next_result(self, timeout: float) -> tuple[int, Result] | None:
        """The next finished call (actor index, result), or None after `timeout` seconds or a restart."""
        ready, _ = self.ray.wait(list(self.in_flight), num_returns=1, timeout=timeout)
        if not ready:
            return None
        index = self.in_flight.pop(ready[0])
        try:
            return index, self.ray.get(ready[0], timeout=timeout)
        except (self.ray.exceptions.RayActorError, self.ray.exceptions.ObjectLostError) as error:
            if getattr(error, "actor_init_failed", False):
                raise TrainingFailed(f"a3c actor {index} failed to start:\n{error}") from None
            self._replace(index, error)
        except self.ray.exceptions.RayTaskError as error:
            raise TrainingFailed(f"a3c actor {index} raised an error:\n{error}") from None
        return None

    def _replace(self, index: int, error: Exception) -> None:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if self.restarts_left <= 0:
            raise TrainingFailed(f"a3c actor {index} died ({reason}), and no restarts are left "
                                 f"(agent.max_restarts={self.cfg.agent.max_restarts}).")
        self.restarts_left -= 1
        self.progress.message(f"a3c actor {index} died ({reason}); restarting it ({self.restarts_left} restarts left)")
        self._kill(self.actors[index])
        self.incarnations[index] += 1
        self.actors[index] = self._spawn(index, self.incarnations[index])
        self.dispatch(index, self.weights)

    def _kill(self, actor: Any) -> None:
        with contextlib.suppress(Exception):  # already dead, or Ray itself is gone
            self.ray.kill(actor, no_restart=True)

    def stop(self) -> None:
        for actor in self.actors:
            self._kill(actor)
        self.actors, self.in_flight = [], {}


def init_ray(ray: Any, cfg: ExperimentConfig) -> bool:
    """Connect to `agent.ray_address`, or start a quiet local instance; True if this call started Ray."""
    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    if cfg.agent.ray_address:
        try:
            ray.init(address=cfg.agent.ray_address, ignore_reinit_error=True, **quiet)
        except ConnectionError as exc:
            message = f"cannot connect to Ray at '{cfg.agent.ray_address}': {exc}"
            raise ConfigError("agent.ray_address", message) from None
        return False
    # "local": a new instance even if RAY_ADDRESS or an earlier `ray start` points to a cluster
    ray.init(address="local", num_cpus=cfg.agent.ray_num_cpus, include_dashboard=False, ignore_reinit_error=True,
             **quiet)
    return True


class RayLoop(TrainLoop):
    """A3C with Ray actors: `advance` applies the next actor's gradients and sends it the new weights."""

    def __init__(self, run: Run) -> None:
        self.cfg, self.run = run.cfg, run
        self.ray = import_ray()
        probe = run.make_envs(1)
        try:
            self.policy = self.agent = make_agent(run.cfg, probe, run.device)
        finally:
            probe.close()
        run.init_model(self.agent.model)
        self.started_ray = False
        self.pool: ActorPool | None = None
        self.stats: dict[str, float] = {}

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])

    def state_dict(self) -> dict:
        return {"agent": self.agent.state_dict(), "model": self.agent.model.state_dict()}

    def start(self) -> None:
        ray, cfg = self.ray, self.cfg
        self.started_ray = init_ray(ray, cfg)
        self.pool = ActorPool(ray, cfg, self.run.start_step, self.run.progress)
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < cfg.agent.num_workers:
            self.run.progress.message(f"a3c: the Ray cluster has {cpus:g} CPUs for {cfg.agent.num_workers} actors "
                                      "of 1 CPU each; the rest wait for a free CPU")
        self.pool.start(ray.put(get_weights(self.agent.model)))
        self.run.progress.message(f"a3c: {cfg.agent.num_workers} Ray actors started")

    def advance(self, step: int, max_steps: int) -> Advance | None:
        done = self.pool.next_result(timeout=POLL_TIMEOUT_S)
        if done is None:
            return None
        index, result = done
        self.agent.set_lr_for(step, self.cfg.train.total_steps)
        self.agent.apply_gradients([None if g is None else torch.tensor(g) for g in result.gradients])
        if self.run.stop_signal is None:  # stopping: no new calls
            self.pool.dispatch(index, self.ray.put(get_weights(self.agent.model)))
        self.stats = result.stats or self.stats
        return Advance(step + result.num_steps, result.episode_returns, result.episode_lengths,
                       {**self.stats, "charts/learning_rate": self.agent.lr})

    def interrupt(self) -> None:
        self.pool.stop()

    def stop(self, solved_step: int | None) -> None:
        self.pool.stop()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.stop()
        if self.started_ray:
            self.ray.shutdown()


def train_ray(run: Run) -> dict:
    return fit(run, RayLoop(run))
