"""One training loop for every agent.

An agent supplies a :class:`TrainLoop`: its data source and its update (`advance`), the policy to
evaluate, and its checkpoint state. :func:`fit` does what every agent shares: resume, progress and
TensorBoard records, periodic greedy evaluations, the confirmed stop at `train.stop_return`,
checkpoints (`latest.pt` on their cadence and on SIGINT / SIGTERM, `best.pt` through the evaluations),
the final evaluation and `metrics.json`.

    class MyLoop(TrainLoop):
        def __init__(self, run): ...                      # envs, agent, buffer
        def advance(self, step, max_steps): ...            # collect + update; -> Advance
        def state_dict(self): ...; def load_state_dict(self, state): ...

    def train(run): return fit(run, MyLoop(run))
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rl_platform.errors import TrainingFailed
from rl_platform.policy import Policy
from rl_platform.run import Run

Stats = Mapping[str, float] | Callable[[], Mapping[str, float]]


def _no_returns() -> np.ndarray:
    return np.zeros(0)


def _no_lengths() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass
class Advance:
    """What one call of :meth:`TrainLoop.advance` did: the env step count it reached (all envs and workers
    together), the episodes that finished, and the statistics to log (a mapping, or a function the trainer
    calls only when a log write is due)."""

    global_step: int
    episode_returns: np.ndarray = field(default_factory=_no_returns)
    episode_lengths: np.ndarray = field(default_factory=_no_lengths)
    stats: Stats = field(default_factory=dict)


class TrainLoop(ABC):
    """An agent's side of training. Only `advance`, `state_dict` and `load_state_dict` are required; the other
    hooks default to nothing, for agents that run in one process."""

    policy: Policy  # what the evaluations act with (greedy)

    @abstractmethod
    def advance(self, step: int, max_steps: int) -> Advance | None:
        """Collect data and update from env step `step`, for at most about `max_steps` env steps (the next log
        write, evaluation or checkpoint is due then); None if nothing happened yet (e.g. workers starting)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """What `checkpoints/latest.pt` holds to resume: `{"agent": ..., "model": <policy network state>}`."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from a checkpoint written from :meth:`state_dict` (called before :meth:`start`)."""

    def snapshot(self) -> dict[str, Any]:
        """The state of the policy just evaluated, for `checkpoints/best.pt` (default: :meth:`state_dict`)."""
        return self.state_dict()

    def buffer_state(self) -> dict[str, Any] | None:
        """A replay buffer to checkpoint next to the state (`train.save_buffer`), if the agent has one."""
        return None

    def load_buffer_state(self, state: dict[str, Any]) -> None:  # noqa: B027 (an optional hook)
        """Restore the replay buffer saved with the checkpoint resumed from."""

    def start(self) -> None:  # noqa: B027 (an optional hook)
        """Start what runs in the background (worker processes), after any resume."""

    @property
    def done(self) -> bool:
        """True when the data source has nothing more to give (e.g. every worker finished its budget)."""
        return False

    def before_eval(self) -> None:  # noqa: B027 (an optional hook)
        """Prepare :attr:`policy` for an evaluation (e.g. copy parameters that other processes keep changing)."""

    def eval_scalars(self) -> dict[str, float]:
        """Extra TensorBoard scalars after each evaluation (tag -> value)."""
        return {}

    def interrupt(self) -> None:  # noqa: B027 (an optional hook)
        """A stop signal arrived or training failed: stop background work before the checkpoint."""

    def stop(self, solved_step: int | None) -> Advance | None:
        """Training ends (`solved_step`: the step whose evaluation reached `train.stop_return`, if any): stop
        background work and return what it reported last, at the step training ends at."""
        return None

    def final_metrics(self) -> dict[str, Any]:
        """Extra figures for `metrics.json`."""
        return {}

    def close(self) -> None:  # noqa: B027 (an optional hook)
        """Release envs, processes, clusters; called once, however training ended."""


def fit(run: Run, loop: TrainLoop) -> dict[str, Any]:
    """Train `loop` within `run` to `train.total_steps` or a confirmed `train.stop_return`; returns the metrics."""
    total = run.cfg.train.total_steps
    step = run.start_step
    try:
        if run.resumed is not None:
            loop.load_state_dict(run.resumed)
            buffer = run.resumed_buffer()
            if buffer is not None:
                loop.load_buffer_state(buffer)
        loop.start()
        solved_step: int | None = None
        try:
            while step < total and not loop.done:
                advance = loop.advance(step, min(run.steps_until_due(step), total - step))
                if advance is not None:
                    step = advance.global_step
                    run.record(step, advance.episode_returns, advance.episode_lengths, advance.stats)
                    if run.eval_due(step):
                        loop.before_eval()
                        run.evaluate(loop.policy, step, loop.snapshot)
                        run.log_scalars(step, loop.eval_scalars())
                        if run.reached_stop_return():
                            solved_step = step
                            break
                if run.checkpoint_due(step):
                    if run.stop_signal is not None:
                        loop.interrupt()
                    run.save(step, loop.state_dict(), loop.buffer_state())
            last = loop.stop(solved_step)
        except TrainingFailed as failure:
            loop.interrupt()
            run.save(step, loop.state_dict(), loop.buffer_state())
            raise TrainingFailed(f"{failure}\nCheckpoint saved in {run.checkpoint_dir}; continue with "
                                 f"`rlp train --resume {run.run_dir}`.") from None
        if last is not None:
            step = last.global_step
            run.record(step, last.episode_returns, last.episode_lengths, last.stats)
        metrics = run.finish(step, loop.policy, loop.snapshot, loop.final_metrics())
        run.save(step, loop.state_dict(), loop.buffer_state())
        return metrics
    finally:
        loop.close()
