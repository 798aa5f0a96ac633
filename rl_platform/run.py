"""A training run: its directory, logger, progress, checkpoints, evaluation and signal handling.

Agents' `train(run)` loops call into this object for everything that is not the algorithm, so
every agent writes the same run directory and the same TensorBoard tags.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rl_platform.checkpoint import load_checkpoint, save_checkpoint
from rl_platform.config import ExperimentConfig, dump_yaml
from rl_platform.env_factory import make_vector_env
from rl_platform.errors import ConfigError, UserError
from rl_platform.logger import Progress, RunLogger
from rl_platform.nn.pretrained import initialize
from rl_platform.policy import Policy, reset_state
from rl_platform.rollout import VectorStepper
from rl_platform.run_dir import (
    BEST_CHECKPOINT_FILE,
    BUFFER_FILE,
    CHECKPOINT_FILE,
    METRICS_FILE,
    record_start,
)

Snapshot = Callable[[], dict[str, Any]]  # the checkpoint state of the policy just evaluated (for best.pt)


class TrainingInterrupted(Exception):
    """Raised after a checkpoint was written because SIGINT or SIGTERM arrived."""

    def __init__(self, signum: int, run_dir: Path) -> None:
        self.signum = signum
        self.run_dir = run_dir
        super().__init__(f"{signal.Signals(signum).name}: checkpoint saved in {run_dir}/checkpoints; "
                         f"continue with `rlp train --resume {run_dir}`")


def seed_for(seed: int, *stream: int) -> int:
    """A 32-bit seed for an independent random stream (`stream` names it, e.g. eval index)."""
    return int(np.random.SeedSequence([seed, *stream]).generate_state(1)[0])


def evaluate(policy: Policy, envs: gym.vector.VectorEnv, episodes: int, seed: int) -> np.ndarray:
    """Returns of `episodes` greedy episodes of `policy`, spread evenly over the envs (no short-episode bias)."""
    quota = np.full(envs.num_envs, episodes // envs.num_envs)
    quota[: episodes % envs.num_envs] += 1
    stepper = VectorStepper(envs, seed=seed)
    returns: list[float] = []
    done_count = np.zeros(envs.num_envs, dtype=np.int64)
    state = policy.initial_state(envs.num_envs)
    while (done_count < quota).any():
        state = reset_state(state, stepper.starts, policy.initial_state)
        with torch.no_grad():
            actions, state = policy.act(stepper.obs, state, explore=False)
        step = stepper.step(actions)
        ended = np.flatnonzero((step.terminations | step.truncations) & step.valid)
        for i, episode_return in zip(ended, step.episode_returns, strict=True):
            if done_count[i] < quota[i]:
                returns.append(float(episode_return))
            done_count[i] += 1
    return np.asarray(returns)


def make_eval_envs(cfg: ExperimentConfig, num_envs: int) -> gym.vector.VectorEnv:
    """`num_envs` envs for greedy evaluations of `cfg`'s policy: `train.eval_env` if set, else `env`."""
    eval_env = cfg.train.eval_env
    return make_vector_env(cfg.env if eval_env is None else eval_env.env_config(cfg.env, num_envs), num_envs)


def policy_fits(envs: gym.vector.VectorEnv, policy_envs: gym.vector.VectorEnv) -> bool:
    """Whether a policy trained on `policy_envs` can act in `envs`: the same action space, and observations of
    the same kind, shape and dtype. Float Box bounds may differ (a policy reads values, not bounds: CartPole-v1's
    expert acts in rlp/CartPoleFixed-v0, whose bounds are wider); integer ones may not (encoders scale pixels by
    them)."""
    if envs.single_action_space != policy_envs.single_action_space:
        return False
    theirs, ours = envs.single_observation_space, policy_envs.single_observation_space
    if isinstance(theirs, gym.spaces.Box) and isinstance(ours, gym.spaces.Box) \
            and np.issubdtype(theirs.dtype, np.floating):
        return theirs.shape == ours.shape and theirs.dtype == ours.dtype
    return theirs == ours


