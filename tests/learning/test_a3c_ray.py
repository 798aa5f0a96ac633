"""A3C with `agent.backend=ray`: Ray actors compute gradients, the driver applies them.

The learning test starts its own local Ray instance (2 CPUs) the way `rlp train` does and checks
that the driver shuts it down again. The fault tests share one local instance: they kill an actor
from the driver (as `ray.kill` or a lost node would), make an actor's env raise, and send SIGTERM.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from rl_platform import experiment
from rl_platform.checkpoint import load_checkpoint
from rl_platform.errors import TrainingFailed
from rl_platform.run import CHECKPOINT_FILE, TrainingInterrupted
from tests.conftest import CONFIGS
from tests.user_envs import GoodEnv

ray = pytest.importorskip("ray")
ray_backend = pytest.importorskip("rl_platform.agents.a3c.ray_backend")

RAY = ["agent.backend=ray", "agent.ray_num_cpus=2", "agent.num_workers=2"]
# 8 envs per actor (the config has 64): the fault tests act after a number of actor calls, well within 6000 steps.
SHORT = [*RAY, "env.num_envs=8", "train.total_steps=6000", "train.eval_every=0", "train.eval_episodes=2",
         "train.stop_return=null"]


class ExplodingEnv(GoodEnv):
    """GoodEnv whose `step` raises after `fail_after` steps: an ordinary error inside a Ray actor."""

    def __init__(self, fail_after: int = 100) -> None:
        super().__init__()
        self.fail_after = fail_after
        self.steps = 0

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.steps += 1
        if self.steps > self.fail_after:
            raise RuntimeError("env exploded")
        return super().step(action)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the fault tests (train_ray uses it and leaves it running)."""
    cfg = experiment.load_experiment(CONFIGS / "a3c_cartpole.yaml", RAY)
    started = ray_backend.init_ray(ray, cfg)
    yield
    if started:
        ray.shutdown()


def patch_pool(monkeypatch, after: int, action) -> list[tuple[int, int]]:
    """Run `action(pool)` once, right after the driver's `after`-th actor call; returns the (index, incarnation)
    of every actor started."""
    spawned: list[tuple[int, int]] = []
    calls = 0
    dispatch, spawn = ray_backend.ActorPool.dispatch, ray_backend.ActorPool._spawn

    def counting_dispatch(self, index: int, weights: Any) -> None:
        nonlocal calls
        dispatch(self, index, weights)
        calls += 1
        if calls == after:
            action(self)

    def recording_spawn(self, index: int, incarnation: int) -> Any:
        spawned.append((index, incarnation))
        return spawn(self, index, incarnation)

    monkeypatch.setattr(ray_backend.ActorPool, "dispatch", counting_dispatch)
    monkeypatch.setattr(ray_backend.ActorPool, "_spawn", recording_spawn)
    return spawned


def kill_first_actor(pool) -> None:
    ray.kill(pool.actors[0])


def train(path: Path, *overrides: str, resume: bool = False) -> dict:
    cfg = experiment.load_experiment(CONFIGS / "a3c_cartpole.yaml", list(overrides))
    return experiment.train(cfg, path, quiet=True, resume=resume)


def test_ray_a3c_learns_cartpole(tmp_path):
    """Greedy return >= 400 (20 episodes) within the config's 500k steps; usually after 10k-40k steps (~7 s).

    Not the config's 475: the greedy return swings between 200 and 500 for a while, so reaching 475 can take
    many more steps, and Ray's gradient exchange steps far slower than the torch workers on a 2-core machine.
    Measured with this config: 400 within 10k-160k steps in 30/30 runs. With a 150k or 300k budget (the
    learning rate annealed to 0 sooner) 3/24 and 1/36 runs stayed stuck near 150.
    """
    assert not ray.is_initialized()
    metrics = train(tmp_path / "run", *RAY, "train.stop_return=400")
    assert metrics["mean_return"] >= 400, metrics
    assert not ray.is_initialized()  # the instance train_ray started is shut down again
    # The checkpoint holds that model; on other episodes it scores lower (training stopped at a lucky evaluation).
    report = experiment.evaluate_run(tmp_path / "run", episodes=20)
    assert report["mean_return"] >= 300, (report, metrics)


def test_killed_actor_is_restarted(tmp_path, monkeypatch, local_ray):
    spawned = patch_pool(monkeypatch, after=30, action=kill_first_actor)
    metrics = train(tmp_path / "run", *SHORT, "agent.max_restarts=1")
    assert metrics["global_step"] >= 6000
    assert spawned == [(0, 0), (1, 0), (0, 1)]


def test_killed_actor_without_restarts_stops_with_checkpoint(tmp_path, monkeypatch, local_ray):
    patch_pool(monkeypatch, after=30, action=kill_first_actor)
    with pytest.raises(TrainingFailed, match=r"(?s)actor 0 died.*max_restarts=0.*rlp train --resume"):
        train(tmp_path / "run", *SHORT, "agent.max_restarts=0")
    assert (tmp_path / "run" / "checkpoints" / CHECKPOINT_FILE).is_file()


def test_actor_error_stops_training(tmp_path, local_ray):
    env = ["env.id=tests.learning.test_a3c_ray:ExplodingEnv", "env.num_envs=2"]
    with pytest.raises(TrainingFailed, match=r"(?s)actor \d raised an error.*env exploded.*rlp train --resume"):
        train(tmp_path / "run", *SHORT, *env)
    assert (tmp_path / "run" / "checkpoints" / CHECKPOINT_FILE).is_file()


def test_sigterm_checkpoints_then_resume_finishes(tmp_path, monkeypatch, local_ray):
    patch_pool(monkeypatch, after=30, action=lambda pool: os.kill(os.getpid(), signal.SIGTERM))
    with pytest.raises(TrainingInterrupted):
        train(tmp_path / "run", *SHORT)
    saved = load_checkpoint(tmp_path / "run" / "checkpoints" / CHECKPOINT_FILE)
    assert 0 < saved["global_step"] < 6000
    monkeypatch.undo()
    metrics = train(tmp_path / "run", *SHORT, resume=True)
    assert metrics["global_step"] >= 6000
