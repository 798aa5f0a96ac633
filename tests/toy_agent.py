"""A test-only agent whose policy gets worse on purpose, registered as 'toy_regress' by :func:`register`.

On `tests.user_envs:GoodEnv` (reward = the action, 10-step episodes) its policy plays action 1 (return 10)
until `agent.good_steps` env steps, then action 0 (return 0): every evaluation's return is known exactly,
whatever the seeds, so best and last checkpoints can be checked against hand-computed values. It counts its
updates (one per vector step) and can send itself a signal or fail at a given step, for the trainer's tests.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import numpy as np

from rl_platform.config import option
from rl_platform.errors import TrainingFailed
from rl_platform.policy import StatelessPolicy
from rl_platform.registry import AGENTS, AgentSpec
from rl_platform.run import Run
from rl_platform.trainer import Advance, TrainLoop, fit

ENV = "tests.user_envs:GoodEnv"


@dataclass
class ToyConfig:
    good_steps: int = option(1_000, "env steps during which the policy plays action 1", ge=0)
    signal_at: int = option(0, "send this process `signal` when this env step is reached (0: never)", ge=0)
    signal: str = option("SIGINT", "the signal to send", choices=("SIGINT", "SIGTERM"))
    fail_at: int = option(0, "raise TrainingFailed on the advance from this env step (0: never)", ge=0)


class ToyAgent(StatelessPolicy):
    def __init__(self, cfg: ToyConfig) -> None:
        self.cfg = cfg
        self.action = 1
        self.updates = 0

    def act(self, obs: np.ndarray, state: None = None, explore: bool = False) -> tuple[np.ndarray, None]:
        return np.full(len(obs), self.action, dtype=np.int64), None

    def state_dict(self) -> dict:
        return {"action": self.action, "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.action = int(state["action"])
        self.updates = int(state["updates"])


def make_agent(cfg, envs, device=None) -> ToyAgent:
    return ToyAgent(cfg.agent)


class ToyLoop(TrainLoop):
    """One vector step per `advance`; the policy switches from action 1 to 0 at `agent.good_steps`."""

    def __init__(self, run: Run) -> None:
        self.policy = self.agent = make_agent(run.cfg, None)
        self.envs = run.make_envs()
        self.obs, _ = self.envs.reset(seed=run.env_seed)

    def advance(self, step: int, max_steps: int) -> Advance:
        cfg = self.agent.cfg
        if cfg.fail_at and step == cfg.fail_at:
            raise TrainingFailed(f"toy failure at step {step}")
        self.agent.action = 1 if step < self.agent.cfg.good_steps else 0
        self.obs, *_ = self.envs.step(self.agent.act(self.obs, explore=True)[0])
        self.agent.updates += 1
        step += self.envs.num_envs
        if cfg.signal_at and step == cfg.signal_at:
            os.kill(os.getpid(), getattr(signal, cfg.signal))
        return Advance(step, stats={"updates": float(self.agent.updates)})

    def state_dict(self) -> dict:
        return {"agent": self.agent.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])

    def close(self) -> None:
        self.envs.close()


def train(run: Run) -> dict:
    return fit(run, ToyLoop(run))


def register() -> None:
    if "toy_regress" not in AGENTS.names():
        AGENTS.register("toy_regress", AgentSpec(name="toy_regress", config_cls=ToyConfig, train=train,
                                                 make_agent=make_agent, description="test-only: regresses"))