def check_eval_spaces(eval_envs: gym.vector.VectorEnv, envs: gym.vector.VectorEnv, cfg: ExperimentConfig) -> None:
    """A ConfigError naming `train.eval_env` if the policy of the training env cannot act in it (`policy_fits`)."""
    theirs = (eval_envs.single_observation_space, eval_envs.single_action_space)
    ours = (envs.single_observation_space, envs.single_action_space)
    if not policy_fits(eval_envs, envs):
        raise ConfigError("train.eval_env", f"'{cfg.train.eval_env.id}' has observation space {theirs[0]} and action "
                          f"space {theirs[1]}; the training env '{cfg.env.id}' has {ours[0]} and {ours[1]}: a policy "
                          "is evaluated in an env with its training env's spaces.")


class Run:
    """Everything a training loop needs besides its algorithm. Use as a context manager.

    `run_dir` must exist (see :mod:`rl_platform.run_dir`). A resumed run gets `resumed`, the state of its
    latest checkpoint; `overrides` and `changes` (of a resume) are recorded in its `run.json`.
    """

    def __init__(self, cfg: ExperimentConfig, run_dir: Path, quiet: bool = False,
                 resumed: dict[str, Any] | None = None, overrides: Sequence[str] = (),
                 changes: Mapping[str, list[Any]] | None = None) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.checkpoint_dir = run_dir / "checkpoints"
        self.resumed = resumed
        self.start_step = int(resumed["global_step"]) if resumed else 0
        dump_yaml(cfg, run_dir / "config.yaml")
        self.resumes = record_start(run_dir, overrides, self.start_step if resumed else None, changes)
        self.logger = RunLogger(run_dir, self.start_step)
        if resumed is None:
            self.logger.log_config(cfg.flat(), (run_dir / "config.yaml").read_text())
        self.progress = Progress(cfg.train.total_steps, quiet)
        self.last_eval: float | None = self.resumed.get("last_eval") if self.resumed else None
        self.last_eval_std = float("nan")
        self.last_eval_episodes = 0
        self._last_eval_step = -1
        self.best = self._resumed_best()
        self._stop_confirmed = False
        self.stop_signal: int | None = None
        self._previous_handlers: dict[int, Any] = {}
        self._sps_clock: tuple[float, int] | None = None
        self._next_log = self._next_multiple(self.start_step, cfg.log.log_every)
        self._next_eval = self._next_multiple(self.start_step, cfg.train.eval_every)
        self._next_checkpoint = self._next_multiple(self.start_step, cfg.train.checkpoint_every)
        self._eval_envs: gym.vector.VectorEnv | None = None
        self.num_evals = int(self.resumed.get("num_evals", 0)) if self.resumed else 0
        torch.set_num_threads(cfg.train.torch_threads)

    def _resumed_best(self) -> dict[str, Any] | None:
        """The best evaluation so far of a resumed run, from best.pt itself (it may be newer than latest.pt)."""
        path = self.checkpoint_dir / BEST_CHECKPOINT_FILE
        if self.resumed is None or not path.is_file():
            return None
        saved = load_checkpoint(path)
        return {key: saved[key] for key in ("mean_return", "std_return", "episodes", "global_step")}

    @staticmethod
    def _next_multiple(step: int, every: int) -> float:
        return float("inf") if every <= 0 else (step // every + 1) * every

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Run:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self.progress.close()
        self.logger.close()
        if self._eval_envs is not None:
            self._eval_envs.close()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.stop_signal is not None:  # second signal: stop now
            signal.signal(signum, self._previous_handlers.get(signum, signal.SIG_DFL))
            raise KeyboardInterrupt
        self.stop_signal = signum

    @property
    def env_seed(self) -> int:
        """Seed for the training envs; a resumed run starts its envs from a fresh stream."""
        return seed_for(self.cfg.seed, 0, self.start_step)

    def make_envs(self, num_envs: int | None = None) -> gym.vector.VectorEnv:
        """The training env (`num_envs` overriding env.num_envs). With `train.eval_env` the evaluation envs are
        made too, the first time, so that their spaces are checked against these before any training."""
        envs = make_vector_env(self.cfg.env, num_envs, training=True)
        if self.cfg.train.eval_env is not None and self._eval_envs is None:
            try:
                self._eval_envs = self._make_eval_envs()
                check_eval_spaces(self._eval_envs, envs, self.cfg)
            except BaseException:
                envs.close()
                raise
        return envs

    def _make_eval_envs(self) -> gym.vector.VectorEnv:
        return make_eval_envs(self.cfg, min(self.cfg.train.eval_episodes, 32))

    def init_model(self, model: torch.nn.Module) -> None:
        """Load `model.init_from` weights into `model` (a fresh run only: a resumed one has its own) and freeze
        `model.freeze`; says what it loaded."""
        model_cfg = self.cfg.model
        fresh = self.resumed is None
        report = initialize(model, model_cfg.init_from if fresh else None, model_cfg.init_modules if fresh else (),
                            model_cfg.freeze)
        if report["source"] is not None:
            self.progress.message(f"model.init_from: {len(report['loaded'])} tensors loaded from {report['source']}")
        if report["frozen"]:
            self.progress.message(f"model.freeze: {len(report['frozen'])} parameters fixed "
                                  f"({', '.join(model_cfg.freeze)})")

    @property
    def device(self) -> torch.device:
        wanted = self.cfg.train.device
        if wanted == "auto":
            wanted = "cuda" if torch.cuda.is_available() else "cpu"
        if wanted == "cuda" and not torch.cuda.is_available():
            raise UserError("train.device is 'cuda' but torch sees no CUDA device.")
        return torch.device(wanted)

    # -- per-step hooks ----------------------------------------------------------------------
    def record(self, step: int, episode_returns: np.ndarray, episode_lengths: np.ndarray,
               losses: Mapping[str, float] | Callable[[], Mapping[str, float]]) -> None:
        """Log episodes and (every `log.log_every` steps) SPS and losses (a mapping, or a function called only
        then); update the progress line."""
        if len(episode_returns):
            self.logger.add_episodes(episode_returns, episode_lengths)
        if step >= self._next_log:
            self._next_log = self._next_multiple(step, self.cfg.log.log_every)
            self.logger.write_scalars(step, self.sps(step), losses() if callable(losses) else losses)
        elif len(episode_returns) and not self.logger.episodes_written:
            self.logger.write_episodes(step)  # the first finished episodes show at once, however short the run
        self.progress.update(step, self.sps(step), self.logger.last_return, self.last_eval)

    def sps(self, step: int) -> float:
        """Environment steps per second since the first recorded step (set-up time excluded)."""
        if self._sps_clock is None:
            self._sps_clock = (time.perf_counter(), step)
        start_time, start_step = self._sps_clock
        return (step - start_step) / max(time.perf_counter() - start_time, 1e-9)

    def steps_until_due(self, step: int) -> int:
        """Env steps from `step` to the next log write, evaluation or checkpoint (at least 1), for agents
        that run many steps per call."""
        return max(int(min(self._next_log, self._next_eval, self._next_checkpoint, self.cfg.train.total_steps)) - step,
                   1)

    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Extra TensorBoard scalars under the given tags (e.g. `eval/exact_return`)."""
        for tag, value in scalars.items():
            self.logger.write_scalar(tag, value, step)

    def eval_due(self, step: int) -> bool:
        return step >= self._next_eval

    def evaluate(self, policy: Policy, step: int, snapshot: Snapshot) -> float:
        """Greedy evaluation over `train.eval_episodes` episodes, logged as eval/mean_return.

        One that reaches `train.stop_return` is confirmed on `train.stop_confirm_episodes` fresh episodes
        (eval/confirmed_return) before :meth:`reached_stop_return` says stop; the confirmation, over more
        episodes, is then this step's result. A result above every earlier one writes `checkpoints/best.pt`
        from `snapshot()`."""
        self._next_eval = self._next_multiple(step, self.cfg.train.eval_every)
        self.num_evals += 1
        returns = self.evaluate_returns(policy, self.cfg.train.eval_episodes, seed_for(self.cfg.seed, 1,
                                                                                       self.num_evals))
        self.logger.write_eval(step, float(returns.mean()))
        target, confirm_episodes = self.cfg.train.stop_return, self.cfg.train.stop_confirm_episodes
        reached = target is not None and returns.mean() >= target
        if reached and confirm_episodes > 0:
            returns = self.evaluate_returns(policy, confirm_episodes, seed_for(self.cfg.seed, 5, self.num_evals))
            self.logger.write_scalar("eval/confirmed_return", float(returns.mean()), step)
            reached = returns.mean() >= target
            self.progress.message(f"step {step:,}: eval reached stop_return {target:g}; "
                                  f"{confirm_episodes} fresh episodes gave {returns.mean():.2f}: "
                                  + ("confirmed, stopping" if reached else "not confirmed, training goes on"))
        self._stop_confirmed = bool(reached)
        self.last_eval, self.last_eval_std = float(returns.mean()), float(returns.std())
        self.last_eval_episodes = len(returns)
        self._last_eval_step = step
        if self.best is None or self.last_eval > self.best["mean_return"]:
            self.best = {"mean_return": self.last_eval, "std_return": self.last_eval_std,
                         "episodes": self.last_eval_episodes, "global_step": step}
            save_checkpoint(self.checkpoint_dir / BEST_CHECKPOINT_FILE, {**snapshot(), **self.best})
        self.progress.update(step, self.sps(step), self.logger.last_return, self.last_eval, force=True)
        return self.last_eval

    def evaluate_returns(self, policy: Policy, episodes: int, seed: int) -> np.ndarray:
        if self._eval_envs is None:
            self._eval_envs = self._make_eval_envs()
        return evaluate(policy, self._eval_envs, episodes, seed)

    def reached_stop_return(self) -> bool:
        """Whether the latest evaluation reached `train.stop_return` (confirmed, see :meth:`evaluate`)."""
        return self._stop_confirmed

    def checkpoint_due(self, step: int) -> bool:
        return step >= self._next_checkpoint or self.stop_signal is not None

    def save(self, step: int, state: dict[str, Any], buffer_state: dict[str, Any] | None = None) -> None:
        """Checkpoint `state` (+ replay buffer); raise TrainingInterrupted if a signal is pending."""
        self._next_checkpoint = self._next_multiple(step, self.cfg.train.checkpoint_every)
        if buffer_state is not None and self.cfg.train.save_buffer:
            save_checkpoint(self.checkpoint_dir / BUFFER_FILE, {"global_step": step, **buffer_state})
        save_checkpoint(self.checkpoint_dir / CHECKPOINT_FILE, {
            **state, "global_step": step, "last_eval": self.last_eval, "num_evals": self.num_evals})
        self.logger.writer.flush()
        if self.stop_signal is not None:
            raise TrainingInterrupted(self.stop_signal, self.run_dir)

    def resumed_buffer(self) -> dict[str, Any] | None:
        """The replay buffer saved with the checkpoint we resumed from, if any (and consistent)."""
        path = self.checkpoint_dir / BUFFER_FILE
        if self.resumed is None or not path.is_file():
            return None
        state = load_checkpoint(path)
        if int(state.pop("global_step")) != self.start_step:
            self.progress.message("replay buffer file is from another step than the checkpoint; "
                                  "starting with an empty buffer")
            return None
        return state

    def finish(self, step: int, policy: Policy, snapshot: Snapshot,
               extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Final greedy evaluation (reusing one made at this step) and metrics.json: the final and the best
        evaluation (plus `extra` figures)."""
        if self._last_eval_step != step:
            self.evaluate(policy, step, snapshot)
        self.logger.write_episodes(step)
        eval_env = self.cfg.train.eval_env
        metrics = {"mean_return": self.last_eval, "std_return": self.last_eval_std, "global_step": step,
                   "eval_episodes": self.last_eval_episodes, "eval_env": (eval_env or self.cfg.env).id,
                   "reached_stop_return": self.reached_stop_return(), "best": self.best, **(extra or {})}
        if self.resumes:
            metrics["resumes"] = self.resumes
        (self.run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
        best = self.best or {}
        self.progress.message(f"done: {step:,} steps, eval mean return {self.last_eval:.2f} (best "
                              f"{best.get('mean_return', float('nan')):.2f} at step {best.get('global_step', 0):,}); "
                              f"run directory {self.run_dir}", always=True)
        return metrics
